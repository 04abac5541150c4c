"""``distilhash train METHOD``: fit any registered method on cached teacher features.

    distilhash train dcmq --dataset emoji-scenes --teacher minilm-lit --bits 64 --seed 0 \\
        --set pq_mode=soft --set epochs=30 --out runs/dcmq64

Loads the prepared dataset's split and the teacher feature cache, creates the method from the
registry (``--bits`` -> ``n_bits``, ``--seed`` -> ``seed``, ``--set KEY=VALUE`` -> any config
field; values parsed as JSON when possible), fits it (model selection on ``split.val`` only),
saves the model directory (``method.json``, weights, ``fit_info.json``, ``train.json``) and
prints validation and query mAP@all in both directions.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer

__all__ = ["command", "parse_sets", "build_method", "load_features_and_split", "TRAIN_RECORD"]

TRAIN_RECORD = "train.json"


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``["lr=0.001", "pq_mode=soft", "progress=false"]`` -> typed dict (JSON values, else strings)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--set {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        out[key.strip().replace("-", "_")] = parsed
    return out


def build_method(name: str, bits: int | None, seed: int, overrides: dict[str, Any]) -> tuple[Any, list[str]]:
    """Create ``name`` with ``n_bits``/``seed`` and overrides; returns (method, notes shown to the user)."""
    from distilhash.methods.base import create_method, method_class

    notes: list[str] = []
    config = dict(overrides)
    if bits is not None:
        if method_class(name).capabilities.bits_independent:
            notes.append(f"{name} does not depend on the bit budget; --bits {bits} only labels the run")
            config.setdefault("n_bits", bits)
        else:
            config["n_bits"] = bits
    config["seed"] = seed
    return create_method(name, **config), notes


def load_features_and_split(dataset: str, teacher: str, features: Path | None):
    """The prepared dataset, its split and the teacher features (hashes checked against the split)."""
    from distilhash.data.store import open_prepared
    from distilhash.errors import FeatureError
    from distilhash.teachers.cache import default_features_dir, load_features

    ds, split = open_prepared(dataset)
    path = Path(features) if features is not None else default_features_dir(ds.name, teacher)
    if not path.exists():
        from distilhash.paths import home_hint

        raise FeatureError(f"no teacher features at {path} for dataset {ds.name!r} and teacher {teacher!r}; "
                           f"run `distilhash teacher extract --dataset {dataset} --teacher {teacher}` first (or pass "
                           f"--features); {home_hint()}")
    feats = load_features(path)
    for key, have in (("dataset_hash", split.dataset_hash), ("split_hash", split.hash)):
        want = feats.manifest.get(key)
        if want and want != have:
            raise FeatureError(f"features at {path} were extracted for {key}={want}, but {ds.name!r} has {key}={have}; "
                               "re-extract the features")
    if len(feats) != len(ds):
        raise FeatureError(f"features at {path} have {len(feats)} rows; dataset {ds.name!r} has {len(ds)} items")
    return ds, split, feats, path


def evaluate_parts(method, feats, split, parts=("val", "query"), dataset=None) -> dict[str, dict[str, float]]:
    """mAP@all per direction for each part, through :mod:`distilhash.eval` (fallback: training.validation)."""
    out: dict[str, dict[str, float]] = {}
    for part in parts:
        try:
            from distilhash.eval.metrics import evaluate_method

            reports = evaluate_method(method, feats, split, part=part, curves=False, dataset=dataset)
            out[part] = {d: float(r.map_all) for d, r in reports.items()}
        except ImportError:
            from distilhash.training.validation import retrieval_map

            q, db = (split.val, split.fit) if part == "val" else (split.query, split.retrieval)
            r = retrieval_map(method, feats, q, db)
            out[part] = {"i2t": r["i2t"], "t2i": r["t2i"]}
    return out


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except Exception:  # noqa: BLE001 - not a git checkout
        return "unknown"


def command(
    method: str = typer.Argument(..., help="Method name (dcmq, float-student, lcdh, soda, lsh, itq, pq, dcmh, float-teacher)."),
    dataset: str = typer.Option("emoji-scenes", "--dataset", help="Prepared dataset name or directory."),
    teacher: str = typer.Option("minilm-lit", "--teacher", help="Teacher whose feature cache to use."),
    features: Path = typer.Option(None, "--features", help="Feature cache directory (default: the teacher's cache)."),
    bits: int = typer.Option(None, "--bits", help="Code length in bits (method default if omitted)."),
    seed: int = typer.Option(0, "--seed", help="Training seed."),
    sets: list[str] = typer.Option([], "--set", help="Config override KEY=VALUE (repeatable)."),
    out: Path = typer.Option(None, "--out", help="Model directory (default: $DISTILHASH_HOME/runs/DATASET__METHOD__BITS__sSEED)."),
    threads: int = typer.Option(None, "--threads", help="Torch threads (default: $DISTILHASH_THREADS, else 1: the fastest "
                                "on a busy machine; the Python API uses the same default)."),
    evaluate: bool = typer.Option(True, "--eval/--no-eval", help="Print validation and query mAP@all after training."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    stream: bool = typer.Option(False, "--stream", help="Online methods (lcdh): absorb split.retrieval chunk by chunk, "
                                "storing codes durably in OUT/stream and checkpointing (and resuming) after each chunk."),
    chunk_size: int = typer.Option(None, "--chunk-size", help="Items per stream chunk (with --stream; method default if omitted)."),
    workers: int = typer.Option(1, "--workers", help="Data-parallel worker processes (torch.distributed, gloo on 127.0.0.1; "
                                "each with --threads threads; dcmq and float-student). See docs/distributed.md."),
) -> None:
    """Train METHOD on cached teacher features and save the model directory."""
    from distilhash.errors import DistilhashError
    from distilhash.paths import runs_dir

    os.environ["DISTILHASH_PROGRESS"] = "1" if progress else "0"
    try:
        from distilhash.threads import set_threads

        threads = set_threads(threads)
        ds, split, feats, fpath = load_features_and_split(dataset, teacher, features)
        overrides = parse_sets(sets)
        if chunk_size is not None:
            overrides["chunk_size"] = chunk_size
        model, notes = build_method(method, bits, seed, overrides)
        if ds.num_labels == 0:
            evaluate = False
            notes.append(f"{ds.name} has no labels: mAP (relevance = a shared label) cannot be measured, so evaluation "
                         "is skipped" + ("" if type(model).__module__.endswith("baselines") else
                                         f", and {method}'s model selection on split.val scores every epoch 0 (it keeps "
                                         "an arbitrary one): prefer pq, lsh or itq, which select nothing, or add labels"))
        elif len(split.query) < 50:
            notes.append(f"only {len(split.query)} query and {len(split.val)} validation items: the mAP figures below "
                         "are noisy")
        for note in notes:
            typer.echo(f"note: {note}")
        target = out or runs_dir() / f"{ds.name}__{method}__{bits or model.n_bits}__s{seed}"
        typer.echo(f"training {method} ({model.n_bits} bits, seed {seed}) on {ds.name} "
                   f"[split {split.hash}, fit {len(split.fit)}, val {len(split.val)}] with {fpath}")
        t0 = time.perf_counter()
        fit_kw = {"dataset": ds} if type(model).capabilities.input == "raw" else {}
        if stream:
            from distilhash.pipeline.stream import fit_stream

            model = fit_stream(model, feats, split, ds, Path(target) / "stream")
        elif workers > 1:
            from distilhash.distributed.data_parallel import fit_data_parallel

            model = fit_data_parallel(method, model.config_dict(), fpath, split, workers, target, threads=threads)
        else:
            model.fit(feats, split, **fit_kw)
        train_seconds = time.perf_counter() - t0
        model.save(target)
        scores = evaluate_parts(model, feats, split, dataset=ds) if evaluate else {}
    except DistilhashError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    info = model.fit_info_
    record = {
        "command": " ".join(["distilhash", "train", *sys.argv[2:]]) if len(sys.argv) > 1 else f"distilhash train {method}",
        "git_commit": _git_commit(),
        "dataset": ds.name, "dataset_hash": split.dataset_hash, "split_hash": split.hash,
        "teacher": feats.teacher, "features": str(fpath),
        "method": method, "config": model.config_dict(), "n_bits": model.n_bits, "seed": seed,
        "epoch_policy": {k: info[k] for k in ("kept_epoch", "kept_because", "stop_reason", "epochs_run") if k in info},
        "train_seconds": train_seconds, "threads": threads, "workers": workers,
        "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average": list(os.getloadavg()),
        "map_all": scores,
    }
    from distilhash.io_utils import atomic_write_json

    atomic_write_json(Path(target) / TRAIN_RECORD, record)
    typer.echo(f"saved {target} in {train_seconds:.1f} s"
               + (f" (kept epoch {info['kept_epoch']}: {info.get('kept_because', '')})" if "kept_epoch" in info else ""))
    for part, label in (("val", "validation (split.val vs split.fit)"), ("query", "query (split.query vs split.retrieval)")):
        if part in scores:
            s = scores[part]
            typer.echo(f"{label:42s} mAP@all  i2t {s['i2t']:.4f}  t2i {s['t2i']:.4f}  mean {(s['i2t'] + s['t2i']) / 2:.4f}")
    if not stream:
        typer.echo(f"next: distilhash index build ix/{ds.name} --model {target} --dataset {dataset}")
