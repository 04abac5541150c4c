"""Fit a registered method on cached teacher features (what ``distilhash train`` does).

    model, record = train_model("dcmq", dataset="emoji-scenes", teacher="minilm-lit", bits=64, seed=0,
                                overrides={"pq_mode": "soft", "epochs": 30}, out="runs/dcmq64")

Loads the prepared dataset's split and the teacher feature cache, creates the method from the
registry (``bits`` -> ``n_bits``, ``seed`` -> ``seed``, ``overrides`` -> any config field), fits
it (model selection on ``split.val`` only), saves the model directory (``method.json``, weights,
``fit_info.json``) plus the run record ``train.json`` (:data:`TRAIN_RECORD`) and returns both.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["TRAIN_RECORD", "build_method", "train_model", "default_run_dir"]

#: File name of the run record in a model directory.
TRAIN_RECORD = "train.json"


def build_method(name: str, bits: int | None, seed: int, overrides: dict[str, Any]) -> tuple[Any, list[str]]:
    """Create ``name`` with ``n_bits``/``seed`` and overrides; returns (method, notes shown to the user)."""
    from distilhash.methods.base import create_method, method_class

    notes: list[str] = []
    config = dict(overrides)
    if bits is not None:
        if method_class(name).capabilities_for(config).bits_independent:
            notes.append(f"{name} does not depend on the bit budget; --bits {bits} only labels the run")
            config.setdefault("n_bits", bits)
        else:
            config["n_bits"] = bits
    config["seed"] = seed
    return create_method(name, **config), notes


def default_run_dir(dataset_name: str, method: str, n_bits: int, seed: int) -> Path:
    """``$DISTILHASH_HOME/runs/DATASET__METHOD__BITS__sSEED``."""
    from distilhash.paths import runs_dir

    return runs_dir() / f"{dataset_name}__{method}__{n_bits}__s{seed}"


def _data_notes(ds, split, model, method: str) -> tuple[list[str], bool]:
    """Warnings about the data (no labels, few queries) and whether mAP can be measured at all."""
    if ds.num_labels == 0:
        selects_without_labels = type(model).__module__.endswith("baselines") or model.capabilities.label_free_selection
        return [f"{ds.name} has no labels: mAP (relevance = a shared label) cannot be measured, so evaluation "
                "is skipped" + ("" if selects_without_labels else
                                f", and {method}'s model selection on split.val scores every epoch 0 (it keeps "
                                "an arbitrary one): prefer pq, lsh or itq, which select nothing, add labels, or "
                                "(dcmq) --preset open-vocab, or --set val_criterion=teacher-top10 --set target_text=caption, "
                                "which select without them")], False
    if len(split.query) < 50:
        return [f"only {len(split.query)} query and {len(split.val)} validation items: the mAP figures below "
                "are noisy"], True
    return [], True


def _preset_options(method: str, preset: str | None, ds, overrides: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """(notes, options) of ``method``'s preset for ``ds``: the options for a dataset without labels when it has none."""
    from distilhash.methods.presets import preset_options, unlabelled_changes

    if preset is None:
        return [], {}
    labelled = ds.num_labels > 0
    changed = {} if labelled else {k: v for k, v in unlabelled_changes(method, preset).items() if k not in overrides}
    notes = [f"{ds.name} has no labels, so --preset {preset} sets " + ", ".join(f"{k}={new} (not {old})" for k, (old, new)
             in changed.items()) + " (with labels it would use them)"] if changed else []
    return notes, preset_options(method, preset, labelled=labelled)


def train_model(method: str, dataset: str = "emoji-scenes", teacher: str | None = None,
                features: str | Path | None = None, *, bits: int | None = None, seed: int = 0,
                overrides: dict[str, Any] | None = None, out: str | Path | None = None, threads: int | None = None,
                evaluate: bool = True, stream: bool = False, chunk_size: int | None = None, workers: int = 1,
                command: str | None = None, say: Callable[[str], None] | None = None,
                overwrite: bool = False, preset: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Fit ``method`` on ``dataset``'s cached ``teacher`` features, save it to ``out``; ``(model, record)``.

    ``record`` (also written to ``out/train.json``) holds the command, commit, dataset and split
    hashes, teacher, config, epoch policy, timing, memory, load average, ``model_dir`` and
    ``map_all`` (``{"val"|"query": {"i2t", "t2i"}}``, empty when ``evaluate`` is off or the dataset
    has no labels). ``say`` receives progress lines ("note: ...", "training ...") before fitting.
    ``stream``: online methods absorb ``split.retrieval`` chunk by chunk into ``out/stream``;
    ``workers > 1``: data-parallel fit (:mod:`distilhash.distributed.data_parallel`).
    ``teacher=None``: the dataset's only feature cache. An ``out`` that already holds a saved model
    is refused unless ``overwrite`` (indexes built from that model would silently go stale).
    ``preset``: a named option set of ``method`` (:mod:`distilhash.methods.presets`) under ``overrides``; on a dataset
    without labels, with the preset's options for one (said in a note).
    """
    from distilhash.io_utils import atomic_write_json
    from distilhash.pipeline.evaluate import evaluate_parts
    from distilhash.pipeline.inputs import load_features_and_split
    from distilhash.pipeline.records import git_commit
    from distilhash.threads import set_threads
    from distilhash.epochs import NO_BUDGET

    say = say or (lambda line: None)
    threads = set_threads(threads)
    ds, split, feats, fpath = load_features_and_split(dataset, teacher, features)
    preset_notes, preset_opts = _preset_options(method, preset, ds, overrides or {})
    overrides = {**preset_opts, **(overrides or {})}
    if chunk_size is not None:
        overrides["chunk_size"] = chunk_size
    model, notes = build_method(method, bits, seed, overrides)
    notes = preset_notes + notes
    data_notes, measurable = _data_notes(ds, split, model, method)
    evaluate = evaluate and measurable
    for note in notes + data_notes:
        say(f"note: {note}")
    target = Path(out) if out is not None else default_run_dir(ds.name, method, bits or model.n_bits, seed)
    if (target / "method.json").is_file() and not overwrite:
        from distilhash.errors import ConfigError

        raise ConfigError(f"{target} already holds a trained model; indexes built from it would no longer match "
                          "its codes. Choose another --out, or pass --overwrite (and rebuild its indexes)")
    say(f"training {method} ({model.n_bits} bits, seed {seed}) on {ds.name} "
        f"[split {split.hash}, fit {len(split.fit)}, val {len(split.val)}] with {fpath}")
    t0, load_before = time.perf_counter(), list(os.getloadavg())
    if stream:
        from distilhash.pipeline.stream import fit_stream

        model = fit_stream(model, feats, split, ds, target / "stream")
    elif workers > 1:
        from distilhash.distributed.data_parallel import fit_data_parallel

        model = fit_data_parallel(method, model.config_dict(), fpath, split, workers, target, threads=threads)
    else:
        model.fit(feats, split, **({"dataset": ds} if model.capabilities.input == "raw" else {}))
    train_seconds = time.perf_counter() - t0
    model.save(target)
    scores = evaluate_parts(model, feats, split, dataset=ds) if evaluate else {}
    info = model.fit_info_
    for note in info.get("notes", ()):  # what the fit itself found (e.g. pq: fewer rows than centroids)
        say(f"note: {note}")
    record = {
        "command": command or f"distilhash train {method}",
        "commit": git_commit(),
        "dataset": ds.name, "dataset_hash": split.dataset_hash, "split_hash": split.hash,
        "teacher": feats.teacher, "teacher_identity": feats.teacher_identity(), "features": str(fpath),
        "method": method, "preset": preset, "config": model.config_dict(), "n_bits": model.n_bits, "seed": seed,
        "epoch_policy": {k: info[k] for k in ("kept_epoch", "kept_because", "stop_reason", "epochs_run") if k in info},
        "budget": info.get("budget") or NO_BUDGET,
        "train_seconds": train_seconds, "threads": threads, "workers": workers,
        "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_before": load_before, "load_after": list(os.getloadavg()),
        "map_all": scores,
        "model_dir": str(target),
    }
    atomic_write_json(target / TRAIN_RECORD, record)
    return model, record
