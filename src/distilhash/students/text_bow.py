"""Bag-of-words text student: an MLP on BoW vectors ``[n, V]`` -> ``[n, hidden]``.

The vocabulary (:class:`distilhash.students.vocab.Vocabulary`) is built from the training text
by the method; this module only holds the network.
"""

from __future__ import annotations

import torch
from torch import nn

from distilhash.errors import DataError
from distilhash.students import TEXT_STUDENTS

__all__ = ["BowMLP"]


class BowMLP(nn.Module):
    """``Linear(V, hidden) -> ReLU -> Dropout``; ``out_dim = hidden``."""

    def __init__(self, vocab_size: int, hidden: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        self.vocab_size = int(vocab_size)
        self.net = nn.Sequential(nn.Linear(vocab_size, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.out_dim = int(hidden)

    def forward(self, bow: torch.Tensor) -> torch.Tensor:
        if bow.ndim != 2 or bow.shape[1] != self.vocab_size:
            raise DataError(f"text student expects BoW [n, {self.vocab_size}], got {tuple(bow.shape)}")
        return self.net(bow.float())


@TEXT_STUDENTS.register("bow")
def _bow(vocab_size: int, hidden: int = 512, dropout: float = 0.1, **_: object) -> BowMLP:
    return BowMLP(vocab_size, hidden, dropout)
