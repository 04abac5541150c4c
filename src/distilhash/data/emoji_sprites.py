"""Emoji glyph sprites for EmojiScenes, rendered once per process and scaled once per size.

:func:`glyph_assets` loads the emoji catalogue and renders every glyph from the font at 109 px
(about 2 s); :func:`base_sprites` keeps them pre-scaled to a base side (premultiplied RGBa, so
Pillow does not convert at every resize) with the per-(emoji, size) cache the generator fills.
:func:`clear_sprite_caches` forgets both (a fresh process re-renders from the font).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from distilhash.data.emoji_assets import EmojiCatalog, load_catalog, render_glyphs

__all__ = ["glyph_assets", "base_sprites", "fit_sprite", "clear_sprite_caches"]

_GLYPH_CACHE: dict[tuple[str, ...], tuple[EmojiCatalog, list[np.ndarray | None], dict[str, int]]] = {}


def glyph_assets(
    exclude_groups: tuple[str, ...], progress: bool = False
) -> tuple[EmojiCatalog, list[np.ndarray | None], dict[str, int]]:
    """Catalogue and 109 px glyph sprites, computed once per process (about 2 s)."""
    if exclude_groups not in _GLYPH_CACHE:
        catalog = load_catalog(exclude_groups=exclude_groups)
        sprites, rejected = render_glyphs([e.chars for e in catalog.emojis], progress=progress)
        for sp in sprites:
            if sp is not None:
                sp.setflags(write=False)
        _GLYPH_CACHE.clear()  # keep one catalogue (about 60 MB of 109 px sprites)
        _BASE_CACHE.clear()
        _GLYPH_CACHE[exclude_groups] = (catalog, sprites, rejected)
    return _GLYPH_CACHE[exclude_groups]


#: (exclude_groups, base side) -> (premultiplied base sprites, shared (emoji, size) -> sprite cache).
_BASE_CACHE: dict[tuple[tuple[str, ...], int], tuple[list[Any], dict[tuple[int, int], Any]]] = {}


def base_sprites(
    exclude_groups: tuple[str, ...], sprites: list[np.ndarray], base: int
) -> tuple[list[Any], dict[tuple[int, int], Any]]:
    """Glyph sprites scaled once to a ``base`` px longer side, kept premultiplied ("RGBa"),
    since Pillow would otherwise convert at every resize; plus the per-size cache they feed."""
    from PIL import Image

    key = (exclude_groups, base)
    if key not in _BASE_CACHE:
        if len(_BASE_CACHE) >= 4:
            _BASE_CACHE.pop(next(iter(_BASE_CACHE)))
        _BASE_CACHE[key] = (
            [
                fit_sprite(Image.fromarray(s, "RGBA"), min(base, max(s.shape[:2]))).convert("RGBa")
                for s in sprites
            ],
            {},
        )
    return _BASE_CACHE[key]


def fit_sprite(image, side: int, fast: bool = False):
    """Scale an RGBA image so that its longer side is ``side`` (aspect kept).

    Pillow filters scale their support with the reduction, so ``fast`` (bilinear) is still
    antialiased; Lanczos is used once, for the 109 px -> base sprite reduction.
    """
    from PIL import Image

    w, h = image.size
    s = side / max(w, h)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return image.resize(size, Image.BILINEAR if fast else Image.LANCZOS)


def clear_sprite_caches() -> None:
    """Forget the rendered glyphs and scaled sprites (the next generator re-renders them from the font)."""
    _GLYPH_CACHE.clear()
    _BASE_CACHE.clear()
