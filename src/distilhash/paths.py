"""Where distilhash keeps prepared datasets, teachers, feature caches, runs and indexes.

Everything lives under one root, ``$DISTILHASH_HOME`` (``make`` sets it to ``./data`` of the
checkout; without it the root is ``~/.cache/distilhash``). ``distilhash paths`` prints the root
in use and what it holds; :func:`home_hint` is appended to "not found" errors so that a user who
prepared a dataset under another root sees where distilhash looked and how to point it there.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["home", "home_origin", "home_hint", "datasets_dir", "teachers_dir", "features_dir", "runs_dir",
           "indexes_dir", "describe_home", "resolve_named", "HOME_ENV"]

#: The environment variable naming the artefact root.
HOME_ENV = "DISTILHASH_HOME"


def home() -> Path:
    """Root of all stored artefacts: ``$DISTILHASH_HOME`` or ``~/.cache/distilhash``."""
    root = os.environ.get(HOME_ENV)
    return Path(root) if root else Path.home() / ".cache" / "distilhash"


def home_origin() -> str:
    """Why :func:`home` is what it is: ``"$DISTILHASH_HOME"`` or ``"default (DISTILHASH_HOME is not set)"``."""
    return f"${HOME_ENV}" if os.environ.get(HOME_ENV) else f"default ({HOME_ENV} is not set)"


def home_hint() -> str:
    """One sentence for errors: the root in use, where it came from, and how to choose another."""
    return (f"artefacts are read from {home()} [{home_origin()}]; `make` uses ./data of the checkout — "
            f"to use those, `export {HOME_ENV}=/path/to/distilhash/data` (see `distilhash paths`)")


def datasets_dir() -> Path:
    return home() / "datasets"


def teachers_dir() -> Path:
    return home() / "teachers"


def features_dir() -> Path:
    return home() / "features"


def runs_dir() -> Path:
    return home() / "runs"


def indexes_dir() -> Path:
    return home() / "indexes"


#: subfolders of ``teachers/`` that are no teacher: the towers' encoding cache (``teacher extract`` writes it)
_NOT_TEACHERS = frozenset({"cache"})


def _entries(directory: Path, marker: str | None, skip: frozenset[str] = frozenset()) -> list[str]:
    """Names of the visible subdirectories of ``directory`` holding ``marker`` (any, when None), but ``skip``."""
    if not directory.is_dir():
        return []
    return sorted(d.name for d in directory.iterdir()
                  if d.is_dir() and not d.name.startswith(".") and d.name not in skip
                  and (marker is None or (d / marker).is_file()))


def describe_home() -> dict[str, object]:
    """``{"home", "origin", "<kind>": {"path", "entries"}}`` for datasets, teachers, features, runs, indexes."""
    kinds = {
        "datasets": (datasets_dir(), "dataset.json"),
        "teachers": (teachers_dir(), None),
        "features": (features_dir(), "manifest.json"),
        "runs": (runs_dir(), "method.json"),
        "indexes": (indexes_dir(), "manifest.json"),
    }
    out: dict[str, object] = {"home": str(home()), "origin": home_origin()}
    for kind, (path, marker) in kinds.items():
        out[kind] = {"path": str(path), "entries": _entries(path, marker, _NOT_TEACHERS if kind == "teachers" else frozenset())}
    return out


_KIND_DIRS = {"indexes": indexes_dir, "runs": runs_dir, "datasets": datasets_dir, "features": features_dir}


def resolve_named(value: str | Path, kind: str) -> Path:
    """``value`` as a path; a bare name (no ``/``) that is no existing path but names an entry of the root's
    ``kind`` folder (``indexes``, ``runs``, ...: what ``distilhash paths`` lists) is that entry.

    ``resolve_named("demo-dcmq64-image", "indexes")`` -> ``$DISTILHASH_HOME/indexes/demo-dcmq64-image``.
    Anything else is returned unchanged (the caller reports a missing path as before).
    """
    path = Path(value)
    if kind not in _KIND_DIRS:
        raise ValueError(f"kind {kind!r}; expected one of {', '.join(_KIND_DIRS)}")
    if path.exists() or len(path.parts) != 1 or str(value).startswith("."):
        return path
    named = _KIND_DIRS[kind]() / path
    return named if named.exists() else path
