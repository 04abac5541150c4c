"""A seeded grid of a dataset's images, for looking at what a prepared dataset holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distilhash.data.dataset import CrossModalDataset

__all__ = ["sample_grid", "save_sample_grid"]


def sample_grid(ds: CrossModalDataset, rows: int = 6, cols: int = 8, size: int = 96, seed: int = 0,
                gap: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``rows * cols`` images drawn without replacement with ``seed``, each ``size`` px, tiled
    row-major with ``gap`` grey pixels between them.

    Returns:
        (uint8 ``[rows*(size+gap)-gap, cols*(size+gap)-gap, 3]`` grid, the item indices shown).
    """
    n = min(rows * cols, len(ds))
    idx = np.sort(np.random.default_rng(seed).choice(len(ds), size=n, replace=False)) if n else np.zeros(0, np.int64)
    tiles = ds.images.array(idx, size)
    step = size + gap
    grid = np.full((rows * step - gap, cols * step - gap, 3), 160, dtype=np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        grid[r * step : r * step + size, c * step : c * step + size] = tile
    return grid, idx


def save_sample_grid(ds: CrossModalDataset, path: str | Path, **kwargs) -> np.ndarray:
    """Write :func:`sample_grid` as a PNG at ``path``; returns the item indices shown."""
    from PIL import Image

    grid, idx = sample_grid(ds, **kwargs)
    Image.fromarray(grid).save(path, optimize=True)
    return idx
