"""Image stores: where a dataset's pixels come from.

Two kinds: an in-memory/memory-mapped uint8 array ``[N, H, W, 3]`` (generated datasets) and a
list of image files under a root directory (published datasets, user folders).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from distilhash.errors import DataError

__all__ = ["ImageStore", "ArrayImageStore", "FileImageStore", "open_image_file", "to_rgb_on_white", "fit_square",
           "ImageLimits", "ImageTooLargeError", "open_image_bounded"]

#: Colour that transparent pixels are composited onto (drawings and icons are made for white pages).
BACKGROUND: tuple[int, int, int] = (255, 255, 255)


@runtime_checkable
class ImageStore(Protocol):
    """Read access to the images of a dataset, by item index.

    ``size`` is the side S when every image is stored at S x S (an array store), None otherwise;
    ``path(i)`` is the file of image ``i``, or None when the pixels are not files.
    """

    @property
    def size(self) -> int | None: ...

    def __len__(self) -> int: ...

    def path(self, index: int) -> Path | None:
        """The file holding image ``index`` (None for in-memory images)."""
        ...

    def subset(self, indices: np.ndarray) -> ImageStore:
        """A store of the images ``indices`` (in that order)."""
        ...

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
    from distilhash.data.image_limits import check_image_file

    check_image_file(path)  # over the pixel budget: refused by name and size before decoding
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


@dataclass(frozen=True)
class ImageLimits:
    """What :func:`open_image_bounded` accepts (data).

    Attributes:
        max_pixels: most pixels (width * height, read from the file header before decoding).
        max_aspect: largest ratio of the longer side to the shorter side. A 1x600000 strip is
            only 600k pixels, but resizing its short side to a model's 224 px makes it 224x134M.
        max_side: the decoded image is reduced to at most this longer side (JPEG decodes at a
            reduced scale directly), so later work depends on this, not on the upload.
        formats: Pillow formats opened (others are refused before any decoder runs).
    """

    max_pixels: int = 40_000_000
    max_aspect: float = 20.0
    max_side: int = 1024
    formats: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


class ImageTooLargeError(DataError):
    """An image whose size or shape is over :class:`ImageLimits` (a service answers 413)."""


def open_image_bounded(source: bytes | str | Path, limits: ImageLimits = ImageLimits(), what: str | None = None):
    """Open an image (bytes or a file path) as RGB (transparency onto white) with the work bounded by ``limits``.

    The size is checked from the header before any pixel is decoded: over ``max_pixels`` or
    ``max_aspect`` raises :class:`ImageTooLargeError`. The decoded image is reduced to at most
    ``max_side`` px on its longer side (aspect kept). Anything unreadable (not an image, a format
    outside ``limits.formats``, truncated or damaged data) raises :class:`DataError`. Messages
    name ``what`` (default: the path, or "the image") and never carry Python object reprs.
    """
    from PIL import Image, UnidentifiedImageError

    from distilhash.data.image_limits import bomb_error, check_dimensions

    if what is None:
        what = "the image" if isinstance(source, (bytes, bytearray, memoryview)) else f"image file {source}"
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise DataError(f"{what} is empty; expected an image file ({', '.join(limits.formats)})")
        fp: Any = io.BytesIO(bytes(source))
    else:
        if not Path(source).is_file():
            raise DataError(f"{what}: no such file")
        fp = str(source)
    kinds = ", ".join(limits.formats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limits below are ours
        try:
            im = Image.open(fp, formats=list(limits.formats))
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(str(bomb_error(exc, what, limits.max_pixels))) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            kind = _signature(source)
            if kind in limits.formats:  # e.g. a PNG whose text chunk inflates past Pillow's limit
                raise DataError(f"{what} is a damaged {kind} file: its header chunks cannot be read") from None
            raise DataError(f"{what} is not an image in a supported format (expected {kinds})") from None
    with im:
        w, h = im.size
        try:
            check_dimensions((w, h), what, limits.max_pixels)  # the message style of every loader
        except DataError as exc:
            raise (ImageTooLargeError(str(exc)) if w >= 1 and h >= 1 else exc) from None
        if max(w, h) > limits.max_aspect * min(w, h):
            raise ImageTooLargeError(f"{what} is {w} x {h} pixels, an aspect ratio of {max(w, h) / min(w, h):,.0f}:1; "
                                     f"the limit is {limits.max_aspect:g}:1")
        try:
            im.draft("RGB", (limits.max_side, limits.max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
            im.load()
            decoded = im.width * im.height
            if max(im.size) > limits.max_side:
                im.thumbnail((limits.max_side, limits.max_side), reducing_gap=2.0)
            out = to_rgb_on_white(im)  # transparent pixels onto white, as every loader does
            if decoded > _TRIM_ABOVE_PIXELS:
                _release_freed_memory()
            return out
        except Image.DecompressionBombError:
            raise ImageTooLargeError(f"{what} has more pixels than Pillow decodes; the limit is {limits.max_pixels:,} pixels") from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise DataError(f"{what} is a truncated or damaged {im.format or 'image'} file; its pixels cannot be decoded") from None


#: the first bytes of each format's files -> its name (what a file claims to be, before Pillow reads it)
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
               (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def _signature(source: bytes | str | Path) -> str | None:
    """The format ``source`` claims by its first bytes (WebP: ``RIFF....WEBP``), or None."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:12])
    else:
        try:
            with open(source, "rb") as f:
                head = f.read(12)
        except OSError:
            return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)


#: decoded images larger than this hand their freed memory back to the OS afterwards
_TRIM_ABOVE_PIXELS = 4_000_000
_LIBC: list[Any] = []


def _release_freed_memory() -> None:
    """Return freed heap pages to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    The pixels of a large decoded image are freed once it is reduced, but glibc keeps freed
    blocks of that size in its per-thread arenas: 16 decodes of a 6000x6000 PNG on 8 threads
    left a process at 1.4 GB instead of 36 MB. Trimming after each large decode keeps it at
    its size before (a few ms per call).
    """
    if not _LIBC:
        import ctypes
        import ctypes.util

        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC.append(libc.malloc_trim)
        except (OSError, AttributeError):
            _LIBC.append(None)
    if _LIBC[0] is not None:
        _LIBC[0](0)


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

    def path(self, index: int) -> None:
        """In-memory pixels: no file."""
        return None

    def subset(self, indices: np.ndarray) -> ArrayImageStore:
        return ArrayImageStore(np.asarray(self.pixels[np.asarray(indices, dtype=np.int64)]))

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

    @property
    def size(self) -> None:
        """Files keep their own sizes: no single render size."""
        return None

    def subset(self, indices: np.ndarray) -> FileImageStore:
        return FileImageStore([self.paths[int(i)] for i in np.asarray(indices).reshape(-1)], self.root)

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
