"""The logistic (maximum-likelihood) similarity-matrix term shared by the LCDH losses.

For relaxed codes ``f [n, L]`` and ``g [m, L]`` in [-1, 1] and a target similarity ``s [n, m]``
in [0, 1]::

    Theta = (lam / L) f g^T
    nll   = mean_ij  log(1 + exp(Theta_ij)) - s_ij Theta_ij

i.e. the negative log-likelihood of ``s`` under ``P(similar) = sigmoid(Theta)`` (soft targets
allowed). Computed with ``softplus`` for stability.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["logistic_nll"]


def logistic_nll(f: torch.Tensor, g: torch.Tensor, s: torch.Tensor, lam: float) -> torch.Tensor:
    """Mean pairwise logistic NLL (see module docstring); scalar tensor."""
    theta = (lam / f.shape[1]) * (f @ g.T)
    return (F.softplus(theta) - s * theta).mean()
