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

from distilhash.benchmark.distributed_report import epoch_loop, train_markdown, train_plot, train_summary
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import publish

ROOT = Path(__file__).resolve().parents[1]
BENCH = "distributed_train"


METHODS = ("dcmq", "soda", "dcmh")


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
    result["summary"] = train_summary(result["runs"])
    prov["split_hash"] = result["runs"][0]["split_hash"] if result["runs"] else None
    publish(BENCH, args.out_name, train_markdown, train_plot, result=result, root=ROOT)


if __name__ == "__main__":
    main()
