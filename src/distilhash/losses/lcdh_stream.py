"""LCDH online-student loss for one mini-batch of the current stream chunk.

Inputs:
  * ``f [B, L]``, ``g [B, L]``: the student's relaxed image / text codes (tanh outputs) of B items
    of the current chunk (row i of both is item i);
  * ``s [B, B]``: target similarity from the teacher codes, ``S = (1 + b_t b_t^T / L) / 2``;
  * optionally frozen codes of earlier chunks, ``old_img [M, L]`` and ``old_txt [M, L]`` (±1, the
    stored database codes, never recomputed) with their targets ``s_old [B, M]`` from the teacher
    codes of the batch against those of the M old items.

Equations (``nll`` = mean logistic NLL with ``Theta = (lam / L) x y^T``, see pairwise_likelihood)::

    L = nll(f, g, s)                                           cross-modal, current chunk
      + intra_weight * (nll(f, f, s) + nll(g, g, s)) / 2       optional intra-modal
      + old_weight   * (nll(f, old_txt, s_old) + nll(g, old_img, s_old)) / 2     vs frozen codes
      + old_intra    * (nll(f, old_img, s_old) + nll(g, old_txt, s_old)) / 2     optional
      + lambda1 * mean_i (||f_i - sgn f_i||^2 + ||g_i - sgn g_i||^2) / (2L)      quantization
      + lambda2 * (||mean_i f_i||^2 + ||mean_i g_i||^2) / (2L)                   bit balance
      + align_weight * mean_i (||f_i - b_i||^2 + ||g_i - b_i||^2) / (2L)   optional, needs ``b`` (teacher codes)

Returns the weighted named terms and ``total``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from distilhash.losses.pairwise_likelihood import pairwise_logistic_nll

__all__ = ["LCDHStreamLoss", "code_similarity", "TARGETS"]

#: how teacher code agreement c = a b^T / L in [-1, 1] becomes a target similarity in [0, 1]
TARGETS = ("linear", "standardized")


def code_similarity(a: torch.Tensor, b: torch.Tensor, target: str = "linear", gain: float = 3.0) -> torch.Tensor:
    """Target similarity of ±1 codes ``a [n, L]``, ``b [m, L]`` -> ``[n, m]`` in [0, 1].

    ``linear``: ``(1 + c) / 2`` (the reconstruction's default); ``standardized``:
    ``sigmoid(gain * (c - mean(c)) / std(c))`` over the matrix (sharper contrast when codes of
    unrelated items already agree on about half their bits).
    """
    c = (a @ b.T) / a.shape[1]
    if target == "linear":
        return 0.5 * (1.0 + c)
    if target == "standardized":
        return torch.sigmoid(gain * (c - c.mean()) / c.std().clamp(min=1e-6))
    raise ValueError(f"unknown target {target!r}; expected one of {TARGETS}")


@dataclass
class LCDHStreamLoss:
    """Student loss with its weights (see module docstring)."""

    lam: float = 8.0
    intra_weight: float = 0.0
    old_weight: float = 1.0
    old_intra_weight: float = 0.0
    lambda1: float = 0.1
    lambda2: float = 0.01
    align_weight: float = 0.0

    def __call__(self, f: torch.Tensor, g: torch.Tensor, s: torch.Tensor, old_img: torch.Tensor | None = None,
                 old_txt: torch.Tensor | None = None, s_old: torch.Tensor | None = None,
                 b: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        n_bits = f.shape[1]
        scale = self.lam / n_bits

        def nll(x: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return pairwise_logistic_nll(x, y, target, scale)

        terms = {"cross": nll(f, g, s)}
        if self.intra_weight:
            terms["intra"] = self.intra_weight * 0.5 * (nll(f, f, s) + nll(g, g, s))
        if old_img is not None and old_txt is not None and s_old is not None and len(old_img) and self.old_weight:
            terms["old"] = self.old_weight * 0.5 * (nll(f, old_txt, s_old) + nll(g, old_img, s_old))
            if self.old_intra_weight:
                terms["old_intra"] = self.old_intra_weight * 0.5 * (nll(f, old_img, s_old) + nll(g, old_txt, s_old))
        if self.lambda1:
            q = ((f - torch.sign(f).detach()) ** 2).sum(1).mean() + ((g - torch.sign(g).detach()) ** 2).sum(1).mean()
            terms["quant"] = self.lambda1 * q / (2 * n_bits)
        if self.lambda2:
            terms["balance"] = self.lambda2 * ((f.mean(0) ** 2).sum() + (g.mean(0) ** 2).sum()) / (2 * n_bits)
        if self.align_weight and b is not None:
            terms["align"] = self.align_weight * (((f - b) ** 2).sum(1).mean() + ((g - b) ** 2).sum(1).mean()) / (2 * n_bits)
        terms["total"] = sum(terms.values())
        return terms
