"""``distilhash student``: label-free warm start of the LCDH image student.

    distilhash student pretrain [--out DIR] [--set objective=distill+lit --set epochs=8 ...]

Same as ``python -m distilhash.students.pretrain``; see :mod:`distilhash.students.pretrain`.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Student networks that read raw inputs (LCDH)."""


@app.command()
def pretrain(
    out: Path = typer.Option(None, "--out", help="Output directory (default $DISTILHASH_HOME/students/small-cnn-<objective>-<key>)."),
    set_: list[str] = typer.Option([], "--set", help="Option KEY=VALUE (JSON values), e.g. epochs=8, objective=distill."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Pretrain the small image CNN on the pretraining corpus (no labels, no benchmark item); cached."""
    from distilhash.errors import DistilhashError
    from distilhash.students.pretrain import main

    argv = [*(["--out", str(out)] if out else []), *[x for kv in set_ for x in ("--set", kv)],
            *([] if progress else ["--no-progress"])]
    try:
        main(argv)
    except DistilhashError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
