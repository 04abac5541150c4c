"""One DCMQ run's rankings at each stage between the teacher and the served codes, and their scores.

The stages of :class:`StageRankers`, for the same queries and database:

* ``float teacher``: teacher text vs teacher image features (cosine), the reference;
* ``float student``: the student's text head vs its image head, both continuous;
* ``codes, ADC``: the continuous text query vs the images' PQ codes (what DCMQ serves);
* ``codes, symmetric``: the query's and the images' PQ reconstructions.

The ratios between neighbouring stages split a loss into the student heads and the quantization.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["STAGES", "StageRankers", "float_encoded", "pq_reconstruct", "score_ranking"]

STAGES = ("float teacher", "float student", "codes, ADC", "codes, symmetric")


def float_encoded(x: np.ndarray):
    """Float rows ``[N, D]`` as an :class:`~distilhash.codes.Encoded` (cosine when rows are unit length)."""
    from distilhash.codes import Encoded

    x = np.ascontiguousarray(x, dtype=np.float32)
    return Encoded("float", x, 32 * x.shape[1])


def score_ranking(q: Any, db: Any, rel: np.ndarray) -> dict[str, float]:
    """P@1, P@10 and mAP@all of queries ``q`` over database ``db``; ``rel`` bool ``[nq, nd]`` (tie-aware)."""
    from distilhash.eval.metrics import evaluate

    nq = rel.shape[0]
    r = evaluate(q, db, np.eye(nq, dtype=np.uint8), rel.T.astype(np.uint8), top_n=(1, 10), tie_aware=True, curves=False)
    return {"p_at_10": float(r.precision_at[10]), "p_at_1": float(r.precision_at[1]), "map_all": float(r.map_all)}


def pq_reconstruct(codes: np.ndarray, books: np.ndarray) -> np.ndarray:
    """PQ reconstruction ``[N, M * d]`` of codes ``[N, M]`` with codebooks ``[M, K, d]``."""
    return np.concatenate([books[m][codes[:, m]] for m in range(books.shape[0])], axis=1)


class StageRankers:
    """Encoders for each stage of :data:`STAGES` of one fitted DCMQ model (quantized, frozen backbone)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def encode(self, stage: str, modality: str, feats: np.ndarray):
        """``feats`` ``[N, D]`` teacher features of ``modality`` ("image" / "text") encoded as ``stage`` ranks them."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
        m = self.model
        if stage == "float teacher":
            return float_encoded(feats / np.linalg.norm(feats, axis=1, keepdims=True).clip(1e-12))
        if stage == "float student" or (stage == "codes, ADC" and modality == "text"):
            return m.encode(modality, feats, role="query")
        codes = m.encode(modality, feats, role="database")
        if stage == "codes, ADC":
            return codes
        return float_encoded(pq_reconstruct(codes.data, codes.codebooks))
