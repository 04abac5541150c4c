"""The demo's teacher: which copy answers (this home's fit, else the one shipped with distilhash), checked and recorded.

    distilhash demo teacher [--json OUT]

``make demo`` never fits its teacher (:data:`distilhash.teachers.recipes.DEMO_TEACHER`; the short-view teacher's
first fit takes ~13 minutes). It loads the spec as every later step does: a fit of the recipe in this home comes
first, else the copy shipped inside the package, whose every file's sha256 is checked against its manifest
(:mod:`distilhash.teachers.shipped`; the order of :mod:`distilhash.teachers.default_choice`). A missing or damaged
copy stops the demo with a :class:`~distilhash.teachers.registry.TeacherLoadError` naming the file and the commands
that fit it.

The record (``$DISTILHASH_HOME/demo-teacher.json``: spec, which copy, fingerprint, the commands that reproduce it)
is what the demo's later steps compare their outputs with: a feature cache, model or index made with another
teacher or fingerprint is never reused (:mod:`distilhash.demo.steps`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["teacher_record", "record_lines", "save_record", "read_record", "RECORD_FILE"]

RECORD_FILE = "demo-teacher.json"


def teacher_record(spec: str, dataset: str | None = None) -> dict[str, Any]:
    """``{"spec", "answered_by", "copy", "fingerprint", "version", "reproduce", "fitted_on_split", "split_here",
    "card"}`` of the teacher ``spec`` as it loads here (shipped files sha256-checked on the way).

    ``dataset``: a prepared dataset whose split hash goes in ``split_here`` (to compare with ``fitted_on_split``: a
    teacher fitted on another split of the same drawings may have fitted on this split's query items).

    Raises:
        TeacherLoadError: neither this home's fit nor an intact shipped copy is there (says which file, and how to fit).
    """
    from distilhash.teachers.describe import describe_teacher_or_cache, teacher_card
    from distilhash.teachers.recipes import RECIPES

    info = describe_teacher_or_cache(spec)["info"]
    source = info.get("source") or {}
    recipe = RECIPES.get(spec)
    reproduce = source.get("reproduce") or ([f"distilhash data prepare {recipe.dataset}", *(f.shown() for f in recipe.fits)]
                                           if recipe else [])
    copy = {"shipped": f"the copy shipped with distilhash (artefact version {source.get('version')}, every file's sha256 "
                       "checked against its manifest)",
            "fitted here": f"this home's own fit ({source.get('directory')})"}.get(source.get("answered_by"),
                                                                                 str(source.get("answered_by")))
    base = info.get("base") if isinstance(info.get("base"), dict) else info
    split_here = None
    if dataset is not None:
        from distilhash.data.store import open_prepared

        split_here = open_prepared(dataset)[1].hash
    return {"spec": spec, "answered_by": source.get("answered_by"), "copy": copy, "fingerprint": info.get("fingerprint") or None,
            "version": source.get("version"), "manifest": source.get("manifest"), "directory": source.get("directory"),
            "reproduce": reproduce, "fitted_on_split": base.get("fitted_on_split"), "dataset": dataset,
            "split_here": split_here, "card": teacher_card(info)}


def record_lines(rec: dict[str, Any]) -> list[str]:
    """What the demo prints: the card, then which copy, its fingerprint and the commands that reproduce it (and a
    warning when the teacher was fitted on another split than the prepared dataset's)."""
    lines = [*rec["card"], "",
             f"The demo uses {rec['spec']}: {rec['copy']}; fingerprint {rec['fingerprint']}.",
             "The demo does not fit it; the commands that reproduce it:",
             *(f"  {c}" for c in rec["reproduce"])]
    if rec.get("split_here") and rec.get("fitted_on_split") and rec["split_here"] != rec["fitted_on_split"]:
        lines += [f"WARNING: this teacher was fitted on split {rec['fitted_on_split']}, but {rec['dataset']} here has split "
                  f"{rec['split_here']}: its fit pairs may hold this split's query drawings, so the figures below may be "
                  "optimistic. Fit it in this home with the commands above (this home's fit is used first)."]
    return lines


def save_record(rec: dict[str, Any], path: str | Path) -> Path:
    """Write ``rec`` as JSON to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=1) + "\n")
    return path


def read_record(path: str | Path) -> dict[str, Any] | None:
    """The record at ``path``, or None when there is none (the teacher step has not run in this home)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else None
