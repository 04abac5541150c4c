"""``distilhash student``: label-free warm start of the LCDH image student.

    distilhash student pretrain [--out DIR] [--set objective=distill+lit --set epochs=8 ...]

The work is :func:`distilhash.students.pretrain.ensure_pretrained`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from distilhash.cli.errors import Typer

app = Typer(no_args_is_help=True)


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
    from distilhash.configs import parse_overrides
    from distilhash.students.pretrain import StudentPretrainConfig, ensure_pretrained, pretrain_summary

    config = StudentPretrainConfig.from_kwargs(**parse_overrides(set_))
    directory = ensure_pretrained(config, out, progress=progress)
    for line in pretrain_summary(directory):
        typer.echo(line)
