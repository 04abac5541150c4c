"""Intra-modal distillation loss.

Inputs: ``z_img, z_txt [B, D]`` continuous, ``q_img, q_txt [B, D]`` quantized, target ``T [B, B]``
(symmetric after NPC). Items of the same modality should relate as the target says:

    L_ii = match(sim(z_img, q_img), T),   L_tt = match(sim(z_txt, q_txt), T)

Returns ``{"image": L_ii, "text": L_tt}``.
"""

from __future__ import annotations

from distilhash.losses.similarity_match import MatchKind, SimilarityMetric, match_similarity, student_similarity

__all__ = ["intra_modal_loss"]


def intra_modal_loss(z_img, z_txt, q_img, q_txt, T, *, kind: MatchKind = "mse", metric: SimilarityMetric = "ip",
                     tau_t: float = 0.1, tau_s: float = 0.1) -> dict:
    """Named terms ``image`` and ``text`` (see module docstring)."""
    return {
        "image": match_similarity(student_similarity(z_img, q_img, metric), T, kind, tau_t, tau_s),
        "text": match_similarity(student_similarity(z_txt, q_txt, metric), T, kind, tau_t, tau_s),
    }
