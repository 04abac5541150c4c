"""Seeding."""

from __future__ import annotations

import random

import numpy as np

from distilhash.threads import ensure_threads, set_threads

__all__ = ["seed_everything", "set_threads"]


def seed_everything(seed: int):
    """Seed python, numpy and torch; return ``(np.random.Generator, torch.Generator)`` for ``seed``.

    Also applies the thread policy of :mod:`distilhash.threads` (once per process), since every
    training run starts here.
    """
    import torch

    ensure_threads()

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    return np.random.default_rng(seed), gen
