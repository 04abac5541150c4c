"""What a name on the command line refers to: a finished feature cache, an unfinished one, or a teacher.

    describe_teacher_or_cache("openclipart__lite0-minilm-openclipart")   # a cache under $DISTILHASH_HOME/features
    describe_teacher_or_cache("lite0-minilm:openclipart")               # a teacher spec
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

__all__ = ["describe_teacher_or_cache", "teacher_summary", "teacher_card"]


def describe_teacher_or_cache(what: str) -> dict[str, Any]:
    """``{"kind": "feature cache" | "unfinished feature cache" | "teacher", ...}`` for ``what``.

    A directory (or a name under ``$DISTILHASH_HOME/features``) holding a cache manifest gives
    ``path`` and ``manifest`` (without the per-file list and label names); one with only a
    progress file gives ``path``, ``done`` and ``count``; anything else is created as a teacher
    spec and gives ``info`` (its ``info()``) and ``summary`` (:func:`teacher_summary`). Creating the teacher loads it.
    """
    from distilhash.paths import features_dir
    from distilhash.teachers.cache import MANIFEST, PROGRESS

    for cand in (Path(what), features_dir() / what):
        if (cand / MANIFEST).is_file():
            manifest = json.loads((cand / MANIFEST).read_text())
            manifest.pop("files", None)
            manifest.pop("label_names", None)
            return {"kind": "feature cache", "path": str(cand), "manifest": manifest}
        if (cand / PROGRESS).is_file():
            state = json.loads((cand / PROGRESS).read_text())
            return {"kind": "unfinished feature cache", "path": str(cand), "done": state["done"],
                    "count": state["identity"]["count"]}
    from distilhash.teachers.registry import create_teacher

    t = create_teacher(what)
    info = t.info()
    return {"kind": "teacher", "info": info, "summary": teacher_summary(info)}


def _answered_by(info: dict[str, Any]) -> str:
    """Which copy answered (teachers whose ``info()`` has a ``source``), e.g. ``fitted in this home (DIR)``; else ``""``."""
    source = info.get("source") or {}
    return {"shipped": f"shipped with distilhash (artefact {source.get('artefact')} version {source.get('version')}, "
                       "every file's sha256 checked against its manifest)",
            "fitted here": f"fitted in this home ({source.get('directory')})",
            "directory": f"loaded from {source.get('directory')}"}.get(source.get("answered_by"), "")


def teacher_summary(info: dict[str, Any]) -> str:
    """One line: the teacher's name, which copy answered (shipped with distilhash / fitted here) and its fingerprint."""
    where = _answered_by(info)
    return f"{info.get('name')}: {where + '; ' if where else ''}fingerprint {info.get('fingerprint')}"


def _kept(info: dict[str, Any]) -> str | None:
    """``epoch 5, val_mrr 0.189`` from ``kept`` (a dict) or ``kept_epoch``; scores rounded to 3 places."""
    kept = info.get("kept")
    if isinstance(kept, dict):
        parts = [f"epoch {kept['epoch']}"] if "epoch" in kept else []
        parts += [f"{k} {v:.3f}" for k, v in kept.items() if k.startswith("val_") and isinstance(v, float)]
        return ", ".join(parts) or None
    return f"epoch {info['kept_epoch']}" if info.get("kept_epoch") is not None else None


def _kept_because(info: dict[str, Any]) -> str | None:
    """Why the kept epoch was kept: ``kept_because`` of a level that reports a kept epoch (a prior's own
    ``kept_because``, on a level without one, is about the prior and goes on the class-prior line)."""
    return info.get("kept_because") if _kept(info) else None


def _image_tower(info: dict[str, Any]) -> str | None:
    """``EfficientNet-Lite0 (ImageNet), frozen, 224 px`` or ``764,664 parameters, 64 px`` (a small trained tower)."""
    tower = info.get("image_tower") or (f"{info['image_tower_parameters']:,} parameters"
                                        if info.get("image_tower_parameters") else None)
    return tower and tower + (f", {info['image_size']} px" if info.get("image_size") else "")


def _fitted_on(info: dict[str, Any]) -> str | None:
    """``openclipart, split ced2c3298ba1, 2000 pairs`` from whichever of those keys the info has."""
    parts = [str(info[k]) for k in ("fitted_on", "corpus") if info.get(k)]
    parts += [f"split {info['fitted_on_split']}"] if info.get("fitted_on_split") else []
    parts += [f"{info['n_fit_pairs']} image-caption pairs"] if info.get("n_fit_pairs") else []
    return ", ".join(parts) or None


#: The card's rows, as data: (label, how to read the row from one level of a teacher's ``info()``).
#: A wrapper teacher (``lite0-prior``) nests the teacher it wraps under ``base``: rows are read from the
#: base first (its towers, pairs and kept epoch), then from the wrapper.
CARD_ROWS: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("image tower", _image_tower),
    ("text tower", lambda i: i.get("text_tower")),
    ("width", lambda i: i.get("width")),
    ("fitted on", _fitted_on),
    ("pairs", lambda i: i.get("fitted_on_pairs")),
    ("kept", _kept),
    ("kept because", _kept_because),
)


def teacher_card(info: dict[str, Any], default_because: str | None = None) -> list[str]:
    """A few human lines about a teacher from its ``info()``: which copy answered, its towers, what it was
    fitted on, the kept epoch and why, a class prior's weight, its fingerprint; rows a teacher does not
    report are left out.

    ``default_because``: why ``teacher extract`` picks it here without ``--teacher`` (bare ``teacher info``).
    """
    levels = ([info["base"]] if isinstance(info.get("base"), dict) else []) + [info]
    where = _answered_by(info)
    lines = [f"{info.get('name')}" + (f": {where}" if where else "")]
    if default_because:
        lines.append(f"  {'default here:':<14}{default_because}")
    for label, read in CARD_ROWS:
        value = next((v for v in (read(level) for level in levels) if v not in (None, "", {})), None)
        if value is not None:
            lines.append(f"  {label + ':':<14}{value}")
    if isinstance(info.get("prior"), dict):
        prior = info["prior"]
        own = None if _kept(info) else info.get("kept_because")  # lite0-tuned's kept_because is its epoch's, not the prior's
        lines.append(f"  {'class prior:':<14}weight {prior.get('weight')}, temperature {prior.get('temperature')}"
                     + (f"; kept because: {own}" if own else ""))
    if isinstance(info.get("query_templates"), dict):
        qt = info["query_templates"]
        lines.append(f"  {'queries:':<14}short ones read as the mean over {qt.get('name')} templates {qt.get('templates')} "
                     f"(texts of at most {qt.get('max_words')} words, no punctuation)")
    lines.append(f"  {'fingerprint:':<14}{info.get('fingerprint')}")
    return lines
