"""A pixel budget for image files, so that a tiny file claiming huge dimensions is refused by name.

Pillow guards against decompression bombs by raising ``DecompressionBombError`` (an exception
outside ``OSError``, so it escaped the readers' error handling as a traceback) above twice its
``MAX_IMAGE_PIXELS`` and only warning between one and two times it. :func:`check_dimensions`
refuses anything over :data:`MAX_PIXELS` with the file, its width x height and the limit, and
:func:`bomb_error` turns Pillow's own error into the same kind of message.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from distilhash.errors import DataError

__all__ = ["MAX_PIXELS", "check_dimensions", "check_image_file", "bomb_error", "is_bomb_error"]

#: Largest accepted image, in pixels (Pillow's default guard: about 89.5 M, e.g. 9459 x 9459).
MAX_PIXELS = 89_478_485


def _megapixels(n: int) -> str:
    return f"{n / 1e6:,.1f} megapixels"


def check_dimensions(size: tuple[int, int], where: str | Path, max_pixels: int = MAX_PIXELS) -> None:
    """Raise DataError unless a ``(width, height)`` image fits ``max_pixels`` and has both sides >= 1.

    ``where`` starts the message, e.g. ``"image file a.png"`` -> "image file a.png is 50000 x 50000 pixels ...".
    """
    w, h = int(size[0]), int(size[1])
    if w < 1 or h < 1:
        raise DataError(f"{where} is {w} x {h} pixels; expected both sides >= 1")
    if w * h > max_pixels:
        raise DataError(f"{where} is {w} x {h} pixels ({_megapixels(w * h)}), over the limit of "
                        f"{_megapixels(max_pixels)}; resize it first (a file this large decodes to "
                        f"{w * h * 3 / 2**30:,.1f} GiB of RGB pixels)")


def is_bomb_error(exc: BaseException) -> bool:
    """Whether ``exc`` is Pillow's ``DecompressionBombError``."""
    from PIL import Image

    return isinstance(exc, Image.DecompressionBombError)


def bomb_error(exc: BaseException, where: str | Path, max_pixels: int = MAX_PIXELS) -> DataError:
    """A DataError naming ``where`` and the pixel count Pillow refused (its message holds the count)."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = _megapixels(int(found.group(1))) if found else "too many pixels"
    return DataError(f"{where} is {size}, over the limit of {_megapixels(max_pixels)} "
                     "(refused before decoding: a decompression bomb or an image to resize first)")


def check_image_file(path: str | Path, max_pixels: int = MAX_PIXELS) -> None:
    """Read only the header of image file ``path`` and raise DataError when it is over ``max_pixels``.

    Files that cannot be opened at all are left to the caller's decoder (and its error message).
    """
    from PIL import Image

    where = f"image file {path}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit below is ours
        try:
            with Image.open(path) as im:
                size = im.size
        except Exception as exc:
            if is_bomb_error(exc):
                raise bomb_error(exc, where, max_pixels) from None
            return
    check_dimensions(size, where, max_pixels)
