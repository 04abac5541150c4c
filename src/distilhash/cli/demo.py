"""``distilhash demo``: the openclipart demo, its two reports and its teacher check.

    distilhash demo run                                   # what `make demo` runs (every step, then the page)
    distilhash demo examples INDEX_DIR [--encoder static] [--json OUT]
    distilhash demo open-vocab MODEL_DIR [--json OUT]
    distilhash demo teacher [--json OUT]                  # which copy of the demo teacher answers, its fingerprint

The work is :mod:`distilhash.demo.steps`, :mod:`distilhash.demo.examples`,
:mod:`distilhash.demo.open_vocab_summary` and :mod:`distilhash.demo.teacher_check`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from distilhash.cli.errors import Typer
from distilhash.cli.names import index_path, run_path

app = Typer(no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The openclipart demo (`make demo`) and its reports."""


@app.command()
def run() -> None:
    """Run the demo's steps (each skipped when its output exists), then serve the page.

    Environment: DISTILHASH_HOME, DEMO_PORT (8000), DEMO_HOST (127.0.0.1), DEMO_NO_SERVE=1."""
    from distilhash.demo.steps import main

    main()


@app.command()
def examples(
    index_dir: Path = typer.Argument(..., help="An image index (name or directory).", callback=index_path),
    encoder: str = typer.Option("teacher", "--encoder", help="Text encoder of the queries: teacher or static."),
    k: int = typer.Option(10, "-k", help="Results per query."),
    json_out: Path = typer.Option(None, "--json", help="Also write the results as JSON here."),
) -> None:
    """Search an image index with the demo's ten example queries; precision@10 by label and by title."""
    from distilhash.demo.examples import print_examples, run_examples, save_examples

    results = run_examples(index_dir, k=k, encoder=encoder)
    print_examples(results)
    if json_out is not None:
        save_examples(results, json_out)


@app.command("open-vocab")
def open_vocab(
    model_dir: Path = typer.Argument(..., help="A trained model (name or directory).", callback=run_path),
    json_out: Path = typer.Option(None, "--json", help="Also write the figures as JSON here."),
) -> None:
    """Score the float teacher and a trained model on the open-vocabulary benchmark (176 noun queries)."""
    from distilhash.demo.open_vocab_summary import print_summary, save_summary, summarize

    summary = summarize(model_dir)
    print_summary(summary)
    if json_out is not None:
        save_summary(summary, json_out)


@app.command()
def teacher(
    json_out: Path = typer.Option(None, "--json", help="Also write the record (spec, copy, fingerprint, commands) here."),
) -> None:
    """Load the demo's teacher (this home's fit, else the shipped copy, sha256-checked); say which copy answered,
    its fingerprint and the commands that reproduce it."""
    from distilhash.demo.teacher_check import record_lines, save_record, teacher_record
    from distilhash.paths import datasets_dir
    from distilhash.teachers.recipes import DEMO_TEACHER, RECIPES

    dataset = RECIPES[DEMO_TEACHER].dataset
    rec = teacher_record(DEMO_TEACHER, dataset if (datasets_dir() / dataset / "split.json").is_file() else None)
    typer.echo("\n".join(record_lines(rec)))
    if json_out is not None:
        save_record(rec, json_out)
