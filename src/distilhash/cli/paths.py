"""``distilhash paths``: where artefacts are stored and what is there.

    distilhash paths            # the root ($DISTILHASH_HOME or ~/.cache/distilhash) and its contents
    distilhash paths --json

Every stage reads and writes under one root; ``make`` sets it to ``./data`` of the checkout, so
outside ``make`` run ``export DISTILHASH_HOME=/path/to/checkout/data`` to reach what it built.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

__all__ = ["command", "describe_home"]


def _entries(directory: Path, marker: str | None) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(d.name for d in directory.iterdir()
                  if d.is_dir() and not d.name.startswith(".") and (marker is None or (d / marker).is_file()))


def describe_home() -> dict[str, object]:
    """``{"home", "origin", "<kind>": {"path", "entries"}}`` for datasets, teachers, features, runs, indexes."""
    from distilhash.paths import datasets_dir, features_dir, home, home_origin, indexes_dir, runs_dir, teachers_dir

    kinds = {
        "datasets": (datasets_dir(), "dataset.json"),
        "teachers": (teachers_dir(), None),
        "features": (features_dir(), "manifest.json"),
        "runs": (runs_dir(), "method.json"),
        "indexes": (indexes_dir(), "manifest.json"),
    }
    out: dict[str, object] = {"home": str(home()), "origin": home_origin()}
    for kind, (path, marker) in kinds.items():
        out[kind] = {"path": str(path), "entries": _entries(path, marker)}
    return out


def command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the artefact root ($DISTILHASH_HOME) and the datasets, features, runs and indexes under it."""
    info = describe_home()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"DISTILHASH_HOME: {info['home']}  [{info['origin']}]")
    for kind in ("datasets", "teachers", "features", "runs", "indexes"):
        part = info[kind]
        assert isinstance(part, dict)
        names = part["entries"]
        typer.echo(f"  {kind:9s} {part['path']}: {', '.join(names) if names else '(none)'}")
    typer.echo("Other locations: `export DISTILHASH_HOME=DIR` (`make` uses ./data of the checkout). "
               "Index and run directories given as paths (e.g. ix/photos) are relative to the current directory.")
