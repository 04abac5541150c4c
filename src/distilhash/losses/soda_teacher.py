"""SODA stage-1 loss: image hash head and label-prompt hash head trained together.

Inputs: relaxed image codes ``f [B, L]`` and label-prompt codes ``g [B, L]`` (tanh outputs) of the
same B items (row i of f and of g describe item i), label similarity ``s [B, B]`` in ``{0, 1}``.

    L = w_cross * nll(f, g, s)                          cross-modal likelihood (image vs prompt)
      + w_intra * (nll(f, f, s) + nll(g, g, s)) / 2     intra-modal likelihood
      + w_align * mean_i ||f_i - g_i||^2 / L            matched (image, prompt) pairs coincide
      + w_quant * mean_i (||f_i - sgn f_i||^2 + ||g_i - sgn g_i||^2) / (2L)
      + w_bal   * (||mean_i f_i||^2 + ||mean_i g_i||^2) / (2L)     bit balance

with ``nll`` the pairwise logistic likelihood of :mod:`.pairwise_likelihood`, ``Theta = (theta_scale / L) x y^T``.
Returns the named terms (already weighted) and ``total``.
"""

from __future__ import annotations

from dataclasses import dataclass

from distilhash.losses.pairwise_likelihood import pairwise_logistic_nll

__all__ = ["SodaTeacherLoss"]


@dataclass
class SodaTeacherLoss:
    """Stage-1 loss with its weights (see module docstring)."""

    theta_scale: float = 8.0
    weighting: str = "none"
    cross_weight: float = 1.0
    intra_weight: float = 0.0
    align_weight: float = 1.0
    quant_weight: float = 0.1
    balance_weight: float = 0.0

    def __call__(self, f, g, s) -> dict:
        n_bits = f.shape[1]
        scale = self.theta_scale / n_bits
        terms = {"lik_cross": self.cross_weight * pairwise_logistic_nll(f, g, s, scale, self.weighting)}
        if self.intra_weight:
            intra = pairwise_logistic_nll(f, f, s, scale, self.weighting)
            intra = intra + pairwise_logistic_nll(g, g, s, scale, self.weighting)
            terms["lik_intra"] = self.intra_weight * intra / 2
        if self.align_weight:
            terms["align"] = self.align_weight * ((f - g) ** 2).sum(1).mean() / n_bits
        if self.quant_weight:
            quant = ((f - f.sign()) ** 2).sum(1).mean() + ((g - g.sign()) ** 2).sum(1).mean()
            terms["quant"] = self.quant_weight * quant / (2 * n_bits)
        if self.balance_weight:
            bal = (f.mean(0) ** 2).sum() + (g.mean(0) ** 2).sum()
            terms["balance"] = self.balance_weight * bal / (2 * n_bits)
        terms["total"] = sum(terms.values())
        return terms
