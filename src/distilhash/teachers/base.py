"""The teacher protocol: images and texts into one L2-normalised space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Teacher"]


@runtime_checkable
class Teacher(Protocol):
    """A frozen vision-language model.

    ``encode_images`` takes uint8 ``[n, H, W, 3]`` pixel arrays or PIL images;
    ``encode_texts`` takes strings. Both return float32 ``[n, width]`` with unit-norm rows.
    ``name`` is recorded in every result.
    """

    name: str
    width: int

    def encode_images(self, images, batch_size: int = 64, progress: bool = False) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> np.ndarray: ...
