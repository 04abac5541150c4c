"""Summary statistics of a prepared dataset (shown by ``distilhash data info`` and the bench scripts)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["relevant_share", "text_length_stats", "labels_per_item"]


def relevant_share(labels: np.ndarray, query: np.ndarray, retrieval: np.ndarray, chunk: int = 1024) -> dict[str, float]:
    """Share of the database relevant to a query, summarised over queries.

    For query q: ``r_q = |{d in retrieval : y_q · y_d > 0}| / |retrieval|`` (relevant = at least one
    shared label). This is **not** the chance level: a random ranking's expected mAP@all is a
    little higher (:func:`distilhash.eval.chance.random_map_exact`, which ``distilhash data info``
    prints beside it).

    Returns:
        ``{"mean", "median", "min", "max", "queries_without_relevant"}``.
    """
    y = np.asarray(labels, dtype=np.float32)
    yr = y[np.asarray(retrieval)]
    q = np.asarray(query)
    shares = np.concatenate(
        [((y[q[s : s + chunk]] @ yr.T) > 0).mean(axis=1) for s in range(0, len(q), chunk)]
    ) if len(q) and len(yr) else np.zeros(0)
    if not len(shares):
        return {"mean": float("nan"), "median": float("nan"), "min": float("nan"), "max": float("nan"),
                "queries_without_relevant": 0}
    return {
        "mean": round(float(shares.mean()), 4),
        "median": round(float(np.median(shares)), 4),
        "min": round(float(shares.min()), 4),
        "max": round(float(shares.max()), 4),
        "queries_without_relevant": int((shares == 0).sum()),
    }


def text_length_stats(texts: list[str]) -> dict[str, Any]:
    """Words per text (whitespace-split): mean, median, max, and the number of empty texts."""
    n_words = np.array([len(t.split()) for t in texts], dtype=np.int64)
    if not len(n_words):
        return {"mean": 0.0, "median": 0.0, "max": 0, "empty": 0}
    return {
        "mean": round(float(n_words.mean()), 2),
        "median": float(np.median(n_words)),
        "max": int(n_words.max()),
        "empty": int((n_words == 0).sum()),
    }


def labels_per_item(labels: np.ndarray) -> dict[str, Any]:
    """Labels per item: mean, min, max and the histogram ``{count: items}``."""
    per = np.asarray(labels).sum(axis=1).astype(np.int64)
    if not len(per):
        return {"mean": 0.0, "min": 0, "max": 0, "hist": {}}
    values, counts = np.unique(per, return_counts=True)
    return {"mean": round(float(per.mean()), 3), "min": int(per.min()), "max": int(per.max()),
            "hist": {int(v): int(c) for v, c in zip(values, counts)}}
