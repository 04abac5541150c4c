"""``distilhash eval MODEL_DIR``: evaluate a trained model in both directions and plot it.

    distilhash eval runs/dcmq64 --dataset emoji-scenes --part query --top-n 100 --top-n 1000 \\
        --tie-aware --out runs/dcmq64/eval

Writes ``OUT/report.json`` (per direction: ``RetrievalReport.to_dict()`` plus provenance: model,
dataset, split hash, teacher, part, git commit) and ``OUT/report.png`` (PR and precision@N
curves), and prints mAP@all / mAP@N. Definitions: ``docs/metrics.md``. The work is
:func:`distilhash.pipeline.evaluate.evaluate_model`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from distilhash.cli.names import run_path

__all__ = ["command"]


def command(
    model_dir: Path = typer.Argument(..., help="A model directory written by `distilhash train`, or its run name.", callback=run_path),
    dataset: str = typer.Option(None, "--dataset", help="Prepared dataset name or directory (default: the one the model "
                                "was trained on)."),
    teacher: str = typer.Option(None, "--teacher", help="Teacher whose feature cache to read (default: the one the model was trained on)."),
    features: Path = typer.Option(None, "--features", help="Feature cache directory (default: the teacher's cache)."),
    part: str = typer.Option("query", "--part", help="query (query vs retrieval: the reported figures) or val (val vs fit)."),
    top_n: list[int] = typer.Option([100, 500, 1000], "--top-n", help="N of mAP@N / precision@N / recall@N (repeatable)."),
    tie_aware: bool = typer.Option(False, "--tie-aware", help="Expected scores under random order of tied items."),
    out: Path = typer.Option(None, "--out", help="Output directory (default: MODEL_DIR/eval-PART)."),
    threads: int = typer.Option(None, "--threads", help="Torch threads (default: $DISTILHASH_THREADS, else 1)."),
) -> None:
    """Evaluate a trained model (image->text and text->image) and write report.json + report.png."""
    from distilhash.pipeline.evaluate import evaluate_model

    reports, record = evaluate_model(model_dir, dataset, teacher, features, part=part, top_n=tuple(top_n),
                                     tie_aware=tie_aware, threads=threads, out=out)
    for d, r in reports.items():
        typer.echo(f"{d}: {r.summary()}")
    out_dir = Path(record["out"])
    typer.echo(f"wrote {out_dir / 'report.json'} and {out_dir / 'report.png'}")
