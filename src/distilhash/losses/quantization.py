"""Quantization-alignment loss.

Inputs: continuous ``z [B, D]`` and quantized reconstruction ``q [B, D]`` per modality.

    L_m = mean_b ||z_b - q_b||^2                                   (eta = 1, default)
    L_m = mean_b ||r_b||^2 + (eta - 1) <r_b, z_b>^2 / ||z_b||^2    r = z - q (eta > 1: score-aware)

``eta`` weighs the residual's component parallel to the embedding eta times the orthogonal one
(:mod:`distilhash.quantizers.anisotropic`). Pulls codewords towards the embeddings and the embeddings towards their codewords (both get
gradients). Returns ``{"image": L_img, "text": L_txt}``.
"""

from __future__ import annotations

__all__ = ["quantization_loss"]


def quantization_loss(z_img, z_txt, q_img, q_txt, eta: float = 1.0) -> dict:
    """Named terms ``image`` and ``text`` (see module docstring)."""
    if eta != 1.0:
        from distilhash.quantizers.anisotropic import anisotropic_loss

        return {"image": anisotropic_loss(z_img, q_img, eta).mean(), "text": anisotropic_loss(z_txt, q_txt, eta).mean()}
    return {
        "image": ((z_img - q_img) ** 2).sum(1).mean(),
        "text": ((z_txt - q_txt) ** 2).sum(1).mean(),
    }
