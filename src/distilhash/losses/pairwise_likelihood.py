"""The pairwise logistic likelihood of a similarity matrix from code inner products.

One function serves every method that scores pairs this way (LCDH teacher and student, SODA's
two stages, DCMH). For relaxed codes ``a [n, L]`` and ``b [m, L]`` (in ``[-1, 1]``, or fixed
``{-1, +1}`` codes) and a target similarity ``s [n, m]`` in ``[0, 1]`` (soft targets allowed)::

    Theta_ij = scale * <a_i, b_j>
    nll_ij   = log(1 + exp(Theta_ij)) - s_ij * Theta_ij        (= -log p(s_ij | a_i, b_j))

with ``p(s_ij = 1) = sigmoid(Theta_ij)``; computed with ``softplus`` for stability. Callers pick
``scale``: LCDH ``lam / L``, SODA ``theta_scale / L`` (dividing by L keeps Theta in
``[-theta_scale, theta_scale]`` whatever the code length), DCMH ``1/2``.

``weighting="none"`` averages ``nll`` over all ``n * m`` pairs; ``"balanced"`` gives the positive
and the negative pairs one half of the weight each (label-similarity matrices are often very
unbalanced): ``0.5 * sum(s * nll) / sum(s) + 0.5 * sum((1 - s) * nll) / sum(1 - s)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["pairwise_logistic_nll", "PAIR_WEIGHTINGS"]

PAIR_WEIGHTINGS = ("none", "balanced")


def pairwise_logistic_nll(a: torch.Tensor, b: torch.Tensor, s: torch.Tensor, scale: float,
                          weighting: str = "none") -> torch.Tensor:
    """Scalar negative log-likelihood of ``s [n, m]`` given ``a [n, L]``, ``b [m, L]`` (module docstring)."""
    import torch.nn.functional as F

    theta = scale * (a @ b.T)
    nll = F.softplus(theta) - s * theta
    if weighting == "none":
        return nll.mean()
    if weighting == "balanced":
        n_pos = s.sum().clamp_min(1.0)
        n_neg = (1.0 - s).sum().clamp_min(1.0)
        return 0.5 * (nll * s).sum() / n_pos + 0.5 * (nll * (1.0 - s)).sum() / n_neg
    from distilhash.errors import ConfigError

    raise ConfigError(f"pair weighting {weighting!r}; expected one of {', '.join(map(repr, PAIR_WEIGHTINGS))}")
