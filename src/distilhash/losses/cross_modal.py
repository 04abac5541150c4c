"""Cross-modal distillation loss (DCMQ).

Inputs (batch of B matched items): continuous embeddings ``z_img, z_txt [B, D]``, their quantized
reconstructions ``q_img, q_txt [B, D]`` and the target ``T [B, B]`` (row i = image i, column
j = text/label text j).

    L_i2t = match(sim(z_img, q_txt), T)      image query vs quantized text items
    L_t2i = match(sim(z_txt, q_img), T^T)    text query vs quantized image items

which is exactly how retrieval scores a continuous query against stored codes (ADC). With
``q = z`` (no quantizer) the same loss trains the float student.
Returns ``{"i2t": L_i2t, "t2i": L_t2i}``.
"""

from __future__ import annotations

from distilhash.losses.similarity_match import MatchKind, SimilarityMetric, match_similarity, student_similarity

__all__ = ["cross_modal_loss"]


def cross_modal_loss(z_img, z_txt, q_img, q_txt, T, *, kind: MatchKind = "mse", metric: SimilarityMetric = "ip",
                     tau_t: float = 0.1, tau_s: float = 0.1) -> dict:
    """Named terms ``i2t`` and ``t2i`` (see module docstring)."""
    return {
        "i2t": match_similarity(student_similarity(z_img, q_txt, metric), T, kind, tau_t, tau_s),
        "t2i": match_similarity(student_similarity(z_txt, q_img, metric), T.T, kind, tau_t, tau_s),
    }
