"""Ranked row lists scored and timed: one query per call, recall against a reference top-k, mAP and
precision of ranked lists (TREC style), and the candidates an IVF searcher scans (``bench/index_ivf.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distilhash.benchmark.kernel_timing import one_query_per_call

__all__ = ["timed_search", "recall", "ap_lists", "precision_at", "ivf_candidates", "quality"]


def timed_search(searcher: Any, queries: np.ndarray, k: int) -> tuple[list, float]:
    """One query per call; returns (results, seconds per query)."""
    from distilhash.index.topk import NO_TOMBSTONES

    out, secs = one_query_per_call(lambda q: searcher.search(q, k, NO_TOMBSTONES), queries)
    return out, sum(secs) / len(queries)


def recall(got: list, ref: list, k: int) -> float:
    """Mean share of each query's reference top-k rows (``ref[i][1]``) found in ``got[i][1][:k]``."""
    return float(np.mean([len(np.intersect1d(g[1][:k], r[1][:k])) / max(1, min(k, len(r[1]))) for g, r in zip(got, ref)]))


def ap_lists(ranked: list[np.ndarray], rel: np.ndarray, depth: int | None) -> float:
    """mAP of ranked row lists; ``depth`` None = AP over all relevant items (unretrieved = 0),
    else AP@depth = mean precision at the relevant hits within the first ``depth`` / their count."""
    aps = []
    for i, rows in enumerate(ranked):
        r = rows if depth is None else rows[:depth]
        hit = rel[i, r]
        n_rel = int(rel[i].sum()) if depth is None else int(hit.sum())
        if n_rel == 0:
            aps.append(0.0)
            continue
        pos = np.flatnonzero(hit)
        aps.append(float(((np.arange(len(pos)) + 1) / (pos + 1)).sum() / n_rel))
    return float(np.mean(aps))


def precision_at(ranked: list[np.ndarray], rel: np.ndarray, depth: int) -> float:
    """Mean fraction of relevant items among the first ``depth`` (missing positions count as misses)."""
    return float(np.mean([rel[i, rows[:depth]].sum() / depth for i, rows in enumerate(ranked)]))


def ivf_candidates(searcher: Any, queries: np.ndarray, nprobe: int) -> list[np.ndarray]:
    """Every item of the probed lists ranked by (ADC distance, row), per query."""
    from distilhash.index.pq import lookup_tables
    from distilhash.index.topk import NO_TOMBSTONES

    searcher._flush()
    tables = lookup_tables(queries, searcher.codebooks, searcher.metric)
    scores = searcher._coarse_scores(queries)
    out = []
    for i in range(len(queries)):
        lists = searcher._probe_order(scores[i], min(nprobe, searcher.centroids.shape[0]))
        _, rows, _ = searcher._scan(tables[i], lists, searcher.ntotal, NO_TOMBSTONES)
        out.append(rows)
    return out


def quality(ranked: list[np.ndarray], rel: np.ndarray) -> dict[str, float]:
    """mAP@all, mAP@100, mAP@1000, P@10 and P@100 of ranked row lists against ``rel`` [nq, n] bool."""
    return {"map_all": ap_lists(ranked, rel, None), "map@100": ap_lists(ranked, rel, 100), "map@1000": ap_lists(ranked, rel, 1000),
            "p@10": precision_at(ranked, rel, 10), "p@100": precision_at(ranked, rel, 100)}
