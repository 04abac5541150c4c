"""Label prompts under extra templates: part of the extract stage, read by methods (SODA).

The feature cache holds ``label_text`` (each item's label prompt under the cache's template).
Other templates (e.g. ``"bare"``: label names alone, SODA's ablation) are rendered with
:func:`distilhash.targets.prompts.item_prompts`, encoded by the teacher's text tower (each
distinct prompt once) by :func:`extract_label_prompts` (``distilhash teacher extract
--label-template NAME``) and stored next to the feature cache::

    <features dir>/label_prompts/<template-slug>.npy    float32 [N, D], rows aligned with items
    <features dir>/label_prompts/<template-slug>.json   template, teacher, count, ids/labels hash

A cached file is used only when its template, teacher, count and item/label hashes match.
Methods read them with :func:`cached_label_prompts`, which never creates a teacher: a template
that was not extracted is a FeatureError naming the command that extracts it.
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

__all__ = ["cached_label_prompts", "extract_label_prompts", "prompt_cache_path", "DEFAULT"]

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


def _from_label_text(features: FeatureSet, template: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The cache's own ``label_text`` when ``template`` is the default or the cache's template."""
    if template == DEFAULT:
        if features.label_text is None:
            raise FeatureError("the feature cache has no label_text (extracted without labels?); label prompts are "
                               "extracted by `distilhash teacher extract` for a labelled dataset")
        return features.label_text, {"template": features.manifest.get("template", DEFAULT), "source": "feature cache label_text"}
    from distilhash.targets.prompts import resolve_template

    if features.label_text is not None and features.manifest.get("template") == resolve_template(template):
        return features.label_text, {"template": resolve_template(template), "source": "feature cache label_text"}
    return None


def _identity(features: FeatureSet, template: str, teacher: str | None) -> dict[str, Any]:
    from distilhash.targets.prompts import resolve_template

    spec = teacher or features.manifest.get("teacher_spec") or features.manifest.get("teacher")
    if not spec:
        raise FeatureError("no teacher to encode label prompts: the feature manifest names none; pass teacher=")
    return {"template": resolve_template(template), "teacher": str(spec), "count": len(features),
            "fingerprint": _fingerprint(features)}


def cached_label_prompts(features: FeatureSet, template: str = DEFAULT, *, cache_dir: str | Path | None = None,
                         teacher: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Label-prompt features ``[N, D]`` of every item under ``template``, read from the feature cache.

    ``"default"`` (or the cache's own template) is the cache's ``label_text``; another template
    must have been extracted with :func:`extract_label_prompts`. Never encodes anything.

    Returns:
        (features float32 [N, D], provenance dict: template, source, path).
    """
    own = _from_label_text(features, template)
    if own is not None:
        return own
    want = _identity(features, template, teacher)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(features)
    path = prompt_cache_path(cache_dir, template)
    meta_path = path.with_suffix(".json")
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if all(meta.get(k) == v for k, v in want.items()):
            arr = np.load(path)
            if arr.shape == (len(features), features.width):
                return arr.astype(np.float32, copy=False), {**want, "source": "prompt cache", "path": str(path)}
            raise FeatureError(f"{path}: shape {arr.shape}; expected {(len(features), features.width)}")
    dataset = features.manifest.get("dataset", "DATASET")
    raise FeatureError(
        f"the feature cache {cache_dir} holds no label prompts for template {template!r} by teacher {want['teacher']!r} "
        f"({'stale: made for other items, labels or teacher' if path.is_file() else 'not extracted'}); extract them with "
        f"`distilhash teacher extract --dataset {dataset} --teacher {want['teacher']} --label-template {template}`")


def extract_label_prompts(
    features: FeatureSet,
    template: str,
    *,
    cache_dir: str | Path | None = None,
    teacher: str | None = None,
    label_names: list[str] | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Encode every item's label prompt under ``template`` with the teacher and store it (see module docstring).

    Args:
        features: the (full) feature set; rows of the result align with its rows.
        template: a key of ``TEMPLATES`` or a literal template with one ``{}``.
        cache_dir: where the feature cache lives (default: from the manifest).
        teacher: teacher spec for :func:`~distilhash.teachers.registry.create_teacher`
            (default: the manifest's teacher).
        label_names: the C label names (default: the manifest's ``label_names``, else the prepared
            dataset named in the manifest).

    Returns:
        (features float32 [N, D], provenance dict); an up-to-date stored file is reused.
    """
    own = _from_label_text(features, template)
    if own is not None:
        return own
    try:
        return cached_label_prompts(features, template, cache_dir=cache_dir, teacher=teacher)
    except FeatureError:
        pass
    from distilhash.targets.prompts import item_prompts

    want = _identity(features, template, teacher)
    teacher_spec, resolved = want["teacher"], want["template"]
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(features)
    path = prompt_cache_path(cache_dir, template)
    meta_path = path.with_suffix(".json")
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
