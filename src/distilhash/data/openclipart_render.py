"""Pixels of one openclipart drawing: the pre-rendered PNG, or the SVG rendered by cairosvg.

Both paths end in the same square: transparent pixels composited onto white
(:func:`distilhash.data.images.to_rgb_on_white`), white margins trimmed (many drawings sit in a
corner of a larger page), the drawing resized so its longer side is
``size`` and centred on a white ``size`` x ``size`` canvas (:func:`~distilhash.data.images.fit_square`).

The PNG is used when it exists, decodes, and has at most ``max_png_pixels`` pixels (the package
holds a few posters of up to 16,000 px a side that take seconds each to decode; their SVG renders
straight at the target size in milliseconds). :func:`render_drawing` says which path it took and
why the PNG was passed over.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distilhash.data.images import fit_square, to_rgb_on_white
from distilhash.errors import DataError

__all__ = ["Rendered", "render_drawing", "render_svg", "is_blank"]


@dataclass
class Rendered:
    """A rendered drawing.

    Attributes:
        pixels: uint8 ``[size, size, 3]``.
        via: ``"png"`` or ``"svg"``.
        png_problem: why the PNG was not used ("" when it was).
    """

    pixels: np.ndarray
    via: str
    png_problem: str = ""


def _trim(rgb, margin: float = 0.04):
    """Crop an RGB PIL image to the box of its non-white pixels plus ``margin`` of the box side
    (drawings often sit in a corner of a larger transparent page); an all-white image is kept."""
    from PIL import Image, ImageChops

    box = ImageChops.difference(rgb, Image.new("RGB", rgb.size, (255, 255, 255))).getbbox()
    if box is None:
        return rgb
    pad = round(margin * max(box[2] - box[0], box[3] - box[1]))
    box = (max(0, box[0] - pad), max(0, box[1] - pad), min(rgb.width, box[2] + pad), min(rgb.height, box[3] + pad))
    return rgb.crop(box) if box != (0, 0, rgb.width, rgb.height) else rgb


def _png(path: Path, size: int, max_pixels: int) -> tuple[np.ndarray | None, str]:
    from PIL import Image

    if not path.is_file():
        return None, "PNG missing"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    return None, f"PNG too large to decode quickly ({w}x{h} px > {max_pixels} px)"
                im.load()
                rgb = to_rgb_on_white(im)
    except Image.DecompressionBombError as exc:
        return None, f"PNG too large ({exc})"
    except (OSError, SyntaxError, ValueError) as exc:
        return None, f"PNG unreadable ({exc})"
    if min(w, h) < 1:
        return None, f"PNG empty ({w}x{h} px)"
    return np.asarray(fit_square(_trim(rgb), size), dtype=np.uint8), ""


def render_svg(path: str | Path, size: int, data: bytes | None = None) -> np.ndarray:
    """Render an SVG file with cairosvg (longer side ``2 * size``), then composite and fit as a PNG.

    ``data``: the SVG's bytes when it is not a file (a member of an archive); ``path`` then only names it.

    Raises:
        DataError: naming the file when cairosvg is missing or cannot render it.
    """
    try:
        import cairosvg
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataError("rendering SVG needs the cairosvg package (pip install cairosvg)") from exc
    from PIL import Image

    try:
        source = {"url": str(path)} if data is None else {"bytestring": data}
        png = cairosvg.svg2png(**source, output_width=2 * size)
        with Image.open(io.BytesIO(png)) as im:
            im.load()
            rgb = to_rgb_on_white(im)
    except Exception as exc:  # cairosvg raises many kinds (ValueError, KeyError, XML errors, ...)
        raise DataError(f"cannot render SVG {path}: {type(exc).__name__}: {exc}"[:400]) from exc
    return np.asarray(fit_square(_trim(rgb), size), dtype=np.uint8)


def render_drawing(svg: Path, png: Path, size: int, max_png_pixels: int = 4_000_000) -> Rendered:
    """The drawing's pixels from ``png`` if usable, else from ``svg``.

    Raises:
        DataError: when neither gives an image (the message holds both reasons).
    """
    pixels, problem = _png(png, size, max_png_pixels)
    if pixels is not None:
        return Rendered(pixels, "png")
    try:
        return Rendered(render_svg(svg, size), "svg", problem)
    except DataError as exc:
        raise DataError(f"{problem}; {exc}") from exc


def is_blank(pixels: np.ndarray, min_std: float) -> bool:
    """True when the image is near-uniform: the standard deviation of its grey levels
    (0.299 R + 0.587 G + 0.114 B, over all pixels) is below ``min_std``."""
    grey = pixels[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return float(grey.std()) < min_std
