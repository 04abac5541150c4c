"""Validation scores for model selection: mAP@all of {-1, +1} codes ranked by Hamming distance.

Queries are ``split.val`` items, the database is ``split.fit`` items, relevance ``y_q . y_x > 0``
(the protocol's definition), ties broken by database index (stable sort). Used only to pick
epochs; reported figures come from :mod:`distilhash.eval`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hamming_map"]


def hamming_map(q_codes: np.ndarray, db_codes: np.ndarray, q_labels: np.ndarray, db_labels: np.ndarray,
                chunk: int = 256) -> float:
    """Mean over queries of average precision (queries without a relevant item count 0).

    Args:
        q_codes: ``[nq, L]`` in {-1, +1}; db_codes: ``[nd, L]`` in {-1, +1}.
        q_labels: ``[nq, C]`` multi-hot; db_labels: ``[nd, C]`` multi-hot.
    """
    q = np.asarray(q_codes, dtype=np.float32)
    d = np.asarray(db_codes, dtype=np.float32)
    yq = np.asarray(q_labels, dtype=np.float32)
    yd = np.asarray(db_labels, dtype=np.float32)
    ranks = np.arange(1, d.shape[0] + 1, dtype=np.float64)
    total = 0.0
    for start in range(0, len(q), chunk):
        dist = -(q[start : start + chunk] @ d.T)  # monotone in Hamming distance
        order = np.argsort(dist, axis=1, kind="stable")
        rel = ((yq[start : start + chunk] @ yd.T) > 0)
        rel = np.take_along_axis(rel, order, axis=1).astype(np.float64)
        hits = np.cumsum(rel, axis=1)
        n_rel = rel.sum(1)
        ap = (rel * hits / ranks).sum(1) / np.maximum(n_rel, 1)
        total += float(ap.sum())
    return total / max(len(q), 1)
