"""Fast-scan ADC: exact PQ top-k through 8-bit quantized lookup tables held in SIMD registers.

The kernels live in ``kernels/fastscan.c`` (compiled with the other native kernels). For K = 16
(4-bit codes) the 16-entry table of a sub-space fits one 128-bit register and a byte shuffle
(``pshufb``; ``vpshufb`` on 2 or 4 sub-spaces at once with AVX2 / AVX-512BW) looks up 16-64 codes
per instruction; for K = 256 (8-bit codes) four 512-bit registers hold a table and ``vpermt2b``
(AVX-512 VBMI) looks up 64 codes per pair of instructions.

Codes are re-laid out in blocks (:class:`FastScanCodes`): 32 items per block for 4-bit codes
(per sub-space 16 bytes, byte j = item j in the low nibble, item j + 16 in the high nibble), 64
items per block for 8-bit codes (per sub-space 64 bytes, byte j = item j).

Exactness: per query the float tables are quantized to ``q[m, c] = floor((t[m, c] - min_c t[m, c]) /
delta)`` with one step ``delta`` for all sub-spaces; the integer score ``Q(x) = sum_m q[m, x_m]``
brackets the float distance ``D(x)`` within ``M`` steps plus the float32 rounding bound, so every
item that can be in the exact top-k has ``Q(x) <= Q_k + slack`` (``Q_k``: k-th smallest score of
the live items). Those items form the short list and are re-scored with the float tables in the
reference order of :func:`distilhash.index.pq.adc_distances`, then ranked by (distance, row): the
results equal the plain float ADC top-k, ties included.

Kernel choice: the best one this CPU supports (``avx512`` > ``avx2`` > ``ssse3`` > ``scalar`` for
4-bit codes; ``avx512`` for 8-bit codes, where without it the float kernel is used), or the one
named by the ``impl`` argument or the ``DISTILHASH_FASTSCAN`` environment variable. The 8-bit
``avx512`` kernel unrolls its block loop for M = 4, 8, 16, keeps most of those tables in registers
and, over 256K items or more, sums saturating 8-bit scores with a per-query step that keeps them
exact below the threshold (``last_saturating`` tells which queries did); ``avx512-generic`` is the
previous kernel (a loop over a run-time M, 16-bit sums), kept selectable for benchmarks and tests.
"""

from __future__ import annotations

import os

import numpy as np

from distilhash.errors import ConfigError
from distilhash.index import native
from distilhash.index.native import dead_bytes, top_k_buffers

__all__ = ["IMPLS", "FastScanCodes", "supported_impls", "choose_impl"]

#: kernel name -> id in fastscan.c
IMPLS = {"scalar": 1, "ssse3": 2, "avx2": 3, "avx512": 4, "avx512-generic": 5}
_PREFERENCE = {4: ("avx512", "avx2", "ssse3", "scalar"), 8: ("avx512",)}
ENV = "DISTILHASH_FASTSCAN"


def _lib():
    return native.load()


def supported_impls(bits: int) -> list[str]:
    """Kernels this CPU runs for ``bits``-bit codes (``bits`` in 4, 8)."""
    lib = _lib()
    return [name for name, i in IMPLS.items() if lib.fs_supported(int(bits), i)]


def choose_impl(bits: int, impl: str | None = None) -> str | None:
    """The kernel to use: ``impl`` (or ``$DISTILHASH_FASTSCAN``) when given and not ``auto``, else
    the fastest supported one; None when fast scan should not be used (8-bit without AVX-512 VBMI)."""
    if impl in (None, "auto"):
        impl = os.environ.get(ENV) or "auto"
    if impl == "off":
        return None
    ok = supported_impls(bits)
    if impl != "auto":
        if impl not in IMPLS:
            raise ConfigError(f"fast-scan kernel {impl!r}; expected auto, off or one of {sorted(IMPLS)}")
        if impl not in ok:
            raise ConfigError(f"fast-scan kernel {impl!r} does not run on this CPU for {bits}-bit codes; supported: {ok}")
        return impl
    return next((name for name in _PREFERENCE[bits] if name in ok), None)


class FastScanCodes:
    """PQ codes in the blocked fast-scan layout (module docstring), growing by appends.

    Args:
        M: sub-spaces; bits: 4 (K = 16) or 8 (K = 256).
    """

    def __init__(self, M: int, bits: int) -> None:
        if bits not in (4, 8):
            raise ConfigError(f"fast scan needs 4- or 8-bit codes, got {bits}")
        if not 1 <= M <= 256:
            raise ConfigError(f"fast scan supports 1..256 sub-spaces, got M={M}")
        self.M, self.bits = int(M), int(bits)
        self.n = 0
        self._blocks = np.zeros(0, np.uint8)
        #: bool [nq] of the last knn call: True where the 8-bit scan used saturating 8-bit sums
        self.last_saturating = np.zeros(0, bool)

    def _layout_bytes(self, n: int) -> int:
        return int(_lib().fs_layout_bytes(self.bits, n, self.M))

    def add(self, codes: np.ndarray) -> None:
        """Append codes uint8 ``[a, M]`` (values < 2**bits)."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[1] != self.M:
            raise ConfigError(f"fast-scan codes must be uint8 [n, {self.M}], got {codes.shape}")
        a = codes.shape[0]
        if a == 0:
            return
        need = self._layout_bytes(self.n + a)
        if need > self._blocks.size:
            grown = np.zeros(max(need, 2 * self._blocks.size), np.uint8)
            grown[: self._blocks.size] = self._blocks
            self._blocks = grown
        _lib().fs_pack(self.bits, codes.ctypes.data, a, self.M, self._blocks.ctypes.data, self.n)
        self.n += a

    def nbytes(self) -> int:
        return self._layout_bytes(self.n)

    def codes(self) -> np.ndarray:
        """The codes back as uint8 ``[n, M]``."""
        out = np.empty((self.n, self.M), np.uint8)
        _lib().fs_unpack(self.bits, self._blocks.ctypes.data, self.n, self.M, out.ctypes.data)
        return out

    def knn(self, tables: np.ndarray, k: int, negate: bool, dead: np.ndarray | None = None, impl: str = "scalar"):
        """Exact top-k by (ADC distance, row). tables float32 ``[nq, M, 2**bits]``.

        Returns (dist float32 ``[nq, k']``, rows int64 ``[nq, k']``, count int64 ``[nq]``, short-list
        size int64 ``[nq]``) with ``k' = min(k, n)``; entries past ``count`` are undefined.
        """
        lib = _lib()
        tables = np.ascontiguousarray(tables, dtype=np.float32)
        nq = tables.shape[0]
        if tables.shape[1:] != (self.M, 1 << self.bits):
            raise ConfigError(f"fast-scan tables must be float32 [nq, {self.M}, {1 << self.bits}], got {tables.shape}")
        k = max(1, min(int(k), max(self.n, 1)))
        out_d, out_r, cnt = top_k_buffers(nq, k, np.float32)
        cand = np.zeros(nq, np.int64)
        sat = np.zeros(nq, np.int64)
        dead = dead_bytes(dead)
        if dead is not None:
            if dead.shape[0] < self.n:
                raise ConfigError(f"tombstone mask covers {dead.shape[0]} rows; the codes have {self.n}")
        rc = lib.fs_knn(self.bits, self._blocks.ctypes.data, self.n, self.M, tables.ctypes.data, nq, k, int(negate),
                        None if dead is None else dead.ctypes.data, IMPLS[impl], out_d.ctypes.data, out_r.ctypes.data,
                        cnt.ctypes.data, cand.ctypes.data, sat.ctypes.data)
        self.last_saturating = sat.astype(bool)
        if rc == -1:
            raise MemoryError("fast-scan short lists ran out of memory")
        if rc != 0:
            raise ConfigError(f"fast-scan kernel {impl!r} cannot run {self.bits}-bit codes with M={self.M} here")
        return out_d, out_r, cnt, cand
