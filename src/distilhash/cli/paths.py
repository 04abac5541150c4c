"""``distilhash paths``: where artefacts are stored and what is there.

    distilhash paths            # the root ($DISTILHASH_HOME or ~/.cache/distilhash) and its contents
    distilhash paths --json

Every stage reads and writes under one root; ``make`` sets it to ``./data`` of the checkout, so
outside ``make`` run ``export DISTILHASH_HOME=/path/to/checkout/data`` to reach what it built.
"""

from __future__ import annotations

import json

import typer

__all__ = ["command"]


def command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the artefact root ($DISTILHASH_HOME) and the datasets, features, runs and indexes under it."""
    from distilhash.paths import describe_home

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
