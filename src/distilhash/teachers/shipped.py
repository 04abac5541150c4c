"""Teachers shipped inside the package: small fitted artefacts, their manifest and its sha256 check.

A fresh install has no fitted teacher in ``$DISTILHASH_HOME/teachers``; the strongest offline
teachers (``lite0-prior:openclipart-224-short``, own collections' default and the demo's teacher, and
``lite0-prior:openclipart-224``, the demo's before it: 2.5 MB of heads and a prior's three numbers each, on top of
the pretrained towers the ``teachers`` extra installs) are therefore shipped as package data::

    distilhash/teachers/assets/shipped/
        manifest.json                                 version, sha256 of every file, what it was fitted on,
                                                      the commands that reproduce it
        lite0-minilm-openclipart-224-short/config.json      exactly as ``teacher fit`` wrote them
        lite0-minilm-openclipart-224-short/heads.safetensors
        lite0-prior-openclipart-224-short/prior.json
        lite0-minilm-openclipart-224/...              the same three files of the demo's earlier teacher
        lite0-prior-openclipart-224/prior.json

The directory names are those the fit commands write under ``$DISTILHASH_HOME/teachers``, so a
spec resolves to this home's own fit when there is one and to the shipped copy otherwise
(:func:`shipped_teacher_dir`). Every file of a shipped directory is checked against the manifest's
sha256 before it is used; a damaged file is refused by name.

``scripts/ship_teacher.py`` writes the artefact and its manifest from a home where the recipe was fitted.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from distilhash.teachers.registry import TeacherLoadError

__all__ = ["SHIPPED_ROOT", "MANIFEST_FILE", "manifest", "shipped_specs", "artefact_of", "shipped_teacher_dir",
           "verify_directory", "source_of"]

SHIPPED_ROOT = Path(__file__).parent / "assets" / "shipped"
MANIFEST_FILE = "manifest.json"


def manifest() -> dict[str, Any]:
    """The manifest ``{"format_version": 1, "artefacts": {spec: {"version", "files": {rel: sha256}, ...}}}``
    (empty artefacts when nothing is shipped); read once per shipped root."""
    return _manifest_at(str(SHIPPED_ROOT))


@lru_cache(maxsize=None)
def _manifest_at(root: str) -> dict[str, Any]:
    path = Path(root) / MANIFEST_FILE
    if not path.is_file():
        return {"format_version": 1, "artefacts": {}}
    return json.loads(path.read_text())


def shipped_specs() -> list[str]:
    """The teacher specs shipped with this install."""
    return list(manifest()["artefacts"])


def artefact_of(directory_name: str) -> tuple[str, dict[str, Any]] | None:
    """``(spec, artefact)`` of the shipped artefact holding the directory ``directory_name`` (None: not shipped)."""
    for spec, art in manifest()["artefacts"].items():
        if any(rel.split("/", 1)[0] == directory_name for rel in art["files"]):
            return spec, art
    return None


def _sha256(path: Path) -> str:
    from distilhash.io_utils import sha256_file

    return sha256_file(path)


@lru_cache(maxsize=None)
def _verified(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    """Whether the file's sha256 is ``expected`` (cached per size and mtime: a changed file is hashed again)."""
    return _sha256(Path(path)) == expected


def verify_directory(directory_name: str) -> Path:
    """The shipped directory ``directory_name``, after checking each of its files against the manifest.

    Raises:
        TeacherLoadError: it is not shipped, or a file is missing or its sha256 differs (named, with how to
            get a good copy).
    """
    found = artefact_of(directory_name)
    if found is None:
        raise TeacherLoadError(f"no shipped teacher directory {directory_name!r} in {SHIPPED_ROOT / MANIFEST_FILE}")
    spec, art = found
    how = f"reinstall distilhash, or fit it in this home with: {'; '.join(art['reproduce'])}"
    for rel, expected in art["files"].items():
        if rel.split("/", 1)[0] != directory_name:
            continue
        path = SHIPPED_ROOT / rel
        if not path.is_file():
            raise TeacherLoadError(f"shipped teacher {spec} (version {art['version']}): {path} is missing; {how}")
        st = path.stat()
        if not _verified(str(path), st.st_size, st.st_mtime_ns, expected):
            raise TeacherLoadError(f"shipped teacher {spec} (version {art['version']}): {path} is damaged (sha256 "
                                   f"{_sha256(path)[:16]}..., the manifest says {expected[:16]}...); {how}")
    return SHIPPED_ROOT / directory_name


def shipped_teacher_dir(directory_name: str) -> Path | None:
    """The verified shipped copy of ``$DISTILHASH_HOME/teachers/<directory_name>``, or None when it is not shipped.

    Raises:
        TeacherLoadError: it is shipped but a file is damaged (see :func:`verify_directory`).
    """
    if artefact_of(directory_name) is None:
        return None
    return verify_directory(directory_name)


def source_of(directory: Path | None) -> dict[str, Any]:
    """Where a loaded teacher's files came from: ``{"answered_by": "shipped" | "fitted here" | "directory", ...}``."""
    from distilhash.paths import teachers_dir

    if directory is None:
        return {"answered_by": "nothing fitted (pretrained towers only)"}
    directory = Path(directory)
    if directory.parent.resolve() == SHIPPED_ROOT.resolve():
        spec, art = artefact_of(directory.name) or ("?", {})
        return {"answered_by": "shipped", "artefact": spec, "version": art.get("version"),
                "verified": "sha256 of every file matches the manifest", "manifest": str(SHIPPED_ROOT / MANIFEST_FILE),
                "reproduce": art.get("reproduce")}
    if directory.parent.resolve() == teachers_dir().resolve():
        return {"answered_by": "fitted here", "directory": str(directory)}
    return {"answered_by": "directory", "directory": str(directory)}
