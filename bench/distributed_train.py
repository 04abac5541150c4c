"""Data-parallel training: DCMQ on EmojiScenes with 1 vs 2 worker processes (torch.distributed, gloo).

    .venv/bin/python bench/distributed_train.py                      # 64 bits, seeds 0 1 2
    .venv/bin/python bench/distributed_train.py --seeds 0 --set epochs=2 --out-name distributed_train_smoke

Needs ``distilhash data prepare emoji-scenes`` and ``distilhash teacher extract --dataset emoji-scenes``.
Each run is the ordinary CLI, ``distilhash train dcmq --bits B --seed S --workers W --threads 1``
(default config; the kept epoch is chosen on split.val only), and its ``train.json`` record gives
the training time (fit only, including worker start-up for W = 2) and mAP@all on split.query vs
split.retrieval. Runs are sequential; W = 2 uses both cores, W = 1 one core.

Writes ``bench/results/distributed_train/<out-name>.{json,md,png}`` with the provenance block
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

from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "distributed_train"


def run_one(args, seed: int, workers: int, runs: Path) -> dict:
    out = runs / f"dcmq{args.bits}-w{workers}-s{seed}"
    cmd = [sys.executable, "-m", "distilhash.cli.main", "train", "dcmq", "--dataset", args.dataset, "--bits", str(args.bits),
           "--seed", str(seed), "--workers", str(workers), "--threads", "1", "--no-progress", "--out", str(out)]
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
    return {"seed": seed, "workers": workers, "train_seconds": rec["train_seconds"], "process_wall_s": wall,
            "map_query": q, "map_val": rec["map_all"]["val"], "epoch_policy": rec["epoch_policy"],
            "split_hash": rec["split_hash"], "load_before": load,
            "load_after": load_average(), "command": " ".join(["distilhash", *cmd[3:]])}


def summary(runs: list[dict]) -> dict:
    out = {}
    for w in sorted({r["workers"] for r in runs}):
        rs = [r for r in runs if r["workers"] == w]
        out[w] = {k: (float(np.mean(v)), float(np.std(v))) for k, v in (
            ("train_seconds", [r["train_seconds"] for r in rs]), ("i2t", [r["map_query"]["i2t"] for r in rs]),
            ("t2i", [r["map_query"]["t2i"] for r in rs]), ("epochs_run", [r["epoch_policy"].get("epochs_run", 0) for r in rs]))}
    return out


def markdown(result: dict) -> str:
    s = result["summary"]
    lines = [f"# Data-parallel training: DCMQ {result['settings']['bits']} bits, 1 vs 2 workers "
             f"({result['provenance']['started_utc']})", "",
             f"Dataset {result['settings']['dataset']}, split {result['runs'][0]['split_hash']}, seeds {result['settings']['seeds']}, "
             f"config overrides {result['settings']['set'] or 'none'}; epochs kept on split.val only; mAP@all on split.query vs "
             "split.retrieval. Shared 2-core machine: load average around every run below and in the provenance.", "",
             "| workers | train s (mean ± std) | speed-up | mAP i2t | mAP t2i | epochs run |", "|---|---|---|---|---|---|"]
    base = s["1"]["train_seconds"][0] if "1" in s else None
    for w, v in s.items():
        sp = f"{base / v['train_seconds'][0]:.2f}x" if base else "-"
        lines.append(f"| {w} | {v['train_seconds'][0]:.1f} ± {v['train_seconds'][1]:.1f} | {sp} | {v['i2t'][0]:.4f} ± {v['i2t'][1]:.4f} | "
                     f"{v['t2i'][0]:.4f} ± {v['t2i'][1]:.4f} | {v['epochs_run'][0]:.1f} |")
    lines += ["", "Per run:", "", "| workers | seed | train s | i2t | t2i | kept epoch | load before |", "|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(f"| {r['workers']} | {r['seed']} | {r['train_seconds']:.1f} | {r['map_query']['i2t']:.4f} | "
                     f"{r['map_query']['t2i']:.4f} | {r['epoch_policy'].get('kept_epoch')} | {r['load_before'][0]} |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for r in result["runs"]:
        axes[0].scatter(r["workers"], r["train_seconds"], color="C0")
        axes[1].scatter(r["workers"] - 0.05, r["map_query"]["i2t"], color="C1", label="i2t" if r["seed"] == 0 else None)
        axes[1].scatter(r["workers"] + 0.05, r["map_query"]["t2i"], color="C2", label="t2i" if r["seed"] == 0 else None)
    axes[0].set_ylabel("train seconds")
    axes[1].set_ylabel("mAP@all (query)")
    for ax in axes:
        ax.set_xticks([1, 2])
        ax.set_xlabel("workers")
    axes[1].legend(fontsize=7)
    fig.suptitle(f"DCMQ {result['settings']['bits']} bits, data-parallel (load {result['provenance']['load_before'][0]})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    from distilhash.paths import runs_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="emoji-scenes")
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--out-name", default=BENCH, help="result name under bench/results/distributed_train/")
    args = ap.parse_args(argv)
    prov = collect_provenance(BENCH, args.out_name, seeds=args.seeds, dataset=args.dataset, root=ROOT,
                              model_selection="kept epoch = best mean mAP on split.val (train's default policy)")
    result = {"provenance": prov, "settings": vars(args), "runs": []}
    runs = runs_dir() / "distributed-train"
    for seed in args.seeds:
        for w in args.workers:
            r = run_one(args, seed, w, runs)
            print(f"seed {seed} workers {w}: {r['train_seconds']:.1f} s, i2t {r['map_query']['i2t']:.4f} "
                  f"t2i {r['map_query']['t2i']:.4f} (load {r['load_before'][0]})", flush=True)
            result["runs"].append(r)
    result["summary"] = {str(k): v for k, v in summary(result["runs"]).items()}
    prov["split_hash"] = result["runs"][0]["split_hash"] if result["runs"] else None
    paths = write_results(BENCH, args.out_name, result, markdown(result), plot=lambda path: plot(result, path), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
