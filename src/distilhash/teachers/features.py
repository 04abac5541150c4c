"""FeatureSet: a dataset's teacher features, as every method reads them.

Arrays (float32, unit-norm rows, all of width D, rows aligned with the dataset's items):

* ``image``        ``[N, D]`` teacher image embeddings
* ``text``         ``[N, D]`` teacher embeddings of each item's caption/tags
* ``label_text``   ``[N, D]`` teacher embeddings of each item's label prompt
                   ("a photo of {l1}, {l2} and {l3}"), used by DCMQ / SODA
* ``class_text``   ``[C, D]`` one prompt per label (zero-shot classification)
* ``labels``       uint8 ``[N, C]`` multi-hot labels (copied from the dataset)

plus ``ids`` and a ``manifest`` (teacher name, dataset and split hash, count, width, checksums).
The cache writer/reader lives in :mod:`distilhash.teachers.cache`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distilhash.errors import FeatureError

__all__ = ["FeatureSet"]


@dataclass
class FeatureSet:
    """Teacher features of one dataset (see module docstring for shapes)."""

    image: np.ndarray
    text: np.ndarray
    labels: np.ndarray
    ids: list[str]
    label_text: np.ndarray | None = None
    class_text: np.ndarray | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("image", "text", "label_text"):
            arr = getattr(self, name)
            if arr is None:
                continue
            if arr.ndim != 2 or arr.shape[0] != n:
                raise FeatureError(f"feature array {name!r} has shape {arr.shape}; expected [{n}, D]")
            if arr.shape[1] != self.image.shape[1]:
                raise FeatureError(f"feature array {name!r} has width {arr.shape[1]}; image width is {self.image.shape[1]}")
        if self.labels.shape[0] != n:
            raise FeatureError(f"labels have {self.labels.shape[0]} rows; expected {n}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def teacher(self) -> str:
        return str(self.manifest.get("teacher", "unknown"))

    def teacher_identity(self) -> dict[str, Any]:
        """Which teacher made these features, for run records: ``{"spec", "fingerprint" (weights and
        heads), "features_split_hash", "fitted_on", "fitted_on_split"}`` (None where the cache does not say)."""
        m = self.manifest or {}
        info = m.get("teacher_info") if isinstance(m.get("teacher_info"), dict) else {}
        return {"spec": self.teacher, "fingerprint": m.get("teacher_fingerprint") or info.get("fingerprint"),
                "features_split_hash": m.get("split_hash"), "fitted_on": info.get("fitted_on"),
                "fitted_on_split": info.get("fitted_on_split")}

    def take(self, indices: np.ndarray) -> FeatureSet:
        """Rows ``indices`` of every per-item array (class_text and manifest are shared)."""
        idx = np.asarray(indices, dtype=np.int64)
        return FeatureSet(
            image=self.image[idx],
            text=self.text[idx],
            labels=self.labels[idx],
            ids=[self.ids[i] for i in idx],
            label_text=None if self.label_text is None else self.label_text[idx],
            class_text=self.class_text,
            manifest=self.manifest,
        )
