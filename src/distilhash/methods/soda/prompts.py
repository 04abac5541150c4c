"""The label modality: every item's label prompt under a template, as teacher text features.

The feature cache already holds ``label_text`` (the cache's default template). Other templates
(e.g. ``"bare"``: label names alone, SODA's ablation) are rendered with
:func:`distilhash.targets.prompts.item_prompts`, encoded by the teacher's text tower (each
distinct prompt once) and cached next to the feature cache::

    <features dir>/label_prompts/<template-slug>.npy    float32 [N, D], rows aligned with items
    <features dir>/label_prompts/<template-slug>.json   template, teacher, count, ids/labels hash

A cached file is reused only when its template, teacher, count and item/label hashes match.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import FeatureError
from distilhash.teachers.features import FeatureSet

__all__ = ["prompt_features", "prompt_cache_path", "DEFAULT"]

#: The template name meaning "the feature cache's own label_text".
DEFAULT = "default"


def _slug(template: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", template).strip("-")[:60] or "bare"


def _fingerprint(features: FeatureSet) -> str:
    h = hashlib.sha256("\n".join(features.ids).encode())
    h.update(np.ascontiguousarray(features.labels, dtype=np.uint8).tobytes())
    return h.hexdigest()[:16]


def default_cache_dir(features: FeatureSet) -> Path:
    """The feature cache directory of ``features``: manifest ``path`` if any, else the default
    location ``$DISTILHASH_HOME/features/<dataset>__<teacher slug>``."""
    man = features.manifest
    if man.get("path"):
        return Path(man["path"])
    if "dataset" not in man or "teacher" not in man:
        raise FeatureError("feature set manifest lacks 'dataset'/'teacher'; pass cache_dir= to locate label prompts")
    from distilhash.teachers.cache import default_features_dir

    return Path(default_features_dir(man["dataset"], man["teacher"]))


def prompt_cache_path(cache_dir: Path, template: str) -> Path:
    """``cache_dir/label_prompts/<slug>.npy`` for the template key or literal ``template``."""
    return Path(cache_dir) / "label_prompts" / f"{_slug(template)}.npy"


def prompt_features(
    features: FeatureSet,
    template: str = DEFAULT,
    *,
    cache_dir: str | Path | None = None,
    teacher: str | None = None,
    label_names: list[str] | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Label-prompt features ``[N, D]`` of every item of ``features`` under ``template``.

    Args:
        features: the (full) feature set; rows of the result align with its rows.
        template: ``"default"`` (the cache's ``label_text``), a key of ``TEMPLATES`` or a literal
            template with one ``{}``.
        cache_dir: where the feature cache lives (default: from the manifest).
        teacher: teacher spec for :func:`~distilhash.teachers.registry.create_teacher`
            (default: the manifest's teacher).
        label_names: the C label names (default: the manifest's ``label_names``, else the prepared
            dataset named in the manifest).

    Returns:
        (features float32 [N, D], provenance dict: template, source, path).
    """
    if template == DEFAULT:
        if features.label_text is None:
            raise FeatureError("feature set has no label_text; pick a prompt_template other than 'default'")
        return features.label_text, {"template": features.manifest.get("template", DEFAULT), "source": "feature cache label_text"}

    from distilhash.targets.prompts import item_prompts, resolve_template

    resolved = resolve_template(template)
    if features.label_text is not None and features.manifest.get("template") == resolved:
        return features.label_text, {"template": resolved, "source": "feature cache label_text"}
    teacher_spec = teacher or features.manifest.get("teacher_spec") or features.manifest.get("teacher")
    if not teacher_spec:
        raise FeatureError("no teacher to encode label prompts: the feature manifest names none; pass teacher=")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(features)
    path = prompt_cache_path(cache_dir, template)
    meta_path = path.with_suffix(".json")
    want = {"template": resolved, "teacher": str(teacher_spec), "count": len(features), "fingerprint": _fingerprint(features)}
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if all(meta.get(k) == v for k, v in want.items()):
            arr = np.load(path)
            if arr.shape == (len(features), features.width):
                return arr.astype(np.float32, copy=False), {**want, "source": "prompt cache", "path": str(path)}

    if label_names is None and features.manifest.get("label_names"):
        label_names = list(features.manifest["label_names"])
    if label_names is None:
        from distilhash.data.store import open_prepared

        dataset = features.manifest.get("dataset")
        if not dataset:
            raise FeatureError("feature manifest names no dataset; pass label_names= to render label prompts")
        label_names = list(open_prepared(dataset)[0].label_names)
    if len(label_names) != features.labels.shape[1]:
        raise FeatureError(f"{len(label_names)} label names for labels with {features.labels.shape[1]} columns")
    prompts = item_prompts(features.labels, label_names, resolved)
    unique, inverse = np.unique(np.asarray(prompts, dtype=object), return_inverse=True)

    from distilhash.teachers.registry import create_teacher

    enc = create_teacher(str(teacher_spec))
    emb = np.asarray(enc.encode_texts([str(p) for p in unique], progress=progress), dtype=np.float32)
    if emb.shape != (len(unique), features.width):
        raise FeatureError(
            f"teacher {teacher_spec!r} encoded prompts to shape {emb.shape}; the feature cache has width {features.width}"
        )
    arr = emb[inverse.reshape(-1)]

    from distilhash.io_utils import atomic_save_npy, atomic_write_json

    atomic_save_npy(path, arr)
    atomic_write_json(meta_path, {**want, "n_unique_prompts": int(len(unique)), "example": str(prompts[0]) if prompts else ""})
    return arr, {**want, "source": "encoded now", "path": str(path)}
