"""SODA stage-2 loss: the text hash head against the fixed image Hamming space.

Inputs: relaxed text codes ``h [B, L]`` (tanh outputs) of a batch, the fixed binary image codes
``b_img [M, L]`` in ``{-1, +1}`` from stage 1 (all fit items, or the batch's), label similarity
``s [B, M]`` in ``{0, 1}``, and the alignment target ``t [B, L]`` in ``{-1, +1}`` of the same items
(their label-prompt codes, or their image codes), or None.

    L = w_lik   * nll(h, b_img, s)          text codes fit the image Hamming space (b_img fixed)
      + w_align * mean_i ||h_i - t_i||^2 / L
      + w_quant * mean_i ||h_i - sgn h_i||^2 / L

with ``nll`` the pairwise logistic likelihood of :mod:`.pairwise_likelihood`, ``Theta = (theta_scale / L) x y^T``.
No gradient reaches ``b_img`` or ``t``. Returns the named terms (already weighted) and ``total``.
"""

from __future__ import annotations

from dataclasses import dataclass

from distilhash.losses.pairwise_likelihood import pairwise_logistic_nll

__all__ = ["SodaStudentLoss"]


@dataclass
class SodaStudentLoss:
    """Stage-2 loss with its weights (see module docstring)."""

    theta_scale: float = 8.0
    weighting: str = "none"
    lik_weight: float = 1.0
    align_weight: float = 1.0
    quant_weight: float = 0.1

    def __call__(self, h, b_img, s, target=None) -> dict:
        n_bits = h.shape[1]
        scale = self.theta_scale / n_bits
        terms = {"lik": self.lik_weight * pairwise_logistic_nll(h, b_img.detach(), s, scale, self.weighting)}
        if self.align_weight and target is not None:
            terms["align"] = self.align_weight * ((h - target.detach()) ** 2).sum(1).mean() / n_bits
        if self.quant_weight:
            terms["quant"] = self.quant_weight * ((h - h.sign()) ** 2).sum(1).mean() / n_bits
        terms["total"] = sum(terms.values())
        return terms
