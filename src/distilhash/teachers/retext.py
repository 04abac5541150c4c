"""A teacher feature cache with another caption per item (the less leaky text variants).

openclipart items are captioned ``title. tags`` by default, and 110 of the 163 labels are tags, so
the caption spells out most labels. :func:`retext_features` copies a feature cache and replaces
only ``text.npy`` with the teacher's embeddings of other captions of the same items (e.g.
``title. description``); images, labels, label prompts, ids and split are unchanged, and the
manifest records the variant (``text_variant``) and the cache it was derived from.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distilhash.errors import FeatureError
from distilhash.io_utils import atomic_save_npy, atomic_write_json, sha256_file
from distilhash.teachers.base import Teacher

__all__ = ["retext_features"]


def retext_features(source: str | Path, out: str | Path, texts: Sequence[str], teacher: Teacher, variant: str,
                    progress: bool = True) -> Path:
    """Copy the cache ``source`` to ``out`` with ``text.npy`` = ``teacher.encode_texts(texts)``.

    ``texts`` must hold one caption per item of the cache, in its order.

    Raises:
        FeatureError: on a count mismatch, an empty caption, or when ``out`` is ``source``.
    """
    from distilhash.teachers.cache import MANIFEST

    src, dst = Path(source), Path(out)
    if src.resolve() == dst.resolve():
        raise FeatureError(f"retext_features: the output {dst} is the source cache; choose another folder")
    manifest = json.loads((src / MANIFEST).read_text())
    if len(texts) != manifest["count"]:
        raise FeatureError(f"retext_features: {len(texts)} captions for a cache of {manifest['count']} items")
    empty = [i for i, t in enumerate(texts) if not t.strip()]
    if empty:
        raise FeatureError(f"retext_features: {len(empty)} empty captions (first at item {empty[0]}); every item needs text")
    dst.mkdir(parents=True, exist_ok=True)
    for name in manifest["files"]:
        if name != "text.npy":
            shutil.copyfile(src / name, dst / name)
    emb = np.asarray(teacher.encode_texts(list(texts), progress=progress), dtype=np.float32)
    if emb.shape != (manifest["count"], manifest["width"]):
        raise FeatureError(f"retext_features: teacher gave {emb.shape}, expected {(manifest['count'], manifest['width'])}")
    atomic_save_npy(dst / "text.npy", emb)
    files = {name: sha256_file(dst / name) for name in manifest["files"]}
    atomic_write_json(dst / MANIFEST, {**manifest, "files": files, "text_variant": variant,
                                       "derived_from": {"path": str(src), "text_sha256": manifest["files"].get("text.npy")}})
    return dst
