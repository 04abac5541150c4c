"""Seeding."""

from __future__ import annotations

import os
import random

import numpy as np

__all__ = ["seed_everything", "set_threads"]


def set_threads(n: int | None = None) -> int:
    """Limit torch intra-op threads to ``n`` (default: ``$DISTILHASH_THREADS`` or 1); returns it."""
    import torch

    n = int(n or os.environ.get("DISTILHASH_THREADS", 1))
    torch.set_num_threads(n)
    return n


def seed_everything(seed: int):
    """Seed python, numpy and torch; return ``(np.random.Generator, torch.Generator)`` for ``seed``."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    return np.random.default_rng(seed), gen
