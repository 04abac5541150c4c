"""LCDH benchmark (issue 7): online stream mAP per chunk, chunk absorb time, student vs teacher speed and size.

For each bit length (default 16/32/64/128) on EmojiScenes with the offline teacher's feature cache:

* fit LCDH (teacher offline on split.fit, epoch by split.val; student online over split.retrieval
  in chunks of 2000); after every chunk, mAP@all of split.query (current student) against the
  codes stored so far, image->text and text->image; the final mAP (query vs all of
  split.retrieval, the harness protocol) and the mean over chunks;
* time to absorb one chunk (student update + encode + store);
* against DCMQ and the baselines (float-teacher, lsh, itq, pq, dcmh) at the same bits/seed: suite
  run records found under ``bench/results/<suite>/`` with the same split hash and teacher are reused,
  the others are run here in-process with the same protocol (fit on features, query vs retrieval);
* student encoding speed (images/s from pixels, texts/s from strings, tokenisation included) and
  the teacher's (minilm-lit image tower + MiniLM) on the same items and CPU, one thread;
* parameter counts and weight bytes of the student and the teacher.

Writes ``bench/results/lcdh/<name>.{json,md,png}`` (per-chunk curves; ``--name``, default ``lcdh``).

    DISTILHASH_HOME=data HF_HUB_OFFLINE=1 .venv/bin/python bench/lcdh.py \\
        [--bits 16 32 64 128] [--seed 0] [--set key=value ...] [--no-compare] [--features labels-synthetic]

``--features labels-synthetic`` replaces the teacher features by synthetic label-driven ones
(smoke runs while the cache is missing; results then go to ``lcdh_smoke.*``).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
from typing import Any

from distilhash.benchmark.compare import committed_summary, compare_at, suite_runs
from distilhash.benchmark.lcdh_report import COMPARE, markdown, merged, plot, seed_cells, seeds_markdown, seeds_plot
from distilhash.benchmark.online_stream import load_stream_inputs, run_online
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.student_speed import student_teacher_speed
from distilhash.benchmark.results import read_results, results_dir, write_results
from distilhash.configs import parse_overrides

ROOT = Path(__file__).resolve().parents[1]
BENCH = "lcdh"
RESULTS = results_dir(BENCH, ROOT).parent


def save(result: dict[str, Any], name: str) -> None:
    write_results(BENCH, name, result, markdown(result, name), plot=lambda path: plot(result, path), root=ROOT)


def merge(parts: list[str], name: str) -> dict[str, Any]:
    """Combine result files of runs done in separate processes (``--merge a b --name lcdh``): a provenance block of
    its own (the merge command), each part's kept under ``parts_provenance``."""
    results = [read_results(BENCH, p, ROOT) for p in parts]
    first = results[0]["provenance"]
    prov = collect_provenance(
        BENCH, name, seeds=sorted({s for res in results for s in res["provenance"]["seeds"]}), dataset=first["dataset"],
        dataset_hash=first["dataset_hash"], split_hash=first["split_hash"], model_selection=first["model_selection"], root=ROOT)
    base = merged(results, parts, prov)
    save(base, name)
    return base


def seeds_summary(parts: list[str], name: str) -> dict[str, Any]:
    """Mean ± sample std over seeds per bit length from result stems of single seeds (``--seeds-summary``);
    every run's budget is listed (these older runs cap the offline teacher at 40 epochs)."""
    results = [read_results(BENCH, p, ROOT) for p in parts]
    runs = [r for res in results for r in res["runs"]]
    cells = seed_cells(runs)
    prov = collect_provenance(BENCH, name, seeds=sorted({r["seed"] for r in runs}), dataset=results[0]["provenance"]["dataset"],
                              split_hash=results[0]["provenance"]["split_hash"], root=ROOT,
                              model_selection="teacher: kept epoch by split.val within its cap; student: online, fixed "
                              "epochs per chunk, no selection (as each part records)",
                              command=f"python bench/lcdh.py --seeds-summary {' '.join(parts)} --name {name}")
    result = {"provenance": prov, "parts": parts, "teacher": results[0]["teacher"], "cells": cells,
              "parts_provenance": {p: res["provenance"] for p, res in zip(parts, results)}}
    write_results(BENCH, name, result, seeds_markdown(cells, parts, prov, result["teacher"]),
                  plot=seeds_plot(cells, prov["dataset"]), root=ROOT)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="emoji-scenes")
    ap.add_argument("--teacher", default="minilm-lit")
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--no-compare", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--compare", nargs="+", default=list(COMPARE), help="methods to compare with")
    ap.add_argument("--features", choices=("cache", "labels-synthetic"), default="cache")
    ap.add_argument("--name", "--out-name", dest="name", default=None,
                    help="result name under bench/results/lcdh/ (default lcdh, or lcdh_smoke for synthetic features)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--merge", nargs="+", default=None, help="combine these result stems into --name and exit")
    ap.add_argument("--seeds-summary", nargs="+", default=None,
                    help="mean ± sample std over seeds from these single-seed result stems into --name and exit")
    args = ap.parse_args(argv)
    if args.seeds_summary:
        seeds_summary(args.seeds_summary, args.name or "lcdh_seeds")
        print((results_dir(BENCH, ROOT) / f"{args.name or 'lcdh_seeds'}.md").read_text())
        return 0
    if args.merge:
        print(markdown(merge(args.merge, args.name or "lcdh")))
        return 0
    import torch

    torch.set_num_threads(args.threads)
    synthetic = args.features == "labels-synthetic"
    name = args.name or ("lcdh_smoke" if synthetic else "lcdh")
    ds, split, feats, fpath = load_stream_inputs(args.dataset, args.teacher, synthetic)
    overrides = parse_overrides(args.sets)
    harness = {} if (args.no_compare or synthetic) else suite_runs(RESULTS, split.hash, feats.teacher)
    t_all = time.perf_counter()
    runs = []
    speed, speed_bits = None, None
    prov = collect_provenance(BENCH, name, seeds=[args.seed], dataset=ds.name, split=split, threads=args.threads, root=ROOT,
                              model_selection="teacher: early stopping on split.val; student: online, fixed epochs per "
                              "chunk, no selection; options chosen on split.val (the retired lcdh_diagnose.py, commit 5e1b300)")

    def write() -> dict[str, Any]:
        result = {
            "provenance": prov,
            "split_sizes": split.sizes(), "teacher": feats.teacher, "features": fpath, "seed": args.seed,
            "method": "lcdh", "overrides": overrides,
            "runs": runs, "speed": speed, "speed_bits": speed_bits,
            "wall_seconds": time.perf_counter() - t_all,
            "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": args.threads,
            "machine_note": "2 cores shared with other engineers' jobs; timings are indicative",
        }
        save(result, name)
        return result

    for bits in args.bits:
        print(f"LCDH {bits} bits", flush=True)
        run = run_online(ds, split, feats, bits, args.seed, overrides)
        method = run.pop("_method")
        runs.append(run)
        write()  # partial results survive an interrupted benchmark
        if not args.no_compare:
            run["compare"] = compare_at(feats, split, bits, args.seed, harness, args.compare,
                                        lambda name, b: committed_summary(results_dir("dcmq", ROOT) / "dcmq.json", name, b, split.hash,
                                                                                  feats.teacher))
        if not args.no_speed and speed is None:
            speed, speed_bits = student_teacher_speed(method, ds, split, args.teacher), bits
        torch.set_num_threads(args.threads)
        result = write()
    print(markdown(result, name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
