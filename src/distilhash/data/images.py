"""Image stores: where a dataset's pixels come from.

Two kinds: an in-memory/memory-mapped uint8 array ``[N, H, W, 3]`` (generated datasets) and a
list of image files under a root directory (published datasets, user folders).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from distilhash.errors import DataError

__all__ = ["ImageStore", "ArrayImageStore", "FileImageStore", "open_image_file", "to_rgb_on_white", "fit_square"]

#: Colour that transparent pixels are composited onto (drawings and icons are made for white pages).
BACKGROUND: tuple[int, int, int] = (255, 255, 255)


@runtime_checkable
class ImageStore(Protocol):
    """Read access to the images of a dataset, by item index."""

    def __len__(self) -> int: ...

    def load(self, index: int):  # -> PIL.Image.Image (RGB)
        """Return image ``index`` as an RGB PIL image."""
        ...

    def array(self, indices: Sequence[int] | np.ndarray, size: int) -> np.ndarray:
        """Return images ``indices`` resized to ``size`` x ``size`` as uint8 ``[n, size, size, 3]``."""
        ...


def open_image_file(path: str | Path):
    """Open an image file as RGB, with an error naming the file when it is missing or corrupt."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            return to_rgb_on_white(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"cannot read image file {path}: {exc} (expected a readable JPEG/PNG/...)") from exc


def to_rgb_on_white(image, background: tuple[int, int, int] = BACKGROUND):
    """RGB copy of a PIL image; pixels with transparency (RGBA, LA, palette/grey with a
    transparent colour) are alpha-composited onto ``background``: out = a·rgb + (1 - a)·bg.

    A plain ``convert("RGB")`` would drop alpha and show the (often black) colour under it.
    """
    from PIL import Image

    if image.mode == "RGB":
        return image.copy()
    if image.mode in ("RGBA", "LA", "PA") or (image.mode in ("P", "L", "RGB", "I", "I;16") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (*background, 255))
        flat.alpha_composite(rgba)
        return flat.convert("RGB")
    return image.convert("RGB")


def fit_square(image, size: int, background: tuple[int, int, int] = BACKGROUND):
    """Resize an RGB PIL image so its longer side is ``size`` (aspect ratio kept), centred on a
    ``size`` x ``size`` canvas of ``background``."""
    from PIL import Image

    w, h = image.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) != (w, h):
        image = image.resize((nw, nh), Image.LANCZOS if scale < 1 else Image.BICUBIC)
    if (nw, nh) == (size, size):
        return image
    canvas = Image.new("RGB", (size, size), background)
    canvas.paste(image, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def _resize_rgb(image, size: int) -> np.ndarray:
    from PIL import Image

    if image.size != (size, size):
        image = image.resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


class ArrayImageStore:
    """Images held in a uint8 array ``[N, H, W, 3]`` (possibly a read-only memory map)."""

    def __init__(self, pixels: np.ndarray) -> None:
        if pixels.ndim != 4 or pixels.shape[-1] != 3 or pixels.dtype != np.uint8:
            raise DataError(
                f"image array has shape {pixels.shape} and dtype {pixels.dtype}; expected uint8 [N, H, W, 3]"
            )
        self.pixels = pixels

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def size(self) -> int:
        return int(self.pixels.shape[1])

    def load(self, index: int):
        from PIL import Image

        return Image.fromarray(np.asarray(self.pixels[index]))

    def array(self, indices: Sequence[int] | np.ndarray, size: int) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        if size == self.pixels.shape[1] == self.pixels.shape[2]:
            return np.asarray(self.pixels[idx])
        return np.stack([_resize_rgb(self.load(int(i)), size) for i in idx]) if len(idx) else np.zeros(
            (0, size, size, 3), np.uint8
        )


class FileImageStore:
    """Images stored as files; ``paths`` are relative to ``root`` (or absolute)."""

    def __init__(self, paths: Sequence[str], root: str | Path | None = None) -> None:
        self.paths = list(paths)
        self.root = Path(root) if root is not None else None

    def __len__(self) -> int:
        return len(self.paths)

    def path(self, index: int) -> Path:
        p = Path(self.paths[index])
        return p if (p.is_absolute() or self.root is None) else self.root / p

    def load(self, index: int):
        return open_image_file(self.path(index))

    def array(self, indices: Sequence[int] | np.ndarray, size: int) -> np.ndarray:
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not idx:
            return np.zeros((0, size, size, 3), np.uint8)
        return np.stack([_resize_rgb(self.load(i), size) for i in idx])

    def missing(self) -> list[int]:
        """Indices of image files that do not exist."""
        return [i for i in range(len(self.paths)) if not self.path(i).is_file()]
