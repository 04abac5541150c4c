"""Quantization-alignment loss.

Inputs: continuous ``z [B, D]`` and quantized reconstruction ``q [B, D]`` per modality.

    L_m = mean_b ||z_b - q_b||^2

Pulls codewords towards the embeddings and the embeddings towards their codewords (both get
gradients). Returns ``{"image": L_img, "text": L_txt}``.
"""

from __future__ import annotations

__all__ = ["quantization_loss"]


def quantization_loss(z_img, z_txt, q_img, q_txt) -> dict:
    """Named terms ``image`` and ``text`` (see module docstring)."""
    return {
        "image": ((z_img - q_img) ** 2).sum(1).mean(),
        "text": ((z_txt - q_txt) ** 2).sum(1).mean(),
    }
