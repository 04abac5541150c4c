"""Noto Color Emoji glyphs as titled images, and the rule that holds half of the subgroups out.

Each glyph is drawn once, centred on white (:func:`glyph_on_white`), titled by its CLDR name. The
open-vocabulary benchmark (:mod:`distilhash.benchmark.open_vocab`) uses the subgroups that
:func:`emoji_held_out` assigns to it; teachers may fit only on the others
(:mod:`distilhash.teachers.pair_sources`). Splitting by subgroup keeps near-duplicates (a man and a
woman firefighter, a cat and a cat face) on one side.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from distilhash.errors import DataError

__all__ = ["TitledImages", "EMOJI_SALT", "emoji_held_out", "glyph_on_white", "emoji_glyphs"]

#: Salt of the emoji subgroup hash (fixed with the rule; changing it changes the held-out half).
EMOJI_SALT = "distilhash open-vocabulary emoji held-out v1"


@dataclass
class TitledImages:
    """A set of titled images: ``images`` uint8 ``[n, S, S, 3]``, one ``titles`` string and id per item."""

    name: str
    ids: list[str]
    titles: list[str]
    images: np.ndarray
    meta: dict

    def __len__(self) -> int:
        return len(self.ids)


def emoji_held_out(subgroup: str) -> bool:
    """True when the emoji subgroup belongs to the benchmark (a salted hash, half of the subgroups)."""
    return hashlib.sha256(f"{EMOJI_SALT}/{subgroup}".encode()).digest()[0] % 2 == 0


def glyph_on_white(sprite: np.ndarray, size: int, margin: float = 0.08) -> np.ndarray:
    """An RGBA glyph sprite ``[h, w, 4]`` centred on a white ``[size, size, 3]`` uint8 square."""
    from PIL import Image

    inner = max(1, round(size * (1 - 2 * margin)))
    im = Image.fromarray(sprite, "RGBA")
    s = inner / max(im.size)
    im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.LANCZOS)
    canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    canvas.alpha_composite(im, ((size - im.size[0]) // 2, (size - im.size[1]) // 2))
    return np.asarray(canvas.convert("RGB"))


def emoji_glyphs(held_out: bool, size: int = 128, progress: bool = False) -> TitledImages:
    """Emoji glyphs of the held-out subgroups (``held_out=True``) or of the others, titled by CLDR name.

    ``meta`` holds the keywords of each glyph (``keywords``), its subgroup, and the counts filtered.
    """
    from distilhash.data.emoji_sprites import glyph_assets

    catalog, sprites, rejected = glyph_assets(("Component", "Flags"), progress=progress)
    keep = [i for i, e in enumerate(catalog.emojis) if sprites[i] is not None and emoji_held_out(e.subgroup) == held_out]
    if not keep:
        raise DataError("no emoji glyph left for the open-vocabulary benchmark; is fonts-noto-color-emoji installed?")
    emojis = [catalog.emojis[i] for i in keep]
    images = np.stack([glyph_on_white(sprites[i], size) for i in keep])
    subgroups = sorted({e.subgroup for e in emojis})
    return TitledImages(
        "emoji" if held_out else "emoji-fit",
        ids=[f"emoji-{'-'.join(f'{ord(c):x}' for c in e.chars)}" for e in emojis],
        titles=[e.name for e in emojis],
        images=images,
        meta={"keywords": [list(e.keywords) for e in emojis], "subgroup": [e.subgroup for e in emojis],
              "subgroups": subgroups, "catalog_filtered": catalog.filtered, "render_rejected": rejected,
              "emoji_version": catalog.emoji_version, "held_out": held_out, "salt": EMOJI_SALT},
    )
