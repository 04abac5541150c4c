"""``toy[:WIDTH]`` — a deterministic random-projection teacher (TOY, scratch: not for merging).

Images: uint8 ``[n, 16, 16, 3]`` pixels flattened and projected by a fixed Gaussian matrix.
Texts: words hashed into 1024 buckets, the bag projected by a second fixed matrix. Rows unit-norm.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from distilhash.teachers.base import TeacherBase
from distilhash.teachers.common import l2_normalize
from distilhash.teachers.registry import TEACHERS

_SIDE, _BUCKETS = 16, 1024


@TEACHERS.register("toy")
class ToyTeacher(TeacherBase):
    """Random projections of pixels and hashed words into ``width`` dims."""

    image_size = _SIDE

    def __init__(self, width: int = 32, **options: Any) -> None:
        self.width = int(width)
        self.name = f"toy:{self.width}"
        rng = np.random.default_rng(1234)
        self._img = rng.standard_normal((_SIDE * _SIDE * 3, self.width)).astype(np.float32)
        self._txt = rng.standard_normal((_BUCKETS, self.width)).astype(np.float32)

    @classmethod
    def from_spec(cls, arg: str | None, **options: Any) -> ToyTeacher:
        return cls(int(arg) if arg else 32, **options)

    def encode_images(self, images: Any, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32).reshape(len(images), -1) / 255.0
        return l2_normalize(x @ self._img).astype(np.float32)

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
        bags = np.zeros((len(texts), _BUCKETS), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                bags[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % _BUCKETS] += 1.0
        return l2_normalize(bags @ self._txt + 1e-6).astype(np.float32)
