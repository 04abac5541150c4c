"""The databases of the open-vocabulary benchmark, and which items they may hold.

* ``openclipart``: every item of the prepared dataset's ``split.query`` (1,000 drawings no stage
  fits or selects on); its *title* is read again from the drawing's SVG metadata (the dataset's
  text is title + tags, and tags are not used for relevance).
* ``emoji``: Noto Color Emoji glyphs (fully-qualified, no skin-tone variants, groups Component
  and Flags left out), each one drawing on white, titled by its CLDR name. Only the emoji
  subgroups that :func:`emoji_held_out` assigns to the benchmark are used here; the other
  subgroups are the ones a teacher may fit on (:mod:`distilhash.data.emoji_glyphs`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distilhash.data.emoji_glyphs import EMOJI_SALT, TitledImages, emoji_glyphs, emoji_held_out, glyph_on_white
from distilhash.errors import DataError

__all__ = ["TitledImages", "openclipart_titles", "openclipart_query_domain", "emoji_held_out", "emoji_glyphs",
           "emoji_domain", "glyph_on_white", "EMOJI_SALT", "DOMAINS"]

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


def emoji_domain(size: int = 128) -> TitledImages:
    """The benchmark's emoji database (held-out subgroups)."""
    return emoji_glyphs(True, size)


#: Domain name -> loader (``size`` is the image side).
DOMAINS = {
    "openclipart": lambda size=128: openclipart_query_domain(size=size),
    "emoji": lambda size=128: emoji_domain(size),
}
