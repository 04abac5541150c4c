"""Groups of items that must fall on one side of a split (same collection, same text, same drawing).

A random item-level split of a collection such as openclipart puts copies on both sides: the
same drawing filed twice (identical 64-bit dHash), a numbered series with one title stem
("star 01", "star 02"), or two items with the same caption. A query whose twin is in the
database is answered by memory, not by retrieval. :func:`group_ids` joins items that share any
of the chosen keys (union-find over equal, non-empty keys); :func:`distilhash.data.split.make_split`
then assigns whole groups to query / train / val / retrieval.

Keys (:data:`GROUP_KEYS`, each ``ds -> list[str]``, ``""`` = no key):

* ``text``  — the caption, case-folded with whitespace collapsed;
* ``title`` — the collection key of the title (lower case, no digits / brackets / punctuation;
  :func:`~distilhash.data.openclipart_labels.collection_key`); the title is the caption minus the
  ``". " + tags`` suffix that ``title+tags`` texts carry;
* ``dhash`` — the 64-bit difference hash of the image (grey, resized to 9x8, one bit per
  horizontally adjacent pair: left brighter than right), as 16 hex digits.

:func:`overlap_counts` counts what is left after a split: queries whose exact text, title key or
dHash also occurs in the retrieval set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from distilhash.errors import DataError

__all__ = ["KEY_DESCRIPTIONS", "GROUP_KEYS", "dhash64", "item_keys", "group_ids", "overlap_counts", "parse_group_by"]


def dhash64(pixels: np.ndarray) -> str:
    """64-bit difference hash of one image ``[H, W, 3]`` (or ``[H, W]``) uint8, as 16 hex digits."""
    from PIL import Image

    arr = np.asarray(pixels)
    if arr.ndim not in (2, 3):
        raise DataError(f"dhash64: expected an image [H, W] or [H, W, 3], got shape {arr.shape}")
    img = Image.fromarray(arr.astype(np.uint8)).convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    g = np.asarray(img, dtype=np.int16)  # [8, 9]
    bits = (g[:, :-1] > g[:, 1:]).ravel()
    return f"{int(np.packbits(bits).view('>u8')[0]):016x}"


def _text_keys(ds) -> list[str]:
    if ds.texts is None:
        return [""] * len(ds)
    return [" ".join(t.casefold().split()) for t in ds.texts]


def _title(text: str, tags: Sequence[str] | None) -> str:
    suffix = ", ".join(tags or [])
    if suffix and text.endswith(". " + suffix):
        return text[: -len(suffix) - 2]
    if suffix and text == suffix:
        return ""
    return text


def _title_keys(ds) -> list[str]:
    from distilhash.data.openclipart_labels import collection_key

    if ds.texts is None:
        return [""] * len(ds)
    tags = ds.tags or [None] * len(ds)
    return [collection_key(_title(t, g)) for t, g in zip(ds.texts, tags)]


def _dhash_keys(ds) -> list[str]:
    n = len(ds)
    keys: list[str] = []
    for s in range(0, n, 512):
        idx = np.arange(s, min(s + 512, n))
        size = ds.images.size or 64
        block = ds.images.array(idx, int(size))
        keys.extend(dhash64(im) for im in block)
    return keys


#: Key name -> per-item keys of a dataset (``""`` = the item has no such key).
GROUP_KEYS: dict[str, Callable[[Any], list[str]]] = {
    "text": _text_keys,
    "title": _title_keys,
    "dhash": _dhash_keys,
}


#: Key name -> what sharing it means, for reports.
KEY_DESCRIPTIONS: dict[str, str] = {"text": "the exact text", "title": "the title stem",
                                    "dhash": "the drawing (identical 64-bit dHash)"}


def parse_group_by(group_by: str) -> list[str]:
    """``"title+text+dhash"`` -> ``["title", "text", "dhash"]``; unknown names raise DataError."""
    names = [p.strip() for p in group_by.split("+") if p.strip()]
    bad = [n for n in names if n not in GROUP_KEYS]
    if bad:
        raise DataError(f"split group key(s) {bad}: expected names from {sorted(GROUP_KEYS)} joined by '+'")
    return names


def item_keys(ds, names: Sequence[str]) -> dict[str, list[str]]:
    """``{key name: per-item keys}`` for the chosen key names."""
    return {name: GROUP_KEYS[name](ds) for name in names}


def group_ids(ds, group_by: str, keys: dict[str, list[str]] | None = None) -> np.ndarray:
    """Group id per item (int64 ``[N]``, 0..G-1 in first-appearance order).

    Items sharing any non-empty key of ``group_by`` (``"title+text+dhash"``) are in one group,
    transitively. ``keys`` may pass precomputed :func:`item_keys`.
    """
    names = parse_group_by(group_by)
    n = len(ds)
    keys = keys if keys is not None else item_keys(ds, names)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for name in names:
        first: dict[str, int] = {}
        for i, k in enumerate(keys[name]):
            if not k:
                continue
            if k in first:
                a, b = find(i), find(first[k])
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[k] = i
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    _, ids = np.unique(roots, return_inverse=True)
    # renumber in first-appearance order so ids do not depend on np.unique's sort
    order: dict[int, int] = {}
    return np.array([order.setdefault(int(g), len(order)) for g in ids], dtype=np.int64)


def overlap_counts(ds, split, names: Sequence[str] = ("text", "title", "dhash"),
                   keys: dict[str, list[str]] | None = None) -> dict[str, int]:
    """``{name: number of split.query items whose non-empty key also occurs in split.retrieval}``."""
    keys = keys if keys is not None else item_keys(ds, names)
    out: dict[str, int] = {}
    for name in names:
        k = keys[name]
        db = {k[i] for i in split.retrieval if k[i]}
        out[name] = int(sum(1 for i in split.query if k[i] and k[i] in db))
    return out
