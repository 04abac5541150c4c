"""Helpers shared by the teacher backends: image batches, normalisation, batching loops.

Nothing here imports torch at module import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import DataError, FeatureError

__all__ = ["spec_of", "to_uint8_images", "l2_normalize", "batch_slices", "run_batched", "torch_device", "check_unit_rows",
           "quiet_model_loading"]


def _pil_to_square(image: Any, size: int) -> np.ndarray:
    """Resize the shorter side of a PIL image to ``size``, centre-crop to ``size x size``."""
    from PIL import Image

    image = image.convert("RGB")
    w, h = image.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        image = image.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def to_uint8_images(images: Any, size: int) -> np.ndarray:
    """Images as uint8 ``[n, size, size, 3]``.

    Accepts a uint8 array ``[n, H, W, 3]`` (resized when ``H, W != size``) or a sequence of PIL
    images / uint8 ``[H, W, 3]`` arrays (shorter side resized, then centre-cropped).
    """
    from PIL import Image

    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise DataError(f"image array has shape {images.shape}; expected uint8 [n, H, W, 3]")
        if images.dtype != np.uint8:
            raise DataError(f"image array has dtype {images.dtype}; expected uint8 pixels in 0..255")
        if images.shape[1] == size and images.shape[2] == size:
            return np.ascontiguousarray(images)
        return np.stack([_pil_to_square(Image.fromarray(np.asarray(im)), size) for im in images]) if len(images) else \
            np.zeros((0, size, size, 3), np.uint8)
    out = []
    for k, im in enumerate(images):
        if isinstance(im, np.ndarray):
            if im.ndim != 3 or im.shape[-1] != 3 or im.dtype != np.uint8:
                raise DataError(f"image {k} has shape {im.shape} / dtype {im.dtype}; expected uint8 [H, W, 3]")
            im = Image.fromarray(im)
        elif not isinstance(im, Image.Image):
            raise DataError(f"image {k} is a {type(im).__name__}; expected a PIL image or a uint8 [H, W, 3] array")
        out.append(_pil_to_square(im, size))
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows divided by their L2 norm, as float32: ``x_i / max(||x_i||, eps)``.

    Computed in float64: float32 squares overflow above ~1.8e19, which made rows of values near
    1e38 divide by an infinite norm and come out as all-zero rows.
    """
    x64 = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x64, axis=1, keepdims=True)
    return (x64 / np.maximum(norms, eps)).astype(np.float32)


def check_unit_rows(x: np.ndarray, what: str, tol: float = 1e-3) -> None:
    """Raise FeatureError unless ``x`` is a finite 2-D float array with unit-norm rows (norms in float64)."""
    if x.ndim != 2:
        raise FeatureError(f"{what}: expected a 2-D array [N, D], got shape {x.shape}")
    from distilhash.finite import require_finite_rows

    require_finite_rows(x, what)
    if len(x):
        norms = np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1)
        off = np.flatnonzero(np.abs(norms - 1) > tol)
        if off.size:
            raise FeatureError(f"{what}: {off.size} of {len(x)} rows are not unit-norm (norms between "
                               f"{norms.min():.6g} and {norms.max():.6g}, e.g. row {int(off[0])}: {norms[off[0]]:.6g})")


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """``slice(0, b), slice(b, 2b), ...`` covering ``range(n)``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))


def run_batched(
    n: int,
    batch_size: int,
    fn: Callable[[slice], np.ndarray],
    width: int,
    progress: bool = False,
    desc: str = "encode",
) -> np.ndarray:
    """Concatenate ``fn(slice)`` over batches into float32 ``[n, width]`` (optional tqdm bar)."""
    out = np.empty((n, width), dtype=np.float32)
    slices = list(batch_slices(n, batch_size))
    if progress:
        from tqdm.auto import tqdm

        slices = tqdm(slices, desc=desc, unit="batch")
    for s in slices:
        out[s] = fn(s)
    return out


def torch_device(device: str | None) -> Any:
    """A torch device: ``None``/``"auto"`` -> cuda when available, else cpu."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def as_text_list(texts: Sequence[str] | str) -> list[str]:
    """A list of strings (a single string becomes a one-element list); non-strings rejected."""
    if isinstance(texts, str):
        return [texts]
    out = list(texts)
    for k, t in enumerate(out):
        if not isinstance(t, str):
            raise DataError(f"text {k} is a {type(t).__name__}; expected str")
    return out


@contextlib.contextmanager
def quiet_model_loading() -> Iterator[None]:
    """transformers' progress bars off while a model loads: a local checkpoint loads in well under a
    second, and its "Loading weights 103/103" bar only cluttered every command's output."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def spec_of(kind: str, target: str | Path) -> str:
    """The shortest spec that loads the teacher fitted into ``target``: ``KIND:NAME`` for
    ``$DISTILHASH_HOME/teachers/KIND-NAME``, else ``KIND:PATH``."""
    from distilhash.paths import teachers_dir

    target = Path(target)
    if target.parent.resolve() == teachers_dir().resolve() and target.name.startswith(f"{kind}-"):
        return f"{kind}:{target.name[len(kind) + 1:]}"
    return f"{kind}:{target}"
