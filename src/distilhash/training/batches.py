"""Seeded mini-batch index iterators."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["minibatches", "n_batches"]


def n_batches(n: int, batch_size: int, drop_last: bool = True) -> int:
    """How many batches :func:`minibatches` yields for ``n`` items."""
    if drop_last and n >= batch_size:
        return n // batch_size
    return (n + batch_size - 1) // batch_size


def minibatches(n: int, batch_size: int, rng: np.random.Generator, drop_last: bool = True) -> Iterator[np.ndarray]:
    """Yield int64 index arrays covering a fresh permutation of ``range(n)``.

    ``drop_last`` drops a final short batch (unless ``n < batch_size``, then one batch of all).
    """
    perm = rng.permutation(n)
    for b in range(n_batches(n, batch_size, drop_last)):
        yield perm[b * batch_size : (b + 1) * batch_size]
