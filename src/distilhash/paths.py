"""Where distilhash keeps prepared datasets, teachers, feature caches and runs."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["home", "datasets_dir", "teachers_dir", "features_dir", "runs_dir"]


def home() -> Path:
    """Root of all stored artefacts: ``$DISTILHASH_HOME`` or ``~/.cache/distilhash``."""
    root = os.environ.get("DISTILHASH_HOME")
    return Path(root) if root else Path.home() / ".cache" / "distilhash"


def datasets_dir() -> Path:
    return home() / "datasets"


def teachers_dir() -> Path:
    return home() / "teachers"


def features_dir() -> Path:
    return home() / "features"


def runs_dir() -> Path:
    return home() / "runs"
