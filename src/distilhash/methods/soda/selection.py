"""Validation scores for model selection: mAP@all of {-1, +1} codes ranked by Hamming distance.

Queries are ``split.val`` items, the database is ``split.fit`` items; the mAP itself (relevance
``y_q . y_x > 0``, ties by database index) is :func:`distilhash.training.validation.map_all_from_distances`.
Used only to pick epochs; reported figures come from :mod:`distilhash.eval`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hamming_map"]


def hamming_map(q_codes: np.ndarray, db_codes: np.ndarray, q_labels: np.ndarray, db_labels: np.ndarray) -> float:
    """mAP@all of ``q_codes [nq, L]`` against ``db_codes [nd, L]`` (both in {-1, +1}) by Hamming distance."""
    from distilhash.training.validation import map_all_from_distances

    q = np.asarray(q_codes, dtype=np.float32)
    d = np.asarray(db_codes, dtype=np.float32)
    hamming = (q.shape[1] - q @ d.T) / 2.0
    return map_all_from_distances(hamming, q_labels, db_labels)
