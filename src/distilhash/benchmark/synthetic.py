"""Synthetic teacher features with known structure, for tests and smoke suites.

Each item has multi-hot labels ``y [C]``. A label-driven latent ``z = y P + noise`` (rank
``latent`` << ``dim``) is mapped to the feature width by a random linear map and observed per
modality with independent noise and a per-modality offset (a "modality gap"):

    image = normalize(z A + e_img + o_img),   text = normalize(z A + e_txt + o_txt)

so that relevance (shared labels) is recoverable from either modality, the data is low-rank
(PCA-based codes beat random projections) and a cross-modal model can learn it.
"""

from __future__ import annotations

import hashlib

import numpy as np

from distilhash.data.split import Split, SplitSpec, make_split
from distilhash.teachers.features import FeatureSet

__all__ = ["synthetic_features"]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def synthetic_features(
    n_items: int = 1200,
    n_labels: int = 10,
    dim: int = 64,
    latent: int = 12,
    noise: float = 0.3,
    gap: float = 0.5,
    label_rate: float = 0.12,
    n_query: int = 200,
    n_train: int = 600,
    n_val: int = 100,
    seed: int = 0,
) -> tuple[FeatureSet, Split]:
    """A :class:`FeatureSet` of ``n_items`` rows and a seeded split (retrieval = all non-queries).

    Returns:
        (features with ``image``/``text``/``label_text`` ``[n_items, dim]`` unit rows,
        ``class_text [n_labels, dim]``, uint8 ``labels``; split).
    """
    rng = np.random.default_rng(seed)
    labels = (rng.random((n_items, n_labels)) < label_rate).astype(np.uint8)
    labels[np.arange(n_items), rng.integers(0, n_labels, n_items)] = 1
    protos = rng.standard_normal((n_labels, latent))
    z = labels @ protos / np.sqrt(labels.sum(1, keepdims=True)) + noise * rng.standard_normal((n_items, latent))
    lift = rng.standard_normal((latent, dim)) / np.sqrt(latent)
    base = z @ lift
    offsets = gap * rng.standard_normal((2, dim)) / np.sqrt(dim) * np.sqrt(latent)
    image = _unit(base + noise * 0.3 * rng.standard_normal(base.shape) + offsets[0])
    text = _unit(base + noise * 0.3 * rng.standard_normal(base.shape) + offsets[1])
    label_text = _unit(labels @ protos @ lift + offsets[1])
    class_text = _unit(protos @ lift + offsets[1])
    digest = hashlib.sha256(np.concatenate([image, text]).tobytes()).hexdigest()[:16]
    split = make_split(n_items, SplitSpec(n_query=n_query, n_train=n_train, n_retrieval=None, n_val=n_val, seed=seed), digest)
    features = FeatureSet(
        image=image,
        text=text,
        labels=labels,
        ids=[f"syn{i:06d}" for i in range(n_items)],
        label_text=label_text,
        class_text=class_text,
        manifest={"teacher": "synthetic", "dataset": "synthetic", "dataset_hash": digest, "split_hash": split.hash,
                  "width": dim, "count": n_items},
    )
    return features, split
