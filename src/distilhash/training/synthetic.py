"""The one synthetic feature generator for tests, smoke suites and benches (no teacher needed).

:func:`synthetic_features` draws multi-hot labels, turns them into teacher-like unit features by
one of two named data models (:data:`SYNTHETIC_MODELS`; the caller says which) and makes a
seeded split (query / retrieval = all non-queries / train / val):

==============  ============================================================================
model           features
==============  ============================================================================
prototypes      (default) 1-3 of ``n_labels`` labels per item; each label has a prototype
                direction per modality; image / caption / label-text features are noisy
                normalised sums of their labels' prototypes, the label texts compressed into a
                narrow cosine band against images (as VLP cosines are)
                (:func:`features_for_labels`)
low-rank        labels at rate ``label_rate`` (at least one); a label-driven latent
                ``z = y P + noise`` of rank ``latent`` << ``width`` lifted by a random linear
                map, observed per modality with its own noise and offset (a modality gap):
                ``image = normalize(z A + e_img + o_img)``; low rank, so PCA-based codes beat
                random projections
==============  ============================================================================

Both are deterministic in ``seed``. A new data model is one function registered in
:data:`SYNTHETIC_MODELS`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distilhash.data.split import Split, SplitSpec, make_split
from distilhash.registry import Registry
from distilhash.teachers.features import FeatureSet

__all__ = ["synthetic_features", "features_for_labels", "SYNTHETIC_MODELS", "SyntheticData"]

#: model name -> ``f(n, n_labels, width, seed, **options) -> SyntheticData``
SYNTHETIC_MODELS: Registry = Registry("synthetic feature model")


@dataclass(frozen=True)
class SyntheticData:
    """What a data model draws: uint8 ``labels [N, C]``, the teacher arrays, item ids, and the
    content hash the split is keyed by (``hashes``: also record it and the split's hash in the manifest)."""

    labels: np.ndarray
    arrays: dict[str, np.ndarray]
    ids: list[str]
    content_hash: str
    hashes: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def features_for_labels(labels: np.ndarray, width: int = 32, seed: int = 0, noise: float = 0.6) -> dict[str, np.ndarray]:
    """Synthetic teacher arrays ``image, text, label_text [N, width]`` and ``class_text [C, width]`` for ``labels [N, C]``
    (the ``prototypes`` model; also used alone to give real datasets' labels synthetic features)."""
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


@SYNTHETIC_MODELS.register("prototypes")
def prototypes(n: int, n_labels: int, width: int, seed: int, noise: float = 0.6) -> SyntheticData:
    """1-3 labels per item, features from per-label prototypes (see module docstring)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, n_labels), np.uint8)
    for i in range(n):
        labels[i, rng.choice(n_labels, rng.integers(1, 4), replace=False)] = 1
    return SyntheticData(labels, features_for_labels(labels, width, seed, noise), [f"s{i:05d}" for i in range(n)],
                         "synthetic")


@SYNTHETIC_MODELS.register("low-rank")
def low_rank(n: int, n_labels: int, width: int, seed: int, noise: float = 0.3, latent: int = 12, gap: float = 0.5,
             label_rate: float = 0.12) -> SyntheticData:
    """Low-rank label-driven latent, lifted and observed per modality with a gap (see module docstring)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n_labels)) < label_rate).astype(np.uint8)
    labels[np.arange(n), rng.integers(0, n_labels, n)] = 1
    protos = rng.standard_normal((n_labels, latent))
    z = labels @ protos / np.sqrt(labels.sum(1, keepdims=True)) + noise * rng.standard_normal((n, latent))
    lift = rng.standard_normal((latent, width)) / np.sqrt(latent)
    base = z @ lift
    offsets = gap * rng.standard_normal((2, width)) / np.sqrt(width) * np.sqrt(latent)
    image = _unit(base + noise * 0.3 * rng.standard_normal(base.shape) + offsets[0])
    text = _unit(base + noise * 0.3 * rng.standard_normal(base.shape) + offsets[1])
    arrays = {"image": image, "text": text, "label_text": _unit(labels @ protos @ lift + offsets[1]),
              "class_text": _unit(protos @ lift + offsets[1])}
    digest = hashlib.sha256(np.concatenate([image, text]).tobytes()).hexdigest()[:16]
    return SyntheticData(labels, arrays, [f"syn{i:06d}" for i in range(n)], digest, hashes=True)


def synthetic_features(n: int = 600, n_labels: int = 8, width: int = 32, seed: int = 0, *, model: str = "prototypes",
                       n_query: int = 100, n_train: int = 400, n_val: int = 80,
                       **model_options: Any) -> tuple[FeatureSet, Split]:
    """A labelled :class:`FeatureSet` of ``n`` items and a seeded split.

    Args:
        model: a name of :data:`SYNTHETIC_MODELS` (``prototypes`` or ``low-rank``).
        model_options: that model's own knobs (``noise``; low-rank: ``latent``, ``gap``, ``label_rate``).

    Returns:
        (features with ``image`` / ``text`` / ``label_text`` float32 unit rows ``[n, width]``,
        ``class_text [n_labels, width]``, uint8 ``labels [n, n_labels]``; split).
    """
    data: SyntheticData = SYNTHETIC_MODELS.create(model, n, n_labels, width, seed, **model_options)
    split = make_split(n, SplitSpec(n_query=n_query, n_train=n_train, n_retrieval=None, n_val=n_val, seed=seed),
                       data.content_hash)
    manifest: dict[str, Any] = {"teacher": "synthetic", "dataset": "synthetic", "width": width, "count": n}
    if data.hashes:
        manifest.update(dataset_hash=data.content_hash, split_hash=split.hash)
    return FeatureSet(labels=data.labels, ids=data.ids, manifest=manifest, **data.arrays), split
