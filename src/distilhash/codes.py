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
from typing import Literal

import numpy as np

from distilhash.errors import FeatureError

__all__ = ["Encoded", "CodeKind", "pack_bits", "unpack_bits"]

CodeKind = Literal["binary", "pq", "float"]


@dataclass(frozen=True)
class Encoded:
    """Encoded items of one modality.

    Attributes:
        kind: ``"binary"``, ``"pq"`` or ``"float"``.
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
        if self.kind == "binary":
            if self.data.dtype != np.uint8 or self.data.ndim != 2 or self.data.shape[1] * 8 < self.n_bits:
                raise FeatureError(f"binary codes must be uint8 [N, {(self.n_bits + 7) // 8}], got {self.data.dtype} {self.data.shape}")
        elif self.kind == "pq":
            if self.codebooks is None or self.codebooks.ndim != 3:
                raise FeatureError("pq codes need codebooks of shape [M, K, d]")
            if self.data.ndim != 2 or self.data.shape[1] != self.codebooks.shape[0]:
                raise FeatureError(f"pq codes must be [N, M={self.codebooks.shape[0]}], got {self.data.shape}")
            if self.metric not in ("l2", "ip"):
                raise FeatureError(f"pq metric {self.metric!r}; expected 'l2' or 'ip'")
        elif self.kind == "float":
            if self.data.ndim != 2:
                raise FeatureError(f"float embeddings must be [N, D], got {self.data.shape}")
        else:
            raise FeatureError(f"unknown code kind {self.kind!r}; expected binary, pq or float")

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
