"""SODA hash heads (torch): frozen teacher features -> relaxed codes in (-1, 1)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["HashHead", "HEAD_NAMES"]

#: The three heads of a SODA model: image and label prompt (stage 1), text (stage 2).
HEAD_NAMES = ("image", "prompt", "text")


class HashHead(nn.Module):
    """``h = tanh(W2 relu(W1 x))`` (``hidden > 0``) or ``tanh(W x)``; ``x [n, D] -> h [n, L]``."""

    def __init__(self, d_in: int, n_bits: int, hidden: int = 1024, dropout: float = 0.1) -> None:
        super().__init__()
        if hidden > 0:
            self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_bits))
        else:
            self.net = nn.Linear(d_in, n_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(x))

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
