"""``distilhash query-encoder``: fit and describe a model's static query text encoder.

    distilhash query-encoder fit --model runs/dcmq64          # -> runs/dcmq64/static-text
    distilhash query-encoder info runs/dcmq64
    distilhash query-encoder weak-match --model runs/dcmq64   # -> runs/dcmq64/weak-match

The work is :func:`distilhash.pipeline.query_encoder.fit_query_encoder` and
:func:`distilhash.pipeline.weak_match.calibrate_for_model`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from distilhash.cli.errors import Typer
from distilhash.cli.names import run_path

app = Typer(no_args_is_help=True)


@app.command()
def fit(
    model: Path = typer.Option(..., "--model", help="Model directory (method.json)."),
    dataset: str = typer.Option(None, "--dataset", help="Prepared dataset (default: the one the model was trained on)."),
    features: Path = typer.Option(None, "--features", help="Teacher feature cache (default: the dataset's cache for the model's teacher)."),
    teacher: str = typer.Option(None, "--teacher", help="Teacher spec (default: the model's)."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: MODEL/static-text)."),
    pca_dims: int = typer.Option(256, "--pca-dims", help="Width of the static table (0: the tower's width)."),
    tune_epochs: int = typer.Option(10, "--tune-epochs", help="Most epochs of tuning the table on split.fit captions, kept "
                                    "only when split.val text->image mAP@all beats the untuned encoder (0: no tuning)."),
    threads: int = typer.Option(None, "--threads", help="torch threads for the distillation (default: $DISTILHASH_THREADS, "
                                 "else the cores other work leaves free now, at least 1)."),
    force: bool = typer.Option(False, "--force", help="Refit even when a folder with the same fingerprint is there."),
) -> None:
    """Distil the teacher's text tower with model2vec and map it into the teacher's space (split.train captions)."""
    from distilhash.pipeline.query_encoder import fit_query_encoder
    from distilhash.query_encoders.static_text_fit import StaticTextConfig
    from distilhash.threads import fit_threads

    from distilhash.query_encoders.static_text import META_FILE, static_text_dir

    meta = (out if out is not None else static_text_dir(model)) / META_FILE
    before = meta.stat().st_mtime_ns if meta.is_file() else None
    enc, path = fit_query_encoder(model, dataset, features, teacher, StaticTextConfig(pca_dims=pca_dims, tune_epochs=tune_epochs), out,
                                  threads=fit_threads(threads), force=force)
    r = enc.meta.get("report", {})
    verb = "reused (same fingerprint)" if before is not None and (path / META_FILE).stat().st_mtime_ns == before else "wrote"
    typer.echo(f"{verb} {path}: static table {enc.table.shape[0]} tokens x {enc.table.shape[1]}, map to {enc.width}-d; "
               f"alpha {r.get('alpha_relative')}, cosine to the teacher on the {r.get('n_fit')} fit captions "
               f"{r.get('fit_cosine_mean')} (leave-one-out {round(float(r.get('loo_cosine_mean', 0)), 4)}); {_tuning_note(r)}"
               f"fingerprint {enc.fingerprint}")


def _tuning_note(report: dict) -> str:
    t = report.get("tuning")
    if not t:
        return "table not tuned; "
    return (f"table tuned {t['epoch']} epochs (split.val mAP {t['val_scores'][t['epoch']]:.4f} vs {t['val_scores'][0]:.4f} "
            "untuned); " if t["kept"] else f"tuning not kept (no epoch beat the untuned split.val mAP {t['val_scores'][0]:.4f}); ")


@app.command()
def info(
    where: Path = typer.Argument(..., help="A model directory (reads MODEL/static-text) or a static encoder folder."),
) -> None:
    """Print a static encoder's fingerprint, settings and fit report."""
    from distilhash.query_encoders.static_text import load_static_text, static_text_dir

    folder = static_text_dir(where) if (where / "method.json").is_file() else where
    enc = load_static_text(folder)
    typer.echo(json.dumps({"folder": str(folder), **enc.meta}, indent=2, default=str))


@app.command("weak-match")
def weak_match(
    model: Path = typer.Option(..., "--model", help="Model directory (method.json) or run name.", callback=run_path),
    dataset: str = typer.Option(None, "--dataset", help="Prepared dataset (default: the one the model was trained on)."),
    teacher: str = typer.Option(None, "--teacher", help="Teacher spec (default: the model's)."),
    false_alarm: float = typer.Option(None, "--false-alarm", help="Share of held-out real captions (split.val) flagged "
                                      "as weak (default 0.05)."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: MODEL/weak-match, where the service finds it)."),
) -> None:
    """Calibrate the weak-match note: do a query's words read like this collection's captions (threshold from split.val)."""
    from distilhash.pipeline.weak_match import FALSE_ALARM, calibrate_for_model

    ref, path = calibrate_for_model(model, dataset, teacher, FALSE_ALARM if false_alarm is None else false_alarm, out)
    i = ref.info
    typer.echo(f"wrote {path}: threshold {ref.threshold:.3f}; on the calibration set {i['calibration_false_alarm']:.1%} of "
               f"{i['n_calibration']} split.val captions and {i['calibration_nonsense_flagged']:.1%} of the nonsense are below it; "
               f"reference: {len(ref.features)} split.fit captions")
