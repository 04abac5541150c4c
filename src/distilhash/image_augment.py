"""Training-time image augmentation of uint8 pixel batches (torch), shared by the image networks.

``augment_batch``: per sample, a horizontal flip with probability 1/2 and a translation by up to
``max_shift`` pixels in each direction (reflect padding, then a random ``S x S`` crop).
"""

from __future__ import annotations

import numpy as np

__all__ = ["augment_batch"]


def augment_batch(x, rng: np.random.Generator, flip: bool, max_shift: int):
    """Random flip and translation of a uint8 batch ``[n, S, S, 3]`` (torch), per sample."""
    import torch

    n, s = x.shape[0], x.shape[1]
    if flip:
        mask = torch.from_numpy(rng.random(n) < 0.5)
        x = torch.where(mask.view(n, 1, 1, 1), x.flip(2), x)
    if max_shift > 0:
        p = max_shift
        padded = torch.nn.functional.pad(x.permute(0, 3, 1, 2).float(), (p, p, p, p), mode="reflect")
        dy = rng.integers(0, 2 * p + 1, n)
        dx = rng.integers(0, 2 * p + 1, n)
        rows = torch.from_numpy(dy[:, None] + np.arange(s)[None, :])  # [n, S]
        cols = torch.from_numpy(dx[:, None] + np.arange(s)[None, :])
        idx_n = torch.arange(n).view(n, 1, 1)
        out = padded.permute(0, 2, 3, 1)[idx_n, rows.view(n, s, 1), cols.view(n, 1, s)]  # [n, S, S, 3]
        x = out.round().clamp(0, 255).to(torch.uint8)
    return x
