"""SODA hash heads (torch): frozen teacher features -> relaxed codes in (-1, 1)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["HashHead", "HEAD_NAMES"]

#: The three heads of a SODA model: image and label prompt (stage 1), text (stage 2).
HEAD_NAMES = ("image", "prompt", "text")


class HashHead(nn.Module):
    """``h = tanh(W2 relu(W1 x'))`` (``hidden > 0``) or ``tanh(W x')``; ``x [n, D] -> h [n, L]``.

    ``x' = (x - mu) / sigma`` with per-dimension statistics set by :meth:`standardize_with` (identity
    until then). Teacher features are unit rows that share a large common direction and have tiny
    per-dimension spread (about 0.04 for D=384); standardizing keeps the first layer out of the
    near-zero-output regime where every item gets the same sign pattern.
    """

    def __init__(self, d_in: int, n_bits: int, hidden: int = 1024, dropout: float = 0.1) -> None:
        super().__init__()
        self.register_buffer("mu", torch.zeros(d_in))
        self.register_buffer("sigma", torch.ones(d_in))
        if hidden > 0:
            self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_bits))
        else:
            self.net = nn.Linear(d_in, n_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net((x - self.mu) / self.sigma))

    @torch.no_grad()
    def standardize_with(self, x: torch.Tensor, eps: float = 1e-6) -> None:
        """Set ``mu`` / ``sigma`` to the per-dimension mean / std of ``x [n, D]`` (fit rows)."""
        self.mu.copy_(x.mean(0))
        self.sigma.copy_(x.std(0).clamp_min(eps))

    @torch.no_grad()
    def codes(self, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Binary codes ``sign(h)`` in ``{-1, +1}`` (0 maps to +1), float ``[n, L]``, eval mode."""
        was_training = self.training
        self.eval()
        out = torch.cat([self(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]) if len(x) else x.new_zeros((0, self.n_bits))
        self.train(was_training)
        return torch.where(out >= 0, 1.0, -1.0)

    @property
    def n_bits(self) -> int:
        last = self.net[-1] if isinstance(self.net, nn.Sequential) else self.net
        return int(last.out_features)
