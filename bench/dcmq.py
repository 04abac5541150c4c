"""Benchmark DCMQ against the float student and every baseline at equal bits, plus ablations.

    .venv/bin/python bench/dcmq.py                       # full: 32/64/128 bits, seeds 0 1 2
    .venv/bin/python bench/dcmq.py --seeds 0 --bits 64   # a subset

EmojiScenes, offline teacher (``minilm-lit`` feature cache), the saved split; every method fits
on ``split.fit``, selects epochs on ``split.val`` only, and is scored on ``split.query`` vs
``split.retrieval`` (mAP@all, mAP@1000, precision@1000; both directions) with
:func:`distilhash.eval.metrics.evaluate_method`.

Parts:
* ``main``: dcmq, float-student, float-teacher, lsh, itq, pq, dcmh at each bit length and seed
  (bits-independent methods once per seed);
* ``ablations`` (64 bits): targets npc (= main run) / raw cosine / label overlap; quantizer
  PQG (gumbel, = main run) / soft without noise / hard straight-through; mAP and codeword usage.
* timing: training seconds (from cached features) and encoding throughput, recorded per run.

Each run is stored as it finishes under ``bench/results/dcmq/<name>_runs/`` (an existing run file is
reused, so an interrupted benchmark resumes); the summary goes to ``bench/results/dcmq/<name>.{json,md,png}``
(``--name``, default ``dcmq``). The machine is shared: load averages are recorded per run and in the
provenance block.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.dcmq_report import ABLATIONS, cell_extra, goals, markdown, plot
from distilhash.benchmark.fit_score import encode_rates, fit_and_score
from distilhash.benchmark.grid import Job, run_grid, seed_cells
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import results_dir, write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "dcmq"


def load_data(args):
    if args.labels_synthetic:
        from distilhash.data.store import open_prepared
        from distilhash.teachers.features import FeatureSet
        from distilhash.training.synthetic import features_for_labels

        ds, split = open_prepared(args.dataset)
        arrays = features_for_labels(ds.labels, width=args.synthetic_width, seed=1234, noise=1.0)
        fs = FeatureSet(labels=ds.labels, ids=list(ds.ids), manifest={"teacher": "labels-synthetic"}, **arrays)
        return fs, split, {"dataset": ds.name, "features": f"labels-synthetic-{args.synthetic_width}d"}
    from distilhash.pipeline.inputs import load_features_and_split

    ds, split, fs, path = load_features_and_split(args.dataset, args.teacher, args.features)
    return fs, split, {"dataset": ds.name, "features": str(path)}


def run_path(name: str, dataset: str, job: Job) -> Path:
    """``bench/results/dcmq/<name>_runs/<dataset>__<label>__<bits>__s<seed>.json``: one stored run."""
    return results_dir(BENCH, ROOT) / f"{name}_runs" / f"{dataset}__{job.label.replace('/', '_')}__{job.bits}__s{job.seed}.json"


def run_one(job: Job, fs, split, args, commit: str | None) -> dict:
    from distilhash.configs import parse_overrides
    from distilhash.methods.base import create_method

    cfg = {**job.config, "seed": job.seed, "n_bits": job.bits}
    if job.method in ("dcmq", "float-student"):
        cfg = {**parse_overrides(args.dcmq_set), **cfg, "progress": args.progress}
    scored = fit_and_score(create_method(job.method, **cfg), fs, split, curves=False, top_n=(1000,))
    method, info = scored.method, getattr(scored.method, "fit_info_", {}) or {}
    rec = {
        "label": job.label, "method": job.method, "config": method.config_dict(), "bits": job.bits, "seed": job.seed,
        "code_bits": method.n_bits, **scored.figures(1000), "train_seconds": scored.fit_seconds,
        "encoding": encode_rates(method, fs, split),
        "epoch_policy": {k: info.get(k) for k in ("kept_epoch", "kept_because", "stop_reason", "epochs_run") if k in info},
        "val_map_at_kept": info.get("val_map_at_kept"),
        "val_history": [{"epoch": h["epoch"], "val": h["val"], **{k: h[k] for k in ("train_perplexity", "train_dead", "revived") if k in h}}
                        for h in info.get("history", []) if "val" in h],
        "codeword_usage": info.get("codeword_usage"),
        "target_band": info.get("target_band"),
        "load_before": scored.load_before, "load_after": load_average(),
        "peak_memory_mib_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "commit": commit, "threads": args.threads,
    }
    m = rec["map_all"]
    print(f"{job.label:22s} {job.bits:4d}b seed {job.seed}: mAP i2t {m['i2t']:.4f} t2i {m['t2i']:.4f} "
          f"(mean {np.mean(list(m.values())):.4f}) train {scored.fit_seconds:.1f}s", flush=True)
    return rec


def jobs(args) -> list[Job]:
    """Seed-major; cheap and headline runs first, the slow DCMH last (parts ``main`` and ``ablations``)."""
    out: list[Job] = []
    for seed in args.seeds:
        if "main" in args.parts:
            out += [Job(m, m, {}, 64, seed) for m in ("float-teacher", "float-student")]
            out += [Job("dcmq", "dcmq", {}, b, seed) for b in args.bits]
            out += [Job(m, m, {}, b, seed) for m in ("lsh", "itq", "pq") for b in args.bits]
        if "ablations" in args.parts:
            out += [Job(label, "dcmq", cfg, 64, seed) for label, cfg in ABLATIONS.items()]
        if "main" in args.parts:
            out += [Job("dcmh", "dcmh", {}, b, seed) for b in args.bits]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="emoji-scenes")
    p.add_argument("--teacher", default="minilm-lit")
    p.add_argument("--features", type=Path, default=None)
    p.add_argument("--bits", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--parts", nargs="+", default=["main", "ablations"], choices=["main", "ablations"])
    p.add_argument("--skip", nargs="*", default=[], help="method labels to skip")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--labels-synthetic", action="store_true",
                   help="the dataset's real labels and split, synthetic label-driven teacher features (proxy while no "
                        "teacher cache exists)")
    p.add_argument("--synthetic-width", type=int, default=128)
    p.add_argument("--dcmq-set", nargs="*", default=[], help="KEY=VALUE overrides for every dcmq / float-student run")
    p.add_argument("--force", action="store_true", help="rerun runs whose result file exists")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--name", "--out-name", dest="name", default=BENCH, help="result name under bench/results/dcmq/")
    p.add_argument("--summary-only", action="store_true", help="only rebuild the summary from stored run files")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    fs, split, meta = load_data(args)
    meta["dcmq_overrides"] = args.dcmq_set
    meta.update(threads=args.threads, teacher=fs.teacher)
    prov = collect_provenance(BENCH, args.name, seeds=args.seeds, split=split, dataset=meta["dataset"], threads=args.threads,
                              model_selection="each learned method keeps the epoch with the best mean validation mAP@all "
                              "(split.val vs split.fit)", root=ROOT)
    t_start = time.perf_counter()
    ok, failed = run_grid(jobs(args), lambda job: run_path(args.name, meta["dataset"], job),
                          lambda job: run_one(job, fs, split, args, prov["commit"]), skip=args.skip, force=args.force,
                          stored_only=args.summary_only)
    summary = seed_cells(ok, ("map_all", "map_at_1000"), one_run_std=0.0, extra=cell_extra)
    dcmq64 = [r for r in ok if r["label"] == "dcmq" and r["bits"] == 64]
    meta["encoding"] = dcmq64[0]["encoding"] if dcmq64 else None
    meta["wall_seconds"] = time.perf_counter() - t_start
    g = goals(summary, args.bits)
    result = {"provenance": prov, "meta": meta, "summary": summary, "goals": g, "failed": failed,
              "runs": ok}
    write_results(BENCH, args.name, result, markdown(summary, g, meta, prov, args.bits),
                  plot=lambda path: plot(path, summary, args.bits), root=ROOT)
    print(json.dumps(g, indent=1))


if __name__ == "__main__":
    main()
