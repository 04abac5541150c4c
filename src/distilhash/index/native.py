"""Native scan kernels (C, compiled on first use with the system compiler, loaded with ctypes).

Two exact top-k scans, blocked so that a block of codes (32 KB) stays in cache while every query
of the batch scans it:

* ``hamming_knn``: ``d = sum_w popcount(q_w XOR x_w)`` over uint64 words;
* ``pq_adc_knn``: ``d = T[0, x_0] + T[1, x_1] + ... + T[M-1, x_{M-1}]`` accumulated in float32
  in that order (the order of :func:`distilhash.index.pq.adc_distances`, so the distances are
  bit-identical to the numpy reference; negated for the ``ip`` metric).

Each query keeps a max-heap of its k best ``(distance, row)`` pairs; rows are scanned in
increasing order and a row replaces the heap top only when strictly closer, so among equal
distances the smaller rows win — the same (distance, row) order as every other searcher.

Threads: a scan runs on one thread unless :func:`set_scan_threads` (or ``$DISTILHASH_SCAN_THREADS``)
allows more; then a flat scan (Hamming, fast-scan ADC) reading at least 2 MiB of codes per thread
splits its rows into contiguous parts, one POSIX thread each with its own top-k, and merges them:
the result is the single-threaded one, ties included. One query over a large index is the case it
is for (one thread cannot read memory as fast as the cores together); a server already running a
process per core should keep 1.

The C sources ship as package data in ``distilhash/index/kernels/`` (``scan.c``: these scans and
MIH; ``fastscan.c``: the quantized-table ADC of :mod:`distilhash.index.fastscan`, with its AVX-512 kernels in
``fs4_avx512.h`` and ``fs8_avx512.h``; ``heap.h``, ``par.h``).
They are compiled together into one shared library cached under
``$XDG_CACHE_HOME/distilhash/native/kernels-<sha>.so`` (or ``$DISTILHASH_NATIVE_CACHE``), keyed by
the sources, the machine and the compiler flags. When no compiler is available :func:`load`
raises ImportError and the FAISS searchers are used instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from distilhash.errors import ConfigError
from distilhash.index.flip_masks import flip_masks
from distilhash.threads import env_threads

__all__ = ["load", "available", "hamming_knn", "pq_adc_knn", "pq_adc_knn_ranges", "MIHTables", "set_scan_threads",
           "scan_threads", "SCAN_THREADS_ENV"]

#: Environment variable: the most threads one scan may use (default 1).
SCAN_THREADS_ENV = "DISTILHASH_SCAN_THREADS"

_LIB: ctypes.CDLL | None = None
_ERROR: str | None = None


def _cache_dir() -> Path:
    env = os.environ.get("DISTILHASH_NATIVE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "distilhash" / "native"


KERNEL_DIR = Path(__file__).resolve().parent / "kernels"
_SOURCES = ("scan.c", "fastscan.c")
_HEADERS = ("heap.h", "par.h", "fs4_avx512.h", "fs8_avx512.h")
_FLAGS = ("-O3", "-fno-fast-math", "-fPIC", "-shared", "-pthread")
_NATIVE_FLAGS = ("-march=native",)  # dropped when the compiler refuses them


def _source_key() -> str:
    import platform

    h = hashlib.sha256()
    for name in (*_SOURCES, *_HEADERS):
        path = KERNEL_DIR / name
        if not path.is_file():
            raise ImportError(f"native kernel source {path} is missing (package data not installed?)")
        h.update(name.encode() + b"\0" + path.read_bytes())
    h.update(" ".join((*_FLAGS, *_NATIVE_FLAGS, platform.machine(), platform.node())).encode())
    return h.hexdigest()[:16]


def _compile(target: Path) -> None:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise ImportError("no C compiler found (cc/gcc/clang); native kernels unavailable")
    target.parent.mkdir(parents=True, exist_ok=True)
    sources = [str(KERNEL_DIR / name) for name in _SOURCES]
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / "kernels.so"
        base = [*_FLAGS, f"-I{KERNEL_DIR}"]
        res = subprocess.run([cc, *base, *_NATIVE_FLAGS, *sources, "-o", str(out), "-lm"], capture_output=True, text=True)
        if res.returncode != 0:
            res = subprocess.run([cc, *base, *sources, "-o", str(out), "-lm"], capture_output=True, text=True)
        if res.returncode != 0:
            raise ImportError(f"compiling native kernels failed: {res.stderr.strip()[:500]}")
        os.replace(out, target)


def load() -> ctypes.CDLL:
    """The compiled kernels (compiling them on first use); ImportError when impossible."""
    global _LIB, _ERROR
    if _LIB is not None:
        return _LIB
    if _ERROR is not None:
        raise ImportError(_ERROR)
    if os.environ.get("DISTILHASH_NO_NATIVE"):
        _ERROR = "native kernels disabled by DISTILHASH_NO_NATIVE"
        raise ImportError(_ERROR)
    try:
        target = _cache_dir() / f"kernels-{_source_key()}.so"
        if not target.exists():
            _compile(target)
        lib = ctypes.CDLL(str(target))
    except (ImportError, OSError) as exc:
        _ERROR = str(exc)
        raise ImportError(_ERROR) from None
    p = ctypes.c_void_p
    i64, i32 = ctypes.c_int64, ctypes.c_int32
    lib.hamming_knn.argtypes = [p, i64, i32, p, i64, i64, p, p, p, p]
    lib.hamming_knn.restype = None
    lib.pq_adc_knn.argtypes = [p, i64, i32, i32, p, i64, i64, i32, p, p, p, p]
    lib.pq_adc_knn.restype = None
    lib.pq_adc_knn_ranges.argtypes = [p, i32, i32, p, i64, p, p, i64, i64, i32, p, p, p, p]
    lib.pq_adc_knn_ranges.restype = None
    lib.mih_knn.argtypes = [p, i64, i64, i32, i32, p, p, p, p, p, i32, p, p, p, i64, i64, p, p, p, i64, p, p, p, p]
    lib.mih_knn.restype = None
    lib.fs_layout_bytes.argtypes = [i32, i64, i32]
    lib.fs_layout_bytes.restype = i64
    lib.fs_pack.argtypes = [i32, p, i64, i32, p, i64]
    lib.fs_pack.restype = None
    lib.fs_unpack.argtypes = [i32, p, i64, i32, p]
    lib.fs_unpack.restype = None
    lib.fs_supported.argtypes = [i32, i32]
    lib.fs_supported.restype = i32
    lib.fs_knn.argtypes = [i32, p, i64, i32, p, i64, i64, i32, p, i32, p, p, p, p, p]
    lib.fs_knn.restype = i32
    lib.dh_set_threads.argtypes = [i32]
    lib.dh_set_threads.restype = None
    lib.dh_get_threads.argtypes = []
    lib.dh_get_threads.restype = i32
    lib.dh_set_threads(_env_threads())
    _LIB = lib
    return lib


def _env_threads() -> int:
    return env_threads(SCAN_THREADS_ENV, 1)


def set_scan_threads(n: int) -> int:
    """Let one scan use up to ``n`` threads (>= 1; capped at 64); returns the count now in force."""
    if int(n) < 1:
        raise ConfigError(f"scan threads must be a positive integer, got {n!r}")
    lib = load()
    lib.dh_set_threads(int(n))
    return int(lib.dh_get_threads())


def scan_threads() -> int:
    """The most threads one scan may use now."""
    return int(load().dh_get_threads())


def available() -> bool:
    try:
        load()
        return True
    except ImportError:
        return False


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def top_k_buffers(nq: int, k: int, dist_dtype: type) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a top-k kernel fills: distances ``dist_dtype [nq, k]``, rows int64 ``[nq, k]``, counts int64 ``[nq]``."""
    return np.empty((nq, k), dist_dtype), np.empty((nq, k), np.int64), np.zeros(nq, np.int64)


def dead_bytes(dead: np.ndarray | None) -> np.ndarray | None:
    """A bool / uint8 tombstone mask ``[n]`` as the contiguous uint8 array the kernels read (None stays None)."""
    return None if dead is None else np.ascontiguousarray(dead).view(np.uint8)


def hamming_knn(words: np.ndarray, queries: np.ndarray, k: int, dead: np.ndarray | None = None):
    """Top-k by (Hamming distance, row): words uint64 ``[n, W]``, queries uint64 ``[nq, W]``.

    Returns (dist int32 ``[nq, k]``, rows int64 ``[nq, k]``, count int64 ``[nq]``); entries past
    ``count`` are undefined. ``dead``: optional uint8/bool ``[n]`` of rows to skip.
    """
    lib = load()
    words = np.ascontiguousarray(words, dtype=np.uint64)
    queries = np.ascontiguousarray(queries, dtype=np.uint64)
    n, w = words.shape
    nq = queries.shape[0]
    k = max(1, min(int(k), max(n, 1)))
    out_d, out_r, cnt = top_k_buffers(nq, k, np.int32)
    dead = dead_bytes(dead)
    lib.hamming_knn(_ptr(words), n, w, _ptr(queries), nq, k, _ptr(dead), _ptr(out_d), _ptr(out_r), _ptr(cnt))
    return out_d, out_r, cnt


def pq_adc_knn(codes: np.ndarray, tables: np.ndarray, k: int, negate: bool, dead: np.ndarray | None = None):
    """Top-k by (ADC distance, row): codes uint8 ``[n, M]``, tables float32 ``[nq, M, K]``.

    Returns (dist float32 ``[nq, k]``, rows int64 ``[nq, k]``, count int64 ``[nq]``).
    """
    lib = load()
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    tables = np.ascontiguousarray(tables, dtype=np.float32)
    n, m = codes.shape
    nq, tm, kk = tables.shape
    if tm != m:
        raise ValueError(f"tables have M={tm}, codes M={m}")
    k = max(1, min(int(k), max(n, 1)))
    out_d, out_r, cnt = top_k_buffers(nq, k, np.float32)
    dead = dead_bytes(dead)
    lib.pq_adc_knn(_ptr(codes), n, m, kk, _ptr(tables), nq, k, int(negate), _ptr(dead), _ptr(out_d), _ptr(out_r), _ptr(cnt))
    return out_d, out_r, cnt


def pq_adc_knn_ranges(codes: np.ndarray, tables: np.ndarray, lo: np.ndarray, hi: np.ndarray, k: int, negate: bool,
                      rows: np.ndarray | None = None):
    """Top-k by ADC distance per query over position ranges ``[lo[q, j], hi[q, j])`` of ``codes``.

    codes uint8 ``[n, M]``, tables float32 ``[nq, M, K]``, lo/hi int64 ``[nq, nr]``; ``rows`` int64
    ``[n]`` (optional): the row number of each position. Returns (dist float32 ``[nq, k]``, ids int64
    ``[nq, k]``, count int64 ``[nq]``), each row sorted by (distance, id); the ids are rows when
    ``rows`` is given (ties then break by row: the exact top-k of the scanned items in one pass),
    else positions. The whole batch runs in C with the interpreter lock released.
    """
    lib = load()
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    tables = np.ascontiguousarray(tables, dtype=np.float32)
    lo = np.ascontiguousarray(lo, dtype=np.int64)
    hi = np.ascontiguousarray(hi, dtype=np.int64)
    nq, m, kk = tables.shape
    if codes.shape[1] != m or lo.shape != hi.shape or lo.shape[0] != nq:
        raise ValueError(f"shapes: codes {codes.shape}, tables {tables.shape}, lo {lo.shape}, hi {hi.shape}")
    if rows is not None:
        rows = np.ascontiguousarray(rows, dtype=np.int64)
        if rows.shape != (codes.shape[0],):
            raise ValueError(f"rows must be int64 [{codes.shape[0]}] (one per code), got {rows.shape}")
    k = max(1, int(k))
    out_d, out_r, cnt = top_k_buffers(nq, k, np.float32)
    lib.pq_adc_knn_ranges(_ptr(codes), m, kk, _ptr(tables), nq, _ptr(lo), _ptr(hi), lo.shape[1], k, int(negate),
                          _ptr(rows), _ptr(out_d), _ptr(out_r), _ptr(cnt))
    return out_d, out_r, cnt


class MIHTables:
    """The MIH hash tables in the layout :c:func:`mih_knn` reads (see :mod:`distilhash.index.mih`).

    Args:
        fields: ``(word, shift, bits)`` per field; tables: ``(offsets int64, order int32)`` per
        field; max_probes: radius steps with more flip masks than this make the query fall back.
    """

    def __init__(self, fields, tables, n_indexed: int, max_probes: int) -> None:
        load()
        self.m = len(fields)
        self.fw = np.array([f[0] for f in fields], np.int32)
        self.fs = np.array([f[1] for f in fields], np.int32)
        self.fb = np.array([f[2] for f in fields], np.int32)
        self.S = int(self.fb.max())
        self._keep = []  # keeps the arrays the pointers refer to alive
        self.orders = [np.ascontiguousarray(o, dtype=np.int32) for _, o in tables]
        self.offsets = [np.ascontiguousarray(o, dtype=np.int64) for o, _ in tables]
        self.off_ptrs = np.array([o.ctypes.data for o in self.offsets], np.int64)
        self.ord_ptrs = np.array([o.ctypes.data for o in self.orders], np.int64)
        self.mask_ptrs = np.zeros(self.m * (self.S + 1), np.int64)
        self.mask_lens = np.full(self.m * (self.S + 1), -1, np.int64)
        for j, b in enumerate(self.fb.tolist()):
            for s in range(0, b + 1):
                if math.comb(b, s) > max_probes:
                    break
                masks = flip_masks(b, s)
                self._keep.append(masks)
                self.mask_ptrs[j * (self.S + 1) + s] = masks.ctypes.data
                self.mask_lens[j * (self.S + 1) + s] = masks.size
        self.n_indexed = n_indexed
        self.visited = np.zeros(n_indexed, np.uint32)
        self.epoch = np.zeros(1, np.int64)

    def knn(self, words: np.ndarray, queries: np.ndarray, k: int, dead: np.ndarray | None, max_cand: int):
        """(dist int32 [nq, k], rows int64 [nq, k], count int64 [nq] (-1 = fall back), candidates [nq])."""
        lib = load()
        words = np.ascontiguousarray(words, dtype=np.uint64)
        queries = np.ascontiguousarray(queries, dtype=np.uint64)
        nq = queries.shape[0]
        out_d, out_r, cnt = top_k_buffers(nq, k, np.int32)
        cand = np.zeros(nq, np.int64)
        dead = dead_bytes(dead)
        lib.mih_knn(_ptr(words), self.n_indexed, words.shape[0], words.shape[1], self.m, _ptr(self.fw), _ptr(self.fs),
                    _ptr(self.fb), _ptr(self.off_ptrs), _ptr(self.ord_ptrs), self.S, _ptr(self.mask_ptrs),
                    _ptr(self.mask_lens), _ptr(queries), nq, k, _ptr(dead), _ptr(self.visited), _ptr(self.epoch),
                    int(max_cand), _ptr(out_d), _ptr(out_r), _ptr(cnt), _ptr(cand))
        return out_d, out_r, cnt, cand
