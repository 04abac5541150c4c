"""Words of the openclipart source: tag normalisation, collection keys, labels and texts.

Pure functions on strings and lists (no files), so every rule is testable alone:

* :func:`normalise_tag` — lower case, ``_``/``-`` as spaces, trimmed; :func:`plural_map` merges
  a plural into its singular when both occur (``stars`` -> ``star``, ``berries`` -> ``berry``).
* :func:`collection_key` — the title with digits, bracketed parts and punctuation removed
  (``"part of the flat icon collection (wed aug 25 23:29:46 2004)"`` -> ``"part of the flat icon
  collection"``), the key under which dominating collections are capped.
* :data:`LABEL_SOURCES` — how an item's labels are named (``folder1:animals``,
  ``folder2:animals/birds``, ``tag:bird``); :func:`label_matrix` keeps those with enough items.
* :data:`TEXT_VARIANTS` — ``title+tags`` (default) and ``title+description``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "normalise_tag",
    "plural_map",
    "collection_key",
    "LABEL_SOURCES",
    "TEXT_VARIANTS",
    "STOP_TAGS",
    "label_matrix",
]

#: Tags that describe the file or the library rather than the drawing (after normalisation).
STOP_TAGS: frozenset[str] = frozenset(
    {"unsorted", "clip art", "clipart", "clip-art", "image", "media", "public domain", "svg", "png", "inkscape",
     "externalsource", "remix", "openclipart",
     # openclipart's upload flag: on 428 of the kept drawings, says nothing about what they show
     "hash"}
)


def normalise_tag(tag: str) -> str:
    """``" Signs_and_Symbols "`` -> ``"signs and symbols"`` (lower case, ``_``/``-`` as spaces);
    a tag of digits only (``"11"``) becomes ``""`` (dropped)."""
    tag = re.sub(r"[_\-]+", " ", tag.lower())
    tag = " ".join(tag.split()).strip(" .,;:!?\"'()[]")
    return "" if tag.isdigit() else tag


def _singulars(word: str) -> list[str]:
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return []
    if word.endswith("ies"):
        return [word[:-3] + "y"]
    if word.endswith("es"):
        return [word[:-2], word[:-1]]
    if word.endswith("s"):
        return [word[:-1]]
    return []


def plural_map(vocabulary: Sequence[str]) -> dict[str, str]:
    """``{plural: singular}`` for each tag whose simple singular (``-s``, ``-es``, ``-ies`` -> ``-y``,
    applied to the last word) is itself a tag of ``vocabulary``; other tags are left alone."""
    vocab = set(vocabulary)
    out: dict[str, str] = {}
    for tag in vocab:
        head, _, last = tag.rpartition(" ")
        for single in _singulars(last):
            candidate = f"{head} {single}" if head else single
            if candidate in vocab:
                out[tag] = candidate
                break
    return out


def collection_key(title: str) -> str:
    """Normalised title naming a collection: lower case, without bracketed parts, digits,
    ``#``/``_``/punctuation; ``""`` for an empty title (never capped)."""
    key = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", title.lower())
    key = re.sub(r"[\d_#]+", " ", key)
    key = re.sub(r"[^\w\s]+", " ", key)
    return " ".join(key.split())


def _folder1(folder: tuple[str, ...], tags: list[str]) -> list[str]:
    return [f"folder1:{folder[0]}"] if folder else []


def _folder2(folder: tuple[str, ...], tags: list[str]) -> list[str]:
    return [f"folder2:{'/'.join(folder[:2])}"] if folder else []


def _tags(folder: tuple[str, ...], tags: list[str]) -> list[str]:
    return [f"tag:{t}" for t in tags]


#: Label source name -> candidate label names of an item from (folder parts, normalised tags).
#: ``folder2`` of a file lying directly in a top-level folder is that folder.
LABEL_SOURCES: dict[str, Callable[[tuple[str, ...], list[str]], list[str]]] = {
    "folder1": _folder1,
    "folder2": _folder2,
    "tags": _tags,
}


def _title_tags(title: str, description: str, tags: list[str]) -> str:
    return ". ".join(p for p in (title, ", ".join(tags)) if p)


def _title_description(title: str, description: str, tags: list[str]) -> str:
    return ". ".join(p for p in (title, description) if p)


#: Text variant name -> text of an item from (title, description, normalised tags).
#: ``title+tags`` repeats the tags that are also labels (leakier); ``title+description`` does not.
TEXT_VARIANTS: dict[str, Callable[[str, str, list[str]], str]] = {
    "title+tags": _title_tags,
    "title+description": _title_description,
}


def label_matrix(
    candidates: Sequence[Sequence[str]], min_items: int
) -> tuple[np.ndarray, list[str], dict[str, int]]:
    """Multi-hot ``[N, C]`` uint8 matrix over the candidate labels carried by >= ``min_items`` items.

    Returns:
        (labels, label names sorted, {dropped rare label: item count}).
    """
    counts = Counter(lab for cands in candidates for lab in set(cands))
    names = sorted(lab for lab, c in counts.items() if c >= min_items)
    col = {lab: j for j, lab in enumerate(names)}
    y = np.zeros((len(candidates), len(names)), dtype=np.uint8)
    for i, cands in enumerate(candidates):
        for lab in cands:
            j = col.get(lab)
            if j is not None:
                y[i, j] = 1
    rare = {lab: c for lab, c in sorted(counts.items()) if c < min_items}
    return y, names, rare
