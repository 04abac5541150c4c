"""Pairwise logistic likelihood of label similarity from code inner products (SODA, both stages).

Inputs: relaxed codes ``a [n, L]`` and ``b [m, L]`` in ``[-1, 1]`` (or fixed ``{-1, +1}`` codes),
label similarity ``s [n, m]`` in ``{0, 1}`` (``s_ij = [y_i . y_j > 0]``).

    Theta_ij = theta_scale * <a_i, b_j> / L
    nll_ij   = log(1 + exp(Theta_ij)) - s_ij * Theta_ij        (= -log p(s_ij | a_i, b_j))

``weighting="none"`` averages over all pairs; ``"balanced"`` gives the positive and the negative
pairs one half of the weight each (label-similarity matrices are often very unbalanced).
Dividing by L keeps Theta in ``[-theta_scale, theta_scale]`` whatever the code length.
"""

from __future__ import annotations

__all__ = ["pairwise_likelihood"]


def pairwise_likelihood(a, b, s, theta_scale: float = 8.0, weighting: str = "none"):
    """Scalar negative log-likelihood (see module docstring)."""
    import torch.nn.functional as F

    from distilhash.errors import ConfigError

    theta = theta_scale * (a @ b.T) / a.shape[1]
    nll = F.softplus(theta) - s * theta
    if weighting == "none":
        return nll.mean()
    if weighting == "balanced":
        n_pos = s.sum().clamp_min(1.0)
        n_neg = (1.0 - s).sum().clamp_min(1.0)
        return 0.5 * (nll * s).sum() / n_pos + 0.5 * (nll * (1.0 - s)).sum() / n_neg
    raise ConfigError(f"pair weighting {weighting!r}; expected 'none' or 'balanced'")
