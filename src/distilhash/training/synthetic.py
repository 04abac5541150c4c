"""Synthetic FeatureSets and splits for tests and smoke runs (no teacher needed).

Items get 1-3 of ``n_labels`` labels; each label has a prototype direction per modality. Image,
caption and label-text features are noisy normalised sums of their labels' prototypes, with the
label-text features compressed into a narrow cosine band against images (as VLP cosines are).
"""

from __future__ import annotations

import numpy as np

from distilhash.data.split import Split, SplitSpec, make_split
from distilhash.teachers.features import FeatureSet

__all__ = ["synthetic_features", "features_for_labels"]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def features_for_labels(labels: np.ndarray, width: int = 32, seed: int = 0, noise: float = 0.6) -> dict[str, np.ndarray]:
    """Synthetic teacher arrays ``image, text, label_text [N, width]`` and ``class_text [C, width]`` for ``labels [N, C]``."""
    rng = np.random.default_rng(seed)
    n, n_labels = labels.shape
    shared = rng.normal(size=(n_labels, width))
    proto_img = shared + 0.5 * rng.normal(size=(n_labels, width))
    proto_txt = shared + 0.5 * rng.normal(size=(n_labels, width))
    common = rng.normal(size=(1, width)) * 3.0  # a shared offset: raw cosines in a narrow band
    lab = labels.astype(np.float64)
    spread = np.sqrt(np.maximum(lab.sum(1, keepdims=True), 1))
    return {
        "image": _unit(lab @ proto_img + noise * rng.normal(size=(n, width)) * spread),
        "text": _unit(lab @ proto_txt + noise * rng.normal(size=(n, width)) * spread),
        "label_text": _unit(common + 0.3 * (lab @ shared) + 0.05 * rng.normal(size=(n, width))),
        "class_text": _unit(common + 0.3 * shared),
    }


def synthetic_features(n: int = 600, n_labels: int = 8, width: int = 32, seed: int = 0, noise: float = 0.6,
                       n_query: int = 100, n_train: int = 400, n_val: int = 80) -> tuple[FeatureSet, Split]:
    """A labelled :class:`FeatureSet` of ``n`` items (1-3 labels each) and a split (query / retrieval / train / val)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, n_labels), np.uint8)
    for i in range(n):
        labels[i, rng.choice(n_labels, rng.integers(1, 4), replace=False)] = 1
    arrays = features_for_labels(labels, width, seed, noise)
    fs = FeatureSet(labels=labels, ids=[f"s{i:05d}" for i in range(n)],
                    manifest={"teacher": "synthetic", "dataset": "synthetic", "width": width, "count": n}, **arrays)
    split = make_split(n, SplitSpec(n_query=n_query, n_train=n_train, n_retrieval=None, n_val=n_val, seed=seed), "synthetic")
    return fs, split
