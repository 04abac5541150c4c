"""Typer callbacks that let a name from ``distilhash paths`` stand wherever an index or run path is.

    distilhash search demo-dcmq64-image --text "a red apple"   # = $DISTILHASH_HOME/indexes/demo-dcmq64-image

An existing path always wins; see :func:`distilhash.paths.resolve_named`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["index_path", "index_paths", "run_path"]


def index_path(value: Path | None) -> Path | None:
    """An index directory, or the name of one under ``$DISTILHASH_HOME/indexes``."""
    from distilhash.paths import resolve_named

    return None if value is None else resolve_named(value, "indexes")


def index_paths(values: list[Path] | None) -> list[Path] | None:
    """Several index directories or names (see :func:`index_path`)."""
    return None if values is None else [index_path(v) for v in values]


def run_path(value: Path | None) -> Path | None:
    """A model directory, or the name of a run under ``$DISTILHASH_HOME/runs``."""
    from distilhash.paths import resolve_named

    return None if value is None else resolve_named(value, "runs")
