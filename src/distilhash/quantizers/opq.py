"""Optimized product quantization: an orthogonal rotation fitted so that PQ codes of the rotated vectors
lose less (the non-parametric OPQ of Ge, He, Ke & Sun, CVPR 2013).

PQ cuts ``x [D]`` into M fixed blocks of coordinates; when the variance is spread unevenly over the blocks
(the teacher's features are: a few directions carry most of it), some codebooks have too little to code and
others too much. The start is the parametric solution (eigenvalue allocation): the principal directions of
``X``, dealt out to the M blocks so that the products of their variances come out even (each block takes, in
order of decreasing variance, the next direction while it has room and the smallest log-variance sum). OPQ then
alternates two steps on the training rows ``X [N, D]``:

    PQ step:        codebooks C = k-means of the blocks of X R;   Y = decode(encode(X R))      [N, D]
    rotation step:  R = argmin_{R^T R = I} |X R - Y|^2 = U V^T,   U S V^T = svd(X^T Y)       (Procrustes)

A rotation keeps inner products and distances (``<q R, x R> = <q, x>``), so a method that rotates its queries
and its items alike ranks with the same metric; only the coding error changes.
"""

from __future__ import annotations

import numpy as np

from distilhash.errors import ConfigError
from distilhash.quantizers.pq import ProductQuantizer

__all__ = ["opq_rotation"]


def opq_rotation(x: np.ndarray, M: int, nbits: int = 8, n_iter: int = 8, kmeans_iter: int = 5, seed: int = 0) -> np.ndarray:
    """The OPQ rotation ``R [D, D]`` (orthogonal, float32) of training rows ``x [N, D]`` for ``M`` codebooks of
    ``2**nbits`` codewords: ``n_iter`` alternations of a PQ fit (``kmeans_iter`` Lloyd iterations) and Procrustes.

    Raises:
        ConfigError: ``M`` does not divide ``D`` (a rotation of padded vectors would mix in the padding), or
            ``n_iter < 1``.
    """
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[1]
    if d % M:
        raise ConfigError(f"opq: the width {d} must be divisible by the {M} codebooks")
    if n_iter < 1:
        raise ConfigError(f"opq: n_iter must be >= 1, got {n_iter}")
    rot = _eigen_allocation(x, M)
    for it in range(n_iter):
        xr = (x @ rot).astype(np.float32)
        pq = ProductQuantizer(d, M, nbits, n_iter=kmeans_iter, seed=seed + 1000 * it).fit(xr)
        y = pq.decode(pq.encode(xr)).astype(np.float64)
        u, _, vt = np.linalg.svd(x.T @ y)
        rot = u @ vt
    return rot.astype(np.float32)


def _eigen_allocation(x: np.ndarray, M: int) -> np.ndarray:
    """``[D, D]``: the principal directions of ``x`` as columns, grouped into M blocks of D / M with balanced
    products of variances (the parametric OPQ start)."""
    d = x.shape[1]
    var, vec = np.linalg.eigh(np.cov(x - x.mean(0), rowvar=False))
    order = np.argsort(-var, kind="stable")
    size, logs, blocks = d // M, np.zeros(M), [[] for _ in range(M)]
    for j in order:
        open_ = [m for m in range(M) if len(blocks[m]) < size]
        m = min(open_, key=lambda b: logs[b])
        blocks[m].append(j)
        logs[m] += np.log(max(var[j], 1e-12))
    return vec[:, [j for b in blocks for j in b]]
