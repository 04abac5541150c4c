"""LCDH offline-teacher loss: fused relaxed codes ``h [B, L]`` (tanh outputs) fit label similarity.

Inputs: ``h [B, L]`` for B items, label similarity ``s [B, B]`` (1 if the items share a label,
else 0; or a soft similarity in [0, 1]).

    L = nll(h, h, s; lam)                         logistic likelihood, Theta = (lam / L) h h^T (pairwise_likelihood)
      + quant_weight   * mean_i ||h_i - sgn h_i||^2 / L
      + balance_weight * ||mean_i h_i||^2 / L

Returns the weighted named terms and ``total``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from distilhash.losses.pairwise_likelihood import pairwise_logistic_nll

__all__ = ["LCDHTeacherLoss"]


@dataclass
class LCDHTeacherLoss:
    """Teacher loss with its weights (see module docstring)."""

    lam: float = 8.0
    quant_weight: float = 0.1
    balance_weight: float = 0.01

    def __call__(self, h: torch.Tensor, s: torch.Tensor) -> dict[str, torch.Tensor]:
        n_bits = h.shape[1]
        terms = {"likelihood": pairwise_logistic_nll(h, h, s, self.lam / n_bits)}
        if self.quant_weight:
            terms["quant"] = self.quant_weight * ((h - torch.sign(h).detach()) ** 2).sum(1).mean() / n_bits
        if self.balance_weight:
            terms["balance"] = self.balance_weight * (h.mean(0) ** 2).sum() / n_bits
        terms["total"] = sum(terms.values())
        return terms
