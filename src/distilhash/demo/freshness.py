"""Whether the demo's outputs in a home were made with the teacher the demo uses now, and what to do when not.

A home where an earlier demo ran holds a feature cache, a model (``runs/demo-dcmq64``) and two indexes made with
that demo's teacher. The demo's steps reuse an output only when it records the teacher of this run, by spec *and*
fingerprint (``$DISTILHASH_HOME/demo-teacher.json``, written by ``distilhash demo teacher``):

* the feature cache's ``manifest.json`` records ``teacher`` and ``teacher_fingerprint``; a complete cache with
  another fingerprint (the same spec answered by another copy, e.g. this home's own fit after the shipped one) is
  extracted again with ``--overwrite``; another spec has its own cache directory;
* the model's ``train.json`` records ``teacher_identity`` (spec, fingerprint of the features it was trained on) and
  its ``method.json`` the config it was trained with; a model made with another teacher, or without one of the
  options the demo trains with now (e.g. an earlier version of the preset), is kept, renamed ``runs/demo-dcmq64-<teacher slug>-<fingerprint[:8]>`` (it is
  self-contained: its ``method.json`` names its teacher, its evaluation and query encoders sit inside it);
* the indexes record their model directory and teacher spec, not a copy of the model: once the model in
  ``runs/demo-dcmq64`` is replaced they would encode queries with a model they were not built from, so they are
  removed (the renamed model can build them again with ``distilhash index build``).

Every such decision is printed; nothing made with another teacher is reused silently.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["feature_cache_state", "model_teacher", "model_options", "model_options_differ", "model_is_current", "index_is_current",
           "retire_model_outputs"]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def feature_cache_state(features_dir: Path, fingerprint: str | None) -> str:
    """``"current"`` (complete, made with ``fingerprint``), ``"other teacher"`` (complete, another fingerprint),
    or the cache's own status (``"partial"`` / ``"absent"``, which ``teacher extract`` resumes or starts)."""
    from distilhash.teachers.cache import MANIFEST, cache_status

    status = cache_status(features_dir)
    if status != "complete":
        return status
    found = _read_json(features_dir / MANIFEST).get("teacher_fingerprint")
    return "current" if fingerprint is not None and found == fingerprint else "other teacher"


def model_teacher(model_dir: Path) -> dict[str, Any] | None:
    """``{"spec", "fingerprint"}`` a finished model was trained with (its ``train.json``), or None: no finished model.
    A finished model without that record gives ``{"spec": <method.json's teacher>, "fingerprint": None}``."""
    if not (model_dir / "method.json").is_file():
        return None
    ident = _read_json(model_dir / "train.json").get("teacher_identity") or {}
    spec = ident.get("spec") or _read_json(model_dir / "method.json").get("teacher")
    return {"spec": spec, "fingerprint": ident.get("fingerprint")}


def model_options(model_dir: Path, keys: Iterable[str]) -> dict[str, Any]:
    """The values of config ``keys`` the model in ``model_dir`` was trained with (its ``method.json``; None when it
    records none)."""
    config = _read_json(model_dir / "method.json").get("config") or {}
    return {k: config.get(k) for k in keys}


def model_options_differ(model_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Of ``options`` (config key -> value), those the finished model in ``model_dir`` was *not* trained with:
    key -> the value its ``method.json`` records (None when it records none)."""
    return {k: v for k, v in model_options(model_dir, options).items() if v != options[k]}


def model_is_current(model_dir: Path, spec: str, fingerprint: str | None, options: dict[str, Any] | None = None) -> bool:
    """Whether ``model_dir`` holds a finished model trained on ``spec``'s features of ``fingerprint`` with every
    config option of ``options`` (e.g. the preset the demo trains with)."""
    found = model_teacher(model_dir)
    return fingerprint is not None and found == {"spec": spec, "fingerprint": fingerprint} \
        and not model_options_differ(model_dir, options or {})


def index_is_current(index_dir: Path, model_dir: Path, spec: str) -> bool:
    """Whether ``index_dir`` is a finished index built from the model in ``model_dir`` with teacher ``spec``
    (the model itself is checked by :func:`model_is_current`; a new model removes the old indexes)."""
    manifest = _read_json(index_dir / "manifest.json")
    return bool(manifest) and manifest.get("teacher") == spec and \
        Path(str(manifest.get("model_dir", ""))).resolve() == model_dir.resolve()


def _free_name(path: Path) -> Path:
    if not path.exists():
        return path
    n = 2
    while path.with_name(f"{path.name}-{n}").exists():
        n += 1
    return path.with_name(f"{path.name}-{n}")


def retire_model_outputs(model_dir: Path, index_dirs: list[Path], options: dict[str, Any] | None = None) -> list[str]:
    """Before a new demo model is trained in ``model_dir``: rename a finished model there (made with another teacher,
    or without one of ``options``) to ``<name>-<teacher slug>-<fingerprint[:8]>``, and remove ``index_dirs`` (built
    from the model that was there).

    Returns:
        one line per thing done, for the demo to print (empty when there was nothing).
    """
    from distilhash.teachers.registry import teacher_slug

    said: list[str] = []
    found = model_teacher(model_dir)
    if found is not None:
        tag = teacher_slug(str(found["spec"])) + (f"-{found['fingerprint'][:8]}" if found["fingerprint"] else "")
        kept = _free_name(model_dir.with_name(f"{model_dir.name}-{tag}"))
        differ = model_options_differ(model_dir, options or {})
        model_dir.rename(kept)
        why = ("; ".join(f"{k}={v!r}, not {options[k]!r}" for k, v in differ.items()) if differ and options else "")
        said.append(f"{model_dir} was trained with the teacher {found['spec']} (fingerprint {found['fingerprint']})"
                    + (f" and {why}" if why else "") + f", not as this run trains: kept as {kept}, not reused")
    for d in index_dirs:
        if d.exists():
            shutil.rmtree(d)
            said.append(f"removed {d}: built from the model that was in {model_dir}"
                        + (f" (rebuild it from {kept} with `distilhash index build`)" if found is not None else ""))
    return said
