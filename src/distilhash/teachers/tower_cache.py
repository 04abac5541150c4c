"""On-disk cache of a frozen image tower's features per dataset item, filled lazily row by row.

Layout under ``cache_dir``, keyed by the dataset content hash, the tower's weights fingerprint and
the image size (``<key> = lite0-<dataset hash 16>-<weights sha 16>-s<size>``)::

    <key>.rows.npy    float32 [N, D]  features of item i in row i (rows not yet computed are zeros)
    <key>.done.npy    bool    [N]     which rows hold computed features (replaced atomically after each chunk)

A request for some items computes only the rows not done yet, so the fit (split.train items) and a
later ``teacher extract`` (all items) together run the tower once per item; an interrupted run keeps
every finished chunk. Rows are written and flushed before the ``done`` mask that vouches for them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from distilhash.errors import FeatureError
from distilhash.io_utils import atomic_save_npy

__all__ = ["cached_rows"]


def cached_rows(cache_dir: str | Path | None, key: str, n_items: int, width: int, indices: np.ndarray,
                compute: Callable[[np.ndarray], np.ndarray], chunk: int = 512,
                on_rows: Callable[[int], object] | None = None) -> tuple[np.ndarray, int]:
    """Rows ``indices`` of the cache ``key`` (float32 ``[len(indices), width]``); returns (rows, n computed now).

    ``compute(idx)`` must return float32 ``[len(idx), width]`` for item indices ``idx``. With
    ``cache_dir=None`` everything is computed and nothing stored. ``on_rows(k)`` is called after each
    computed chunk of k rows (progress bars).
    """
    from numpy.lib.format import open_memmap

    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        raise FeatureError(f"tower cache {key}: item indices outside 0..{n_items - 1}")
    if cache_dir is None:
        out = np.empty((len(indices), width), np.float32)
        for s in range(0, len(indices), chunk):
            out[s:s + chunk] = compute(indices[s:s + chunk])
            if on_rows is not None:
                on_rows(len(indices[s:s + chunk]))
        return out, len(indices)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    rows_path, done_path = cache / f"{key}.rows.npy", cache / f"{key}.done.npy"
    done = np.load(done_path) if done_path.is_file() and rows_path.is_file() else None
    rows = open_memmap(rows_path, mode="r+") if done is not None else None
    if done is None or done.shape != (n_items,) or rows.shape != (n_items, width):
        rows = open_memmap(rows_path, mode="w+", dtype=np.float32, shape=(n_items, width))
        done = np.zeros(n_items, dtype=bool)
    todo = np.unique(indices[~done[indices]])
    for s in range(0, len(todo), chunk):
        idx = todo[s:s + chunk]
        block = np.asarray(compute(idx), dtype=np.float32)
        if block.shape != (len(idx), width) or not np.isfinite(block).all():
            raise FeatureError(f"tower cache {key}: computed rows have shape {block.shape} (or non-finite values), "
                               f"expected {(len(idx), width)}")
        rows[idx] = block
        rows.flush()
        done[idx] = True
        atomic_save_npy(done_path, done)
        if on_rows is not None:
            on_rows(len(idx))
    return np.asarray(rows[indices]), len(todo)
