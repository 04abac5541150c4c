"""Lite0 pooled image features of dataset items, cached per item (shared by the lite0-minilm fit and teacher).

``tower_features(ds, rows, image_size, cache_dir)`` -> float32 ``[len(rows), 1280]``: the frozen
EfficientNet-Lite0 tower's pooled output, computed only for rows not in the cache yet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["tower_features"]


def tower_features(ds, indices: np.ndarray, image_size: int, cache_dir: Path | None, backbone=None,
                   batch_size: int = 16, progress: bool = True) -> tuple[np.ndarray, bool]:
    """Lite0 pooled features float32 ``[len(indices), 1280]`` of ``ds`` items; returns (features, all from cache).

    Cached per item (:func:`distilhash.teachers.tower_cache.cached_rows`) under a key made of the dataset
    content hash, the Lite0 weights sha256 and the image size; only rows not cached yet are computed.
    """
    from distilhash.teachers.efficientnet_lite0 import POOLED_WIDTH, Lite0Backbone, encode_pooled, weights_fingerprint
    from distilhash.teachers.tower_cache import cached_rows

    key = f"lite0-{ds.content_hash()[:16]}-{weights_fingerprint()}-s{image_size}"
    state: dict[str, object] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(indices), desc=f"Lite0 features ({image_size} px)", unit="img")

    def compute(idx: np.ndarray) -> np.ndarray:
        if "backbone" not in state:
            state["backbone"] = backbone or Lite0Backbone().frozen()
        # the bar moves per batch of the tower (not per cache chunk of 512): tqdm redraws at most 10 times a second
        return encode_pooled(state["backbone"], ds.images.array(idx, image_size), batch_size,
                             on_batch=bar.update if bar is not None else None)

    rows, n_computed = cached_rows(cache_dir, key, len(ds), POOLED_WIDTH, indices, compute)
    if bar is not None:
        if bar.n < len(indices):
            bar.update(len(indices) - bar.n)  # rows found in the cache
        bar.close()
    return rows, n_computed == 0
