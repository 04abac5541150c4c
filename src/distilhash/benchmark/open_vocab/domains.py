"""The databases of the open-vocabulary benchmark, and which items they may hold.

* ``openclipart``: every item of the prepared dataset's ``split.query`` (1,000 drawings no stage
  fits or selects on); its *title* is read again from the drawing's SVG metadata (the dataset's
  text is title + tags, and tags are not used for relevance).
* ``emoji``: Noto Color Emoji glyphs (fully-qualified, no skin-tone variants, groups Component
  and Flags left out), each one drawing on white, titled by its CLDR name. Only the emoji
  subgroups that :func:`emoji_held_out` assigns to the benchmark are used here; the other
  subgroups are the ones a teacher may fit on. Splitting by subgroup keeps near-duplicates (a
  man and a woman firefighter, a cat and a cat face) on one side.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distilhash.errors import DataError

__all__ = ["TitledImages", "openclipart_titles", "openclipart_query_domain", "emoji_held_out", "emoji_glyphs",
           "emoji_domain", "glyph_on_white", "EMOJI_SALT", "DOMAINS"]

#: Salt of the emoji subgroup hash (fixed with the rule; changing it changes the held-out half).
EMOJI_SALT = "distilhash open-vocabulary emoji held-out v1"


@dataclass
class TitledImages:
    """A benchmark database: ``images`` uint8 ``[n, S, S, 3]``, one ``titles`` string and id per item."""

    name: str
    ids: list[str]
    titles: list[str]
    images: np.ndarray
    meta: dict

    def __len__(self) -> int:
        return len(self.ids)


def openclipart_titles(ids: list[str], root: str | Path | None = None, id_prefix: str = "oc") -> list[str]:
    """Titles of openclipart items by id (``oc-<path>`` -> ``<root>/svg/<path>.svg``'s ``dc:title``).

    Raises:
        DataError: when an SVG is missing (the titles must come from the same package build).
    """
    from distilhash.data.openclipart import DEFAULT_ROOT
    from distilhash.data.svg_meta import read_svg_meta

    base = Path(root or DEFAULT_ROOT) / "svg"
    out = []
    for item_id in ids:
        rel = item_id[len(id_prefix) + 1:] if item_id.startswith(f"{id_prefix}-") else item_id
        path = base / f"{rel}.svg"
        if not path.is_file():
            raise DataError(f"openclipart item {item_id!r}: no SVG at {path} (is openclipart-svg installed, and is "
                            "this the dataset prepared from it?)")
        out.append(read_svg_meta(path).title)
    return out


def openclipart_query_domain(dataset: str = "openclipart", root: str | Path | None = None, size: int = 128) -> TitledImages:
    """The prepared dataset's ``split.query`` items (pixels ``size`` px) with their SVG titles."""
    from distilhash.data.store import open_prepared

    ds, split = open_prepared(dataset)
    idx = np.asarray(split.query)
    ids = [ds.ids[i] for i in idx]
    return TitledImages("openclipart", ids, openclipart_titles(ids, root), ds.images.array(idx, size),
                        {"dataset": dataset, "split_hash": split.hash, "dataset_hash": split.dataset_hash,
                         "rows": idx.tolist()})


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


def emoji_domain(size: int = 128) -> TitledImages:
    """The benchmark's emoji database (held-out subgroups)."""
    return emoji_glyphs(True, size)


#: Domain name -> loader (``size`` is the image side).
DOMAINS = {
    "openclipart": lambda size=128: openclipart_query_domain(size=size),
    "emoji": lambda size=128: emoji_domain(size),
}
