"""Chance: the mAP@all of a random ranking, exactly, and as measured on random permutations.

The figure every retrieval mAP is read against. It is **not** the mean share of relevant items
(``R / N``, :func:`distilhash.data.stats.relevant_share`): a random ranking scores more than that,
because the first relevant hit is often early by luck.

For one query with ``R`` relevant items among ``N`` database items, ranked by a uniformly random
permutation, AP = (1/R) sum over relevant ranks k of hits(k)/k. Item at rank k is relevant with
probability R/N; given that, the other k-1 places above it hold (k-1)(R-1)/(N-1) relevant items
in expectation. Hence::

    E[AP] = (1/R) sum_{k=1..N} (R/N) * (1 + (k-1)(R-1)/(N-1)) / k
          = (R-1)/(N-1) + (N-R) * H_N / (N (N-1))          (N >= 2; H_N = sum_{k<=N} 1/k)

with E[AP] = 0 for R = 0 (a query without a relevant item counts 0, as in the protocol) and
E[AP] = 1 for R = N. The chance mAP@all of a query set is the mean of E[AP] over its queries
(:func:`random_map_exact`). :func:`random_map_measured` ranks by seeded random permutations and
scores them with the same per-query AP as every reported figure (a check, and the "measured
random ranking").
"""

from __future__ import annotations

import numpy as np

__all__ = ["expected_random_ap", "random_map_exact", "random_map_measured", "relevant_counts"]


def expected_random_ap(n_relevant: np.ndarray | int, n_database: int) -> np.ndarray:
    """E[AP@all] of a uniformly random ranking (module docstring); same shape as ``n_relevant``."""
    r = np.asarray(n_relevant, dtype=np.float64)
    n = int(n_database)
    if n < 1:
        raise ValueError(f"n_database must be >= 1, got {n_database}")
    if np.any(r < 0) or np.any(r > n):
        raise ValueError(f"n_relevant must lie in 0..{n}")
    if n == 1:
        return np.where(r > 0, 1.0, 0.0)
    h_n = float(np.sum(1.0 / np.arange(1, n + 1)))
    ap = (r - 1) / (n - 1) + (n - r) * h_n / (n * (n - 1))
    return np.where(r > 0, ap, 0.0)


def relevant_counts(query_labels: np.ndarray, database_labels: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Relevant database items per query (relevant = at least one shared label), int64 ``[nq]``."""
    yq = np.asarray(query_labels, dtype=np.float32)
    yd = np.asarray(database_labels, dtype=np.float32)
    out = [((yq[s : s + chunk] @ yd.T) > 0).sum(axis=1) for s in range(0, len(yq), chunk)]
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, np.int64)


def random_map_exact(query_labels: np.ndarray, database_labels: np.ndarray) -> float:
    """Chance mAP@all: the mean over queries of :func:`expected_random_ap`."""
    r = relevant_counts(query_labels, database_labels)
    return float(expected_random_ap(r, len(database_labels)).mean()) if len(r) else float("nan")


def random_map_measured(query_labels: np.ndarray, database_labels: np.ndarray, n_rankings: int = 10,
                        seed: int = 0) -> dict[str, float]:
    """mAP@all of ``n_rankings`` seeded random rankings: ``{"mean", "std" (sample), "n"}``.

    Each ranking gives every query its own random permutation of the database; AP as in
    :func:`distilhash.eval.ap.tie_broken_scores` (precision at each relevant rank, averaged).
    """
    from distilhash.eval.spread import mean_std

    yq = np.asarray(query_labels, dtype=np.float32)
    yd = np.asarray(database_labels, dtype=np.float32)
    rel = (yq @ yd.T) > 0  # [nq, nd]
    rng = np.random.default_rng(seed)
    nd = rel.shape[1]
    ranks_1 = np.arange(1, nd + 1, dtype=np.float64)
    maps = []
    for _ in range(n_rankings):
        order = np.argsort(rng.random(rel.shape), axis=1)
        hits = np.take_along_axis(rel, order, axis=1)
        cum = np.cumsum(hits, axis=1)
        n_rel = hits.sum(axis=1)
        ap = (hits * cum / ranks_1).sum(axis=1) / np.maximum(n_rel, 1)
        maps.append(float(ap.mean()))
    return mean_std(maps)
