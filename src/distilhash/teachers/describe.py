"""What a name on the command line refers to: a finished feature cache, an unfinished one, or a teacher.

    describe_teacher_or_cache("openclipart__lite0-minilm-openclipart")   # a cache under $DISTILHASH_HOME/features
    describe_teacher_or_cache("lite0-minilm:openclipart")               # a teacher spec
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["describe_teacher_or_cache", "teacher_summary"]


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


def teacher_summary(info: dict[str, Any]) -> str:
    """One line: the teacher's name, which copy answered (shipped with distilhash / fitted here; teachers whose
    ``info()`` has a ``source``) and its fingerprint."""
    source = info.get("source") or {}
    where = {"shipped": f"shipped with distilhash (artefact {source.get('artefact')} version {source.get('version')}, "
                        "every file's sha256 checked against its manifest); ",
             "fitted here": f"fitted in this home ({source.get('directory')}); ",
             "directory": f"loaded from {source.get('directory')}; "}.get(source.get("answered_by"), "")
    return f"{info.get('name')}: {where}fingerprint {info.get('fingerprint')}"
