"""``distilhash train METHOD``: fit any registered method on cached teacher features.

    distilhash train dcmq --dataset emoji-scenes --teacher minilm-lit --bits 64 --seed 0 \\
        --set pq_mode=soft --set epochs=30 --out runs/dcmq64

Loads the prepared dataset's split and the teacher feature cache, creates the method from the
registry (``--bits`` -> ``n_bits``, ``--seed`` -> ``seed``, ``--set KEY=VALUE`` -> any config
field; values parsed as JSON when possible; ``--preset NAME`` -> a named option set of
:mod:`distilhash.methods.presets` under them), fits it (model selection on ``split.val`` only),
saves the model directory (``method.json``, weights, ``fit_info.json``, ``train.json``) and
prints validation and query mAP@all in both directions. The work is
:func:`distilhash.pipeline.train.train_model`; this module parses options and prints.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

__all__ = ["command"]


def command(
    method: str = typer.Argument(..., help="Method name (dcmq, float-student, lcdh, soda, lsh, itq, pq, dcmh, float-teacher)."),
    dataset: str = typer.Option("emoji-scenes", "--dataset", help="Prepared dataset name or directory."),
    teacher: str = typer.Option(None, "--teacher", help="Teacher whose feature cache to use (default: the dataset's only "
                                "feature cache)."),
    features: Path = typer.Option(None, "--features", help="Feature cache directory (default: the teacher's cache)."),
    bits: int = typer.Option(None, "--bits", help="Code length in bits (method default if omitted)."),
    seed: int = typer.Option(0, "--seed", help="Training seed."),
    preset: str = typer.Option(None, "--preset", help="A named option set of the method (dcmq: open-vocab, for search by "
                               "what people type); --config and --set apply on top."),
    sets: list[str] = typer.Option([], "--set", help="Config override KEY=VALUE (repeatable)."),
    config: Path = typer.Option(None, "--config", help="The run's config as JSON: an object of options, or a saved "
                                "method.json; --bits, --seed and --set apply on top."),
    out: Path = typer.Option(None, "--out", help="Model directory (default: $DISTILHASH_HOME/runs/DATASET__METHOD__BITS__sSEED)."),
    threads: int = typer.Option(None, "--threads", help="Torch threads (default: $DISTILHASH_THREADS, else 1: the fastest "
                                "on a busy machine; the Python API uses the same default)."),
    evaluate: bool = typer.Option(True, "--eval/--no-eval", help="Print validation and query mAP@all after training."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    stream: bool = typer.Option(False, "--stream", help="Online methods (lcdh): absorb split.retrieval chunk by chunk, "
                                "storing codes durably in OUT/stream and checkpointing (and resuming) after each chunk."),
    chunk_size: int = typer.Option(None, "--chunk-size", help="Items per stream chunk (with --stream; method default if omitted)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model already saved in --out (its indexes must "
                                   "then be rebuilt)."),
    workers: int = typer.Option(1, "--workers", help="Data-parallel worker processes (torch.distributed, gloo on 127.0.0.1; "
                                "each with --threads threads; dcmq, float-student, soda, dcmh). See docs/distributed.md."),
) -> None:
    """Train METHOD on cached teacher features and save the model directory."""
    from distilhash.configs import parse_overrides
    from distilhash.methods.base import read_run_config
    from distilhash.pipeline.train import train_model

    os.environ["DISTILHASH_PROGRESS"] = "1" if progress else "0"
    overrides = {**(read_run_config(config, method)[1] if config is not None else {}), **parse_overrides(sets)}
    model, record = train_model(
        method, dataset, teacher, features, bits=bits, seed=seed, overrides=overrides, out=out,
        threads=threads, evaluate=evaluate, stream=stream, chunk_size=chunk_size, workers=workers,
        command=" ".join(["distilhash", "train", *sys.argv[2:]]) if len(sys.argv) > 1 else None, say=typer.echo,
        overwrite=overwrite, preset=preset)
    target, policy, scores = record["model_dir"], record["epoch_policy"], record["map_all"]
    typer.echo(f"saved {target} in {record['train_seconds']:.1f} s"
               + (f" (kept epoch {policy['kept_epoch']}: {policy.get('kept_because', '')})" if "kept_epoch" in policy else ""))
    for part, label in (("val", "validation (split.val vs split.fit)"), ("query", "query (split.query vs split.retrieval)")):
        if part in scores:
            s = scores[part]
            typer.echo(f"{label:42s} mAP@all  i2t {s['i2t']:.4f}  t2i {s['t2i']:.4f}  mean {(s['i2t'] + s['t2i']) / 2:.4f}")
    if not model.capabilities.indexable:
        typer.echo(f"next: distilhash eval {target}   ({method} gives float codes: a reference to compare coded models "
                   "with; an index stores binary or pq codes, e.g. of dcmq, pq, itq or lsh)")
    elif not stream:
        from distilhash.paths import indexes_dir

        name = Path(target).name  # the index is named after the model it encodes with
        typer.echo(f"next: distilhash index build {indexes_dir() / f'{name}-image'} --model {target} --dataset {record['dataset']} "
                   f"--modality image\n      distilhash search {name}-image --text \"...\"   (index names from `distilhash paths` work as paths)")
