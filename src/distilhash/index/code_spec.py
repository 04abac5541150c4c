"""What codes an index holds, and the checks that codes and queries fit it.

A :class:`CodeSpec` is read once from the manifest (and the PQ codebooks) of an open index. Its
checks turn user input into what the storage and the searchers take, or raise a
:class:`~distilhash.errors.DataError` naming what was given and what the index expects:

* codes to add (binary: uint8 ``[n, code_size]``; pq: uint8 ``[n, M]`` codeword indices < K),
  packed two 4-bit codewords per byte when the index stores them packed
  (:mod:`~distilhash.index.pqcodes`);
* queries (binary: codes as above; pq: finite float32 ``[nq, M * d]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from distilhash.codes import CodeKind, Encoded
from distilhash.errors import DataError
from distilhash.index.pqcodes import pack_nibbles, unpack_nibbles

__all__ = ["CodeSpec"]


@dataclass(frozen=True)
class CodeSpec:
    """Kind, width and (pq) codebooks of an index's codes.

    Attributes:
        kind: :attr:`CodeKind.BINARY` or :attr:`CodeKind.PQ`.
        n_bits: bits per code.
        code_size: stored bytes per code.
        metric: pq distance (``"l2"`` or ``"ip"``); ``"l2"`` for binary indexes (unused).
        codebooks: pq codebooks float32 ``[M, K, d]``; None for binary indexes.
        packed: pq codes are stored two 4-bit codewords per byte (indexes made before packing: False).
        pq: the manifest's pq section (``M``, ``K``, ...) or None.
    """

    kind: CodeKind
    n_bits: int
    code_size: int
    metric: str
    codebooks: np.ndarray | None
    packed: bool
    pq: dict[str, Any] | None

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], codebooks: np.ndarray | None) -> CodeSpec:
        pq = manifest.get("pq") or None
        return cls(kind=CodeKind.parse(manifest["kind"], "index kind"), n_bits=int(manifest["n_bits"]), code_size=int(manifest["code_size"]),
                   metric=(pq or {}).get("metric", "l2"), codebooks=codebooks, packed=bool((pq or {}).get("packed")),
                   pq=pq)

    def check_codes(self, codes: Encoded | np.ndarray, what: str = "codes") -> np.ndarray:
        """Codes to store: uint8 ``[n, code_size]`` (packed pq: ``[n, ceil(M / 2)]``); DataError when they do not fit."""
        if isinstance(codes, Encoded):
            if codes.kind != self.kind:
                raise DataError(f"{what} are {codes.kind!r} codes; this index holds {self.kind!r} codes")
            if self.kind.hamming and codes.n_bits != self.n_bits:
                raise DataError(f"{what} have {codes.n_bits} bits; this index holds {self.n_bits}-bit codes")
            if self.kind.needs_codebooks:
                if codes.metric != self.metric:
                    raise DataError(f"{what} use metric {codes.metric!r}; this index uses {self.metric!r}")
                if not np.array_equal(np.asarray(codes.codebooks, np.float32), self.codebooks):
                    raise DataError(f"{what} were made with other codebooks than this index's")
            data = codes.data
        else:
            data = np.asarray(codes)
        width = self.pq["M"] if self.packed else self.code_size
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != width:
            raise DataError(f"{what} must be uint8 [n, {width}]; got {data.dtype} {data.shape}")
        if self.kind.needs_codebooks and data.size and int(data.max()) >= self.pq["K"]:
            raise DataError(f"{what} reference codeword {int(data.max())}; codebooks have K={self.pq['K']}")
        return pack_nibbles(data) if self.packed else np.ascontiguousarray(data)

    def unpacked(self, codes: np.ndarray) -> np.ndarray:
        """Stored codes -> the uint8 ``[n, M]`` codeword indices searchers take (binary: unchanged)."""
        return unpack_nibbles(codes, self.pq["M"]) if self.packed else codes

    def check_query(self, query: Encoded | np.ndarray) -> np.ndarray:
        """Queries as searchers take them: binary codes (as :meth:`check_codes`) or float32 ``[nq, M * d]``."""
        if self.kind.query_kind is self.kind:  # binary: queries are codes of the same kind
            return self.check_codes(query, what="queries")
        if isinstance(query, Encoded):
            if query.kind is not self.kind.query_kind:
                raise DataError(f"a pq index is searched with continuous (float) queries, got {query.kind!r} codes")
            data = query.data
        else:
            data = np.asarray(query)
        m, _, d = self.codebooks.shape
        if data.ndim != 2 or data.shape[1] != m * d:
            raise DataError(f"queries must be float32 [nq, {m * d}]; got {data.shape}")
        if not np.isfinite(data).all():
            raise DataError("queries contain NaN or infinite values")
        return np.ascontiguousarray(data, dtype=np.float32)
