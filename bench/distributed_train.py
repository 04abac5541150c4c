"""Data-parallel training: DCMQ, SODA or DCMH with 1 vs 2 worker processes (torch.distributed, gloo).

    .venv/bin/python bench/distributed_train.py                      # DCMQ 64 bits on EmojiScenes, seeds 0 1 2
    .venv/bin/python bench/distributed_train.py --method soda --dataset openclipart --teacher lite0-minilm:openclipart
    .venv/bin/python bench/distributed_train.py --method dcmh --seeds 0 --set max_epochs=1 --out-name scratch

Needs the dataset prepared and its teacher features extracted (``distilhash data prepare`` and
``distilhash teacher extract``). Each run is the ordinary CLI,
``distilhash train METHOD --bits B --seed S --workers W --threads 1`` (the method's default config
plus ``--set`` overrides; the kept epoch is chosen on split.val only), and its ``train.json`` record
gives the training time (fit only, including worker start-up for W = 2) and mAP@all on
split.query vs split.retrieval. The model's ``fit_info.json`` gives the epoch loop's own time
(training + validation, without start-up, feature loading and DCMQ's warm-up / k-means) and the
number of epochs run, hence the wall time per epoch, and for W = 2 the replicas' drift measured at
every epoch-end sync. Runs are sequential; W = 2 uses both cores, W = 1 one core.

Writes ``bench/results/distributed_train/<out-name>.{json,md,png}`` (default name
``distributed_train`` for DCMQ, ``distributed_train_<method>`` otherwise) with the provenance block
(:func:`distilhash.benchmark.provenance.collect_provenance`) and the load average around every run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results
from distilhash.eval.spread import sample_std

ROOT = Path(__file__).resolve().parents[1]
BENCH = "distributed_train"


METHODS = ("dcmq", "soda", "dcmh")


def epoch_loop(fit_info: dict) -> tuple[float, int]:
    """(seconds, epochs) of the method's epoch loop(s) from its ``fit_info``: one loop for DCMQ and
    DCMH (``train_seconds``, ``epochs_run``), two stages for SODA (both summed)."""

    def total(v) -> float:
        return float(sum(v.values()) if isinstance(v, dict) else v)

    return total(fit_info["train_seconds"]), int(total(fit_info["epochs_run"]))


def run_one(args, seed: int, workers: int, runs: Path) -> dict:
    out = runs / f"{args.method}{args.bits}-w{workers}-s{seed}"
    cmd = [sys.executable, "-m", "distilhash.cli.main", "train", args.method, "--dataset", args.dataset,
           "--teacher", args.teacher, "--bits", str(args.bits), "--seed", str(seed), "--workers", str(workers),
           "--threads", "1", "--no-progress", "--overwrite", "--out", str(out)]
    for s in args.set:
        cmd += ["--set", s]
    load = load_average()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    rec = json.loads((out / "train.json").read_text())
    q = rec["map_all"]["query"]
    info = json.loads((out / "fit_info.json").read_text())
    loop_s, epochs = epoch_loop(info)
    return {"seed": seed, "workers": workers, "train_seconds": rec["train_seconds"], "process_wall_s": wall,
            "loop_seconds": loop_s, "epochs": epochs, "epoch_seconds": loop_s / max(epochs, 1),
            "data_parallel": info.get("data_parallel"),
            "map_query": q, "map_val": rec["map_all"]["val"], "epoch_policy": rec["epoch_policy"],
            "split_hash": rec["split_hash"], "load_before": load,
            "load_after": load_average(), "command": " ".join(["distilhash", *cmd[3:]])}


def summary(runs: list[dict]) -> dict:
    out = {}
    for w in sorted({r["workers"] for r in runs}):
        rs = [r for r in runs if r["workers"] == w]
        out[w] = {k: (float(np.mean(v)), sample_std(v)) for k, v in (
            ("train_seconds", [r["train_seconds"] for r in rs]), ("epoch_seconds", [r["epoch_seconds"] for r in rs]),
            ("i2t", [r["map_query"]["i2t"] for r in rs]), ("t2i", [r["map_query"]["t2i"] for r in rs]),
            ("epochs", [r["epochs"] for r in rs]))}
    return out


def markdown(result: dict) -> str:
    s, st = result["summary"], result["settings"]
    lines = [f"# Data-parallel training: {st['method'].upper()} {st['bits']} bits, 1 vs 2 workers "
             f"({result['provenance']['started_utc']})", "",
             f"Dataset {st['dataset']} (teacher {st['teacher']}), split {result['runs'][0]['split_hash']}, seeds {st['seeds']}, "
             f"config overrides {st['set'] or 'none'}; epochs kept on split.val only; mAP@all on split.query vs "
             "split.retrieval. *train s*: the whole fit (worker start-up and feature loading included); *s / epoch*: "
             "the epoch loop (training + validation on worker 0) divided by the epochs it ran. Shared 2-core machine: "
             "load average around every run below and in the provenance.", "",
             "| workers | train s (mean ± std) | speed-up | s / epoch | epoch speed-up | mAP i2t | mAP t2i | epochs |",
             "|---|---|---|---|---|---|---|---|"]
    base = s.get("1")
    for w, v in s.items():
        sp = f"{base['train_seconds'][0] / v['train_seconds'][0]:.2f}x" if base else "-"
        esp = f"{base['epoch_seconds'][0] / v['epoch_seconds'][0]:.2f}x" if base else "-"
        lines.append(f"| {w} | {v['train_seconds'][0]:.1f} ± {v['train_seconds'][1]:.1f} | {sp} | "
                     f"{v['epoch_seconds'][0]:.2f} ± {v['epoch_seconds'][1]:.2f} | {esp} | {v['i2t'][0]:.4f} ± {v['i2t'][1]:.4f} | "
                     f"{v['t2i'][0]:.4f} ± {v['t2i'][1]:.4f} | {v['epochs'][0]:.1f} |")
    lines += ["", "Per run (drift: the largest |parameter - worker 0's| any epoch-end sync found; 0 = the replicas stayed identical):", "",
              "| workers | seed | train s | s / epoch | epochs | i2t | t2i | kept epoch | drift | load before | load after |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        drift = r["data_parallel"]["max_drift"] if r.get("data_parallel") else "-"
        kept = r["epoch_policy"].get("kept_epoch")
        kept = " / ".join(str(v) for v in kept.values()) if isinstance(kept, dict) else kept  # SODA: stage 1 / stage 2
        lines.append(f"| {r['workers']} | {r['seed']} | {r['train_seconds']:.1f} | {r['epoch_seconds']:.2f} | {r['epochs']} | "
                     f"{r['map_query']['i2t']:.4f} | {r['map_query']['t2i']:.4f} | {kept} | {drift} | {r['load_before'][0]} | {r['load_after'][0]} |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    with figure(path, 1, 2, figsize=(9, 3.6), dpi=120) as (fig, axes):
        for r in result["runs"]:
            axes[0].scatter(r["workers"], r["epoch_seconds"], color="C0")
            axes[1].scatter(r["workers"] - 0.05, r["map_query"]["i2t"], color="C1", label="i2t" if r["seed"] == 0 else None)
            axes[1].scatter(r["workers"] + 0.05, r["map_query"]["t2i"], color="C2", label="t2i" if r["seed"] == 0 else None)
        axes[0].set_ylabel("seconds per epoch")
        axes[1].set_ylabel("mAP@all (query)")
        for ax in axes:
            ax.set_xticks([1, 2])
            ax.set_xlabel("workers")
        axes[1].legend(fontsize=7)
        fig.suptitle(f"{result['settings']['method'].upper()} {result['settings']['bits']} bits, data-parallel (load {result['provenance']['load_before'][0]})", fontsize=9)


def main(argv: list[str] | None = None) -> None:
    from distilhash.paths import runs_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", default="dcmq", choices=METHODS)
    ap.add_argument("--dataset", default="emoji-scenes")
    ap.add_argument("--teacher", default="minilm-lit", help="teacher whose feature cache to train on")
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--out-name", default=None, help="result name under bench/results/distributed_train/ (default: "
                    "distributed_train for dcmq, distributed_train_METHOD otherwise)")
    args = ap.parse_args(argv)
    args.out_name = args.out_name or (BENCH if args.method == "dcmq" else f"{BENCH}_{args.method}")
    prov = collect_provenance(BENCH, args.out_name, seeds=args.seeds, dataset=args.dataset, root=ROOT,
                              model_selection="kept epoch = best mean mAP on split.val (train's default policy)")
    result = {"provenance": prov, "settings": vars(args), "runs": []}
    runs = runs_dir() / "distributed-train"
    for seed in args.seeds:
        for w in args.workers:
            r = run_one(args, seed, w, runs)
            print(f"{args.method} seed {seed} workers {w}: {r['train_seconds']:.1f} s, {r['epoch_seconds']:.2f} s/epoch, i2t {r['map_query']['i2t']:.4f} "
                  f"t2i {r['map_query']['t2i']:.4f} (load {r['load_before'][0]})", flush=True)
            result["runs"].append(r)
    result["summary"] = {str(k): v for k, v in summary(result["runs"]).items()}
    prov["split_hash"] = result["runs"][0]["split_hash"] if result["runs"] else None
    paths = write_results(BENCH, args.out_name, result, markdown(result), plot=lambda path: plot(result, path), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
