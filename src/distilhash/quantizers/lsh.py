"""Sign random projection (LSH for cosine similarity, Charikar 2002).

``b = sign((x - mu) W)`` with ``W ~ N(0, 1)^{D x L}`` drawn from a seed; two unit vectors agree
on each bit with probability ``1 - angle / pi``, so the Hamming distance estimates the angle.
The only fitted state is the optional centre ``mu`` (mean of the training rows).
"""

from __future__ import annotations

import numpy as np

from distilhash.errors import ConfigError, FeatureError

__all__ = ["SignRandomProjection"]


class SignRandomProjection:
    """Sign random projection to ``n_bits`` bits.

    Args:
        n_bits: code length L.
        center: subtract the mean of the training rows before projecting (recommended for
            embeddings that do not sit around the origin).
        seed: seed of the Gaussian projection matrix.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(100, 16)).astype(np.float32)
        >>> srp = SignRandomProjection(8, seed=0).fit(x)
        >>> srp.encode(x).shape
        (100, 8)
    """

    def __init__(self, n_bits: int, center: bool = True, seed: int = 0) -> None:
        if n_bits <= 0:
            raise ConfigError(f"n_bits must be positive, got {n_bits}")
        self.n_bits = n_bits
        self.center = center
        self.seed = seed

    def fit(self, x: np.ndarray) -> SignRandomProjection:
        """Draw ``W [D, L]`` and (if ``center``) store the mean of ``x [N, D]``."""
        x = _as_matrix(x, "training features")
        d = x.shape[1]
        self.mean_ = x.mean(axis=0).astype(np.float32) if self.center else np.zeros(d, np.float32)
        self.projection_ = np.random.default_rng(self.seed).standard_normal((d, self.n_bits)).astype(np.float32)
        return self

    def project(self, x: np.ndarray) -> np.ndarray:
        """Real-valued projections ``(x - mu) W``, float32 ``[N, L]``."""
        x = _as_matrix(x, "features")
        if x.shape[1] != self.projection_.shape[0]:
            raise FeatureError(f"features have width {x.shape[1]}; the projection was fitted on width {self.projection_.shape[0]}")
        return (x - self.mean_) @ self.projection_

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Bits ``[N, L]`` as bool (``True`` where the projection is positive)."""
        return self.project(x) > 0


def _as_matrix(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise FeatureError(f"{what} must be a non-empty float matrix [N, D], got shape {x.shape}")
    return x
