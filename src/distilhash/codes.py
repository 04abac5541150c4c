"""The three kinds of encoded items that rankers, indexes and metrics understand.

* ``binary``: packed bits, uint8 ``[N, ceil(L/8)]`` (bit order: numpy ``packbits`` big-endian);
  ranked by Hamming distance.
* ``pq``: codeword indices uint8 ``[N, M]`` plus the codebooks float32 ``[M, K, d]``; database
  items are stored as codes, queries stay continuous (``float``) and are ranked by asymmetric
  distance (ADC) with per-query lookup tables.
* ``float``: float32 ``[N, D]`` embeddings; ranked by cosine similarity (inner product on
  L2-normalised rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from distilhash.errors import FeatureError

__all__ = ["Encoded", "CodeKind", "pack_bits", "unpack_bits"]


class CodeKind(StrEnum):
    """A kind of encoded items, with what callers need to know about it.

    The value is the string stored on disk (index manifests, ``.npz`` code files, reports), so a
    member compares and hashes equal to it; ``repr`` is the quoted value, as in messages before
    the enum existed. Parse foreign input with :meth:`parse`.
    """

    BINARY = "binary"
    PQ = "pq"
    FLOAT = "float"

    def __repr__(self) -> str:
        return repr(self.value)

    @classmethod
    def parse(cls, value: Any, what: str = "code kind", allowed: tuple[CodeKind, ...] | None = None) -> CodeKind:
        """``value`` (a member or its string) as a member of ``allowed`` (default: all); a FeatureError naming ``what``."""
        allowed = tuple(cls) if allowed is None else allowed
        for kind in allowed:
            if value == kind.value:
                return kind
        names = [k.value for k in allowed]
        expected = f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]
        raise FeatureError(f"unknown {what} {str(value)!r}; expected {expected}")

    @property
    def needs_codebooks(self) -> bool:
        """Items are codeword indices read through codebooks float32 ``[M, K, d]`` (pq)."""
        return self is CodeKind.PQ

    @property
    def indexable(self) -> bool:
        """A :class:`~distilhash.index.core.CodeIndex` stores items of this kind (binary, pq)."""
        return self is not CodeKind.FLOAT

    def not_indexable_message(self, model: str | None = None) -> str:
        """Why an index cannot hold this kind and what to build instead (``index build`` on a float model)."""
        who = f"model {model}" if model else "this model"
        return (f"an index stores binary or pq codes; {who} gives {self.value!r} database codes (a float reference "
                "such as float-teacher, random or float-student is for `distilhash eval`, not for an index); "
                "index a model trained with a coding method instead: dcmq, pq, itq or lsh")

    @property
    def query_kind(self) -> CodeKind:
        """The kind of queries a database of this kind is searched with (pq: continuous ``float``)."""
        return CodeKind.FLOAT if self is CodeKind.PQ else self

    @property
    def distance(self) -> str:
        """How a query meets an item of this (database) kind: ``hamming``, ``adc`` or ``cosine``."""
        return _DISTANCE[self]

    @property
    def hamming(self) -> bool:
        """Distances are integer Hamming distances (binary against binary); radius search is defined."""
        return self is CodeKind.BINARY

    @property
    def distance_dtype(self) -> type[np.generic]:
        """dtype of the distances of queries of this kind: int32 (Hamming) or float32."""
        return np.int32 if self.hamming else np.float32

    def code_size(self, n_bits: int, codebooks: np.ndarray | None = None) -> int:
        """Bytes per item before any packing: binary ceil(L / 8); pq M (one uint8 per codebook); float 4 D."""
        if self.needs_codebooks:
            if codebooks is None:
                raise FeatureError("pq codes need codebooks of shape [M, K, d]")
            return int(np.asarray(codebooks).shape[0])
        return (int(n_bits) + 7) // 8

    def check(self, data: np.ndarray, n_bits: int, codebooks: np.ndarray | None, metric: str) -> None:
        """FeatureError unless ``data`` (and ``codebooks`` / ``metric``) have this kind's shape."""
        if self is CodeKind.BINARY:
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] * 8 < n_bits:
                raise FeatureError(f"binary codes must be uint8 [N, {(n_bits + 7) // 8}], got {data.dtype} {data.shape}")
        elif self is CodeKind.PQ:
            if codebooks is None or codebooks.ndim != 3:
                raise FeatureError("pq codes need codebooks of shape [M, K, d]")
            if data.ndim != 2 or data.shape[1] != codebooks.shape[0]:
                raise FeatureError(f"pq codes must be [N, M={codebooks.shape[0]}], got {data.shape}")
            if metric not in ("l2", "ip"):
                raise FeatureError(f"pq metric {metric!r}; expected 'l2' or 'ip'")
        elif data.ndim != 2:
            raise FeatureError(f"float embeddings must be [N, D], got {data.shape}")


_DISTANCE = {CodeKind.BINARY: "hamming", CodeKind.PQ: "adc", CodeKind.FLOAT: "cosine"}


@dataclass(frozen=True)
class Encoded:
    """Encoded items of one modality.

    Attributes:
        kind: a :class:`CodeKind` (its string is accepted and converted).
        data: packed bits uint8 ``[N, L/8]``, PQ indices uint8 ``[N, M]`` or float32 ``[N, D]``.
        n_bits: code length in bits (binary: L; pq: M * log2 K; float: 32 * D).
        codebooks: float32 ``[M, K, d]`` for ``pq``; None otherwise.
        metric: for ``pq``, how a continuous query meets the codewords: ``"l2"`` (ADC distance
            sum_m ||q_m - c_m[code_m]||^2, lower is closer) or ``"ip"`` (ADC inner product
            sum_m <q_m, c_m[code_m]>, higher is closer). Ignored for other kinds.
    """

    kind: CodeKind
    data: np.ndarray
    n_bits: int
    codebooks: np.ndarray | None = None
    metric: str = "l2"

    def __post_init__(self) -> None:
        if not isinstance(self.kind, CodeKind):
            object.__setattr__(self, "kind", CodeKind.parse(self.kind))
        self.kind.check(self.data, self.n_bits, self.codebooks, self.metric)

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def bytes_per_item(self) -> int:
        return int(self.data.shape[1] * self.data.dtype.itemsize)

    def take(self, indices: np.ndarray) -> Encoded:
        """The rows ``indices``."""
        return Encoded(self.kind, self.data[np.asarray(indices)], self.n_bits, self.codebooks, self.metric)


def pack_bits(signs: np.ndarray) -> np.ndarray:
    """Pack ``[N, L]`` bits (bool/0-1, or real values thresholded at > 0) into uint8 ``[N, ceil(L/8)]``."""
    signs = np.asarray(signs)
    bits = signs > 0 if signs.dtype != np.bool_ else signs
    return np.packbits(bits, axis=1)


def unpack_bits(packed: np.ndarray, n_bits: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: uint8 ``[N, L]`` of 0/1."""
    return np.unpackbits(packed, axis=1, count=n_bits)
