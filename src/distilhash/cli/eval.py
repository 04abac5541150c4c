"""``distilhash eval MODEL_DIR``: evaluate a trained model in both directions and plot it.

    distilhash eval runs/dcmq64 --dataset emoji-scenes --part query --top-n 100 --top-n 1000 \\
        --tie-aware --out runs/dcmq64/eval

Writes ``OUT/report.json`` (per direction: ``RetrievalReport.to_dict()`` plus provenance: model,
dataset, split hash, teacher, part, git commit) and ``OUT/report.png`` (PR and precision@N
curves), and prints mAP@all / mAP@N. Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

__all__ = ["command"]


def command(
    model_dir: Path = typer.Argument(..., help="A model directory written by `distilhash train`."),
    dataset: str = typer.Option("emoji-scenes", "--dataset", help="Prepared dataset name or directory."),
    teacher: str = typer.Option("minilm-lit", "--teacher", help="Teacher whose feature cache to read."),
    features: Path = typer.Option(None, "--features", help="Feature cache directory (default: the teacher's cache)."),
    part: str = typer.Option("query", "--part", help="query (query vs retrieval: the reported figures) or val (val vs fit)."),
    top_n: list[int] = typer.Option([100, 500, 1000], "--top-n", help="N of mAP@N / precision@N / recall@N (repeatable)."),
    tie_aware: bool = typer.Option(False, "--tie-aware", help="Expected scores under random order of tied items."),
    out: Path = typer.Option(None, "--out", help="Output directory (default: MODEL_DIR/eval-PART)."),
    threads: int = typer.Option(None, "--threads", help="Torch threads (default: $DISTILHASH_THREADS, else 1)."),
) -> None:
    """Evaluate a trained model (image->text and text->image) and write report.json + report.png."""
    from distilhash.cli.train import load_features_and_split
    from distilhash.errors import DistilhashError
    from distilhash.eval.metrics import evaluate_method
    from distilhash.eval.plots import plot_directions
    from distilhash.io_utils import atomic_write_json
    from distilhash.methods.base import load_method

    out = Path(out) if out is not None else Path(model_dir) / f"eval-{part}"
    try:
        method = load_method(model_dir)
        if "torch" in sys.modules:  # the method uses torch: keep it to the given threads
            from distilhash.threads import set_threads

            set_threads(threads)
        ds, split, feats, fpath = load_features_and_split(dataset, teacher, features)
        t0 = time.perf_counter()
        reports = evaluate_method(method, feats, split, part=part, dataset=ds, top_n=tuple(top_n),
                                  tie_aware=tie_aware, curves=True, progress=True)
        seconds = time.perf_counter() - t0
    except DistilhashError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    from distilhash.cli.train import _git_commit

    record = {
        "model_dir": str(model_dir),
        "method": method.name,
        "n_bits": method.n_bits,
        "dataset": getattr(ds, "name", dataset),
        "dataset_hash": split.dataset_hash,
        "split_hash": split.hash,
        "teacher": feats.teacher,
        "features": str(fpath),
        "part": part,
        "tie_aware": tie_aware,
        "eval_seconds": round(seconds, 3),
        "git_commit": _git_commit(),
        "reports": {d: r.to_dict() for d, r in reports.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "report.json", record)
    label = f"{record['method']}-{record['n_bits']}"
    plot_directions({d: {label: r} for d, r in reports.items()}, out / "report.png",
                    title=f"{label} on {record['dataset']} ({part}{', tie-aware' if tie_aware else ''})")
    for d, r in reports.items():
        typer.echo(f"{d}: {r.summary()}")
    typer.echo(f"wrote {out / 'report.json'} and {out / 'report.png'}")
