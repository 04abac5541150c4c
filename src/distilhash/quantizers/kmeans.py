"""Seeded Lloyd k-means in numpy (k-means++ initialisation), for PQ codebooks.

Minimises ``sum_i min_k ||x_i - c_k||^2``. Distances use ``||x||^2 - 2 x.c + ||c||^2`` in
chunks, so memory stays ``O(chunk * K)``. Empty clusters are re-seeded with the points that
are currently worst served, so all ``K`` codewords are used when ``N >= K``.
"""

from __future__ import annotations

import numpy as np

from distilhash.errors import FeatureError

__all__ = ["kmeans", "assign"]


def assign(x: np.ndarray, centroids: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row: (indices int64 ``[N]``, squared distances float32 ``[N]``)."""
    c_sq = (centroids.astype(np.float32) ** 2).sum(axis=1)
    idx = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float32)
    for s in range(0, len(x), chunk):
        xb = x[s : s + chunk].astype(np.float32)
        d = (xb**2).sum(axis=1, keepdims=True) - 2.0 * xb @ centroids.T + c_sq
        idx[s : s + chunk] = d.argmin(axis=1)
        dist[s : s + chunk] = np.maximum(d[np.arange(len(xb)), idx[s : s + chunk]], 0.0)
    return idx, dist


def _kmeans_pp(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each new centre drawn with probability proportional to D(x)^2."""
    n = len(x)
    centres = np.empty((k, x.shape[1]), dtype=np.float32)
    centres[0] = x[rng.integers(n)]
    best = ((x - centres[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        total = best.sum()
        i = rng.choice(n, p=best / total) if total > 0 else rng.integers(n)
        centres[j] = x[i]
        best = np.minimum(best, ((x - centres[j]) ** 2).sum(axis=1))
    return centres


def kmeans(x: np.ndarray, k: int, n_iter: int = 25, seed: int = 0, tol: float = 1e-4) -> tuple[np.ndarray, list[float]]:
    """Cluster ``x [N, d]`` into ``k`` centroids.

    Returns:
        centroids float32 ``[k, d]`` and the mean squared error after each iteration.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise FeatureError(f"k-means needs a non-empty matrix [N, d], got shape {x.shape}")
    rng = np.random.default_rng(seed)
    n = len(x)
    if n < k:
        # Fewer points than codewords: every point is a codeword, the rest are copies.
        return x[rng.integers(0, n, k)] if n else x, [0.0]
    centroids = _kmeans_pp(x, k, rng)
    history: list[float] = []
    for _ in range(n_iter):
        idx, dist = assign(x, centroids)
        history.append(float(dist.mean()))
        counts = np.bincount(idx, minlength=k)
        sums = np.zeros_like(centroids)
        np.add.at(sums, idx, x)
        nonempty = counts > 0
        centroids[nonempty] = sums[nonempty] / counts[nonempty, None]
        empty = np.flatnonzero(~nonempty)
        if empty.size:
            worst = np.argsort(dist)[::-1][: empty.size]
            centroids[empty] = x[worst]
        if len(history) > 1 and history[-2] - history[-1] <= tol * max(history[-2], 1e-12) and not empty.size:
            break
    return centroids, history
