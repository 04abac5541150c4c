"""Iterative quantization (ITQ; Gong & Lazebnik, CVPR 2011).

Centre the data, project onto the top-L principal directions ``V = (X - mu) P`` (``P [D, L]``),
then learn an orthogonal rotation ``R [L, L]`` minimising the quantization loss
``||B - V R||_F^2`` over ``B in {-1, +1}^{N x L}`` by alternating:

* ``B = sign(V R)``
* ``R = S Ω^T`` from the SVD ``B^T V = S Λ Ω^T`` (orthogonal Procrustes), i.e. ``R = Ω S^T``.

Codes: ``sign((x - mu) P R)``.
"""

from __future__ import annotations

import numpy as np

from distilhash.errors import ConfigError, FeatureError
from distilhash.quantizers.lsh import _as_matrix

__all__ = ["ITQ"]


class ITQ:
    """PCA + learned rotation to ``n_bits`` bits.

    Args:
        n_bits: code length L (at most the feature width D).
        n_iter: alternating iterations (50 in the paper).
        seed: seed of the random initial rotation.

    Attributes (after ``fit``): ``mean_ [D]``, ``pca_ [D, L]``, ``rotation_ [L, L]``,
    ``loss_history_`` (quantization loss ``||B - VR||^2 / N`` per iteration).
    """

    def __init__(self, n_bits: int, n_iter: int = 50, seed: int = 0) -> None:
        if n_bits <= 0:
            raise ConfigError(f"n_bits must be positive, got {n_bits}")
        self.n_bits = n_bits
        self.n_iter = n_iter
        self.seed = seed

    def fit(self, x: np.ndarray) -> ITQ:
        """Learn ``mean_``, ``pca_`` and ``rotation_`` from ``x [N, D]``."""
        x = _as_matrix(x, "training features").astype(np.float64)
        n, d = x.shape
        if self.n_bits > d:
            raise ConfigError(f"ITQ needs n_bits <= feature width; got n_bits={self.n_bits} for width {d}")
        if self.n_bits > n:
            raise FeatureError(f"ITQ needs at least n_bits={self.n_bits} training rows, got {n}")
        self.mean_ = x.mean(axis=0)
        xc = x - self.mean_
        cov = xc.T @ xc / n
        eigval, eigvec = np.linalg.eigh(cov)
        order = np.argsort(eigval)[::-1][: self.n_bits]
        self.pca_ = eigvec[:, order]
        v = xc @ self.pca_
        rng = np.random.default_rng(self.seed)
        rotation, _ = np.linalg.qr(rng.standard_normal((self.n_bits, self.n_bits)))
        self.loss_history_: list[float] = []
        for _ in range(self.n_iter):
            vr = v @ rotation
            b = np.where(vr >= 0, 1.0, -1.0)
            self.loss_history_.append(float(((b - vr) ** 2).sum() / n))
            s, _, omega_t = np.linalg.svd(b.T @ v)
            rotation = omega_t.T @ s.T
        self.rotation_ = rotation
        self.mean_ = self.mean_.astype(np.float32)
        self.pca_ = self.pca_.astype(np.float32)
        self.rotation_ = self.rotation_.astype(np.float32)
        return self

    def project(self, x: np.ndarray) -> np.ndarray:
        """Rotated projections ``(x - mu) P R``, float32 ``[N, L]``."""
        x = _as_matrix(x, "features")
        if x.shape[1] != self.pca_.shape[0]:
            raise FeatureError(f"features have width {x.shape[1]}; ITQ was fitted on width {self.pca_.shape[0]}")
        return ((x - self.mean_) @ self.pca_) @ self.rotation_

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Bits ``[N, L]`` as bool."""
        return self.project(x) >= 0
