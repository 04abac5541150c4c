"""Symmetric InfoNCE (the CLIP / LiT contrastive loss) of matched image and text rows.

For unit rows ``z`` [B, D] (images) and ``t`` [B, D] (texts) and temperature ``tau = exp(log_tau)``:

    logits = z t^T / tau                                      [B, B]
    L = 1/2 (CE(logits, diag) + CE(logits^T, diag))           row i's positive is column i

Used to fit the LiT teacher tower and to pretrain the LCDH image student.
"""

from __future__ import annotations

__all__ = ["symmetric_infonce"]


def symmetric_infonce(z, t, log_tau):
    """Symmetric InfoNCE of unit rows ``z`` [B, D] (images) and ``t`` [B, D] (texts); a scalar tensor."""
    import torch

    logits = z @ t.T / log_tau.exp()
    target = torch.arange(z.shape[0])
    ce = torch.nn.functional.cross_entropy
    return 0.5 * (ce(logits, target) + ce(logits.T, target))
