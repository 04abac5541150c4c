"""Product quantization (Jégou, Douze & Schmid, TPAMI 2011), k-means codebooks.

A vector ``x in R^D`` is split into ``M`` sub-vectors ``x_m in R^d`` (``d = D / M``; ``x`` is
zero-padded when ``M`` does not divide ``D``); each is replaced by the index of its nearest
codeword in codebook ``C_m [K, d]`` (``K = 2^nbits``). Code size: ``M * nbits / 8`` bytes.
A continuous query scores a code by asymmetric distance (ADC)
``sum_m ||q_m - C_m[code_m]||^2`` via per-query lookup tables.

Interface as ``faiss.ProductQuantizer``: ``fit`` (faiss: ``train``), ``encode``, ``decode``,
``code_size``.
"""

from __future__ import annotations

import numpy as np

from distilhash.errors import ConfigError, FeatureError
from distilhash.quantizers.kmeans import assign, kmeans
from distilhash.quantizers.lsh import _as_matrix

__all__ = ["ProductQuantizer"]


class ProductQuantizer:
    """``M`` sub-quantizers of ``2**nbits`` codewords each.

    Args:
        d: input width D.
        M: number of sub-vectors (codebooks).
        nbits: bits per sub-code (8 -> K = 256, codes stored as uint8).
        n_iter: k-means iterations per codebook.
        seed: k-means seed (codebook m uses ``seed + m``).

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)
        >>> pq = ProductQuantizer(16, M=4, nbits=4).fit(x)
        >>> codes = pq.encode(x); codes.shape, pq.code_size
        ((500, 4), 2)
        >>> pq.decode(codes).shape
        (500, 16)
    """

    def __init__(self, d: int, M: int, nbits: int = 8, n_iter: int = 25, seed: int = 0) -> None:
        if M <= 0 or d <= 0:
            raise ConfigError(f"product quantizer needs d > 0 and M > 0, got d={d}, M={M}")
        if not 1 <= nbits <= 8:
            raise ConfigError(f"nbits must be in 1..8 (codes are uint8), got {nbits}")
        if M > d:
            raise ConfigError(f"M={M} sub-vectors cannot split a vector of width d={d}")
        self.d = d
        self.M = M
        self.nbits = nbits
        self.n_iter = n_iter
        self.seed = seed

    @property
    def ksub(self) -> int:
        """Codewords per codebook, K = 2^nbits."""
        return 1 << self.nbits

    @property
    def dsub(self) -> int:
        """Sub-vector width ceil(D / M)."""
        return -(-self.d // self.M)

    @property
    def code_size(self) -> int:
        """Bytes per encoded vector."""
        return (self.M * self.nbits + 7) // 8

    def pad(self, x: np.ndarray) -> np.ndarray:
        """``x [N, D]`` zero-padded to ``[N, M * dsub]`` (the width queries are scored at)."""
        x = _as_matrix(x, "features")
        if x.shape[1] != self.d:
            raise FeatureError(f"features have width {x.shape[1]}; the product quantizer expects width {self.d}")
        extra = self.M * self.dsub - self.d
        return np.pad(x, ((0, 0), (0, extra))) if extra else x

    def fit(self, x: np.ndarray) -> ProductQuantizer:
        """Learn ``centroids_ [M, K, dsub]`` by k-means on each sub-space of ``x [N, D]``."""
        xs = self.pad(x).reshape(len(x), self.M, self.dsub)
        self.centroids_ = np.empty((self.M, self.ksub, self.dsub), dtype=np.float32)
        self.mse_history_: list[list[float]] = []
        for m in range(self.M):
            self.centroids_[m], hist = kmeans(xs[:, m, :], self.ksub, n_iter=self.n_iter, seed=self.seed + m)
            self.mse_history_.append(hist)
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes uint8 ``[N, M]``: nearest codeword per sub-vector."""
        xs = self.pad(x).reshape(len(x), self.M, self.dsub)
        codes = np.empty((len(x), self.M), dtype=np.uint8)
        for m in range(self.M):
            codes[:, m] = assign(xs[:, m, :], self.centroids_[m])[0]
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Reconstructions float32 ``[N, D]`` from codes ``[N, M]`` (padding removed)."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.M:
            raise FeatureError(f"PQ codes must have shape [N, {self.M}], got {codes.shape}")
        out = self.centroids_[np.arange(self.M)[None, :], codes.astype(np.int64)]  # [N, M, dsub]
        return out.reshape(len(codes), self.M * self.dsub)[:, : self.d]

    def compute_distance_tables(self, queries: np.ndarray) -> np.ndarray:
        """ADC lookup tables float32 ``[nq, M, K]``: ``||q_m - C_m[k]||^2``."""
        q = self.pad(queries).reshape(len(queries), self.M, self.dsub)
        return ((q[:, :, None, :] - self.centroids_[None]) ** 2).sum(axis=-1)
