"""Do writes hold up searches? One open index, a search thread and a writer thread, in one process.

    python bench/index_write_interference.py --index INDEX_DIR [--compare-src OTHER/src] \
        [--backend ivf --option nprobe=16] [--seconds 20] [--writes-per-s 20] [--reps 3] [--work DIR]

No HTTP, no teacher: the search thread sends batches of ``--batch`` PQ queries (reconstructions
of stored codes) back to back; the writer thread adds one item (a stored code, new id) or deletes
one it added (probability 0.4) ``--writes-per-s`` times a second, each durable (log fsync) as in
the service. Per batch: the search latency. Two scenarios per code tree: writes off, writes on.
With ``--compare-src`` every measurement runs in a subprocess, alternately with this checkout's
``src`` and the other tree (e.g. the main branch before a change), ``--reps`` times each, on a
fresh copy of ``--index`` (writes change it), so both trees see the same machine load.

Writes ``bench/results/index_write_interference/<out-name>.{json,md,png}`` with the provenance
block; the machine is shared, the load average is recorded per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure

ROOT = Path(__file__).resolve().parents[1]
BENCH = "index_write_interference"


def measure(index: Path, backend: str, options: dict, seconds: float, writes_per_s: float, batch: int, seed: int) -> dict:
    """One scenario in this process (the ``distilhash`` on ``sys.path``): search batch latencies, writes done."""
    from distilhash.index import open_index
    from distilhash.index.core import IndexOptions

    idx = open_index(index, writable=True, options=IndexOptions(backend=backend, searcher_options=options))
    rng = np.random.default_rng(seed)
    codes = idx.sample_codes(4096, seed=seed)
    cb = idx.codebooks
    queries = cb[np.arange(cb.shape[0])[None, :], codes[:1024].astype(np.int64)].reshape(1024, -1).astype(np.float32)
    idx.search(queries[:batch], 10)  # builds the searcher
    stop = threading.Event()
    writes: list[float] = []

    def writer() -> None:
        live: list[str] = []
        n = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            if live and rng.random() < 0.4:
                idx.delete([live.pop(int(rng.integers(len(live))))])
            else:
                item = f"interference-{n}"
                idx.add([item], codes[n % len(codes)][None], [{"bench": BENCH}])
                live.append(item)
                n += 1
            writes.append((time.perf_counter() - t0) * 1e3)
            stop.wait(max(0.0, 1.0 / writes_per_s - (time.perf_counter() - t0)))

    lat: list[float] = []
    w = threading.Thread(target=writer) if writes_per_s > 0 else None
    load0 = os.getloadavg()
    if w is not None:
        w.start()
    t_end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < t_end:
        s = (i * batch) % (len(queries) - batch)
        t0 = time.perf_counter()
        idx.search(queries[s : s + batch], 10)
        lat.append((time.perf_counter() - t0) * 1e3)
        i += 1
    stop.set()
    if w is not None:
        w.join()
    idx.close()
    a = np.asarray(lat)
    p = np.percentile(a, [50, 99]).round(2).tolist()
    return {"batches": len(a), "p50_ms": p[0], "p99_ms": p[1], "max_ms": round(float(a.max()), 2), "mean_ms": round(float(a.mean()), 2),
            "writes": len(writes), "write_p50_ms": round(float(np.median(writes)), 2) if writes else None,
            "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in os.getloadavg()]}


def _child(args) -> None:
    print(json.dumps(measure(args.index, args.backend, _options(args.option), args.seconds, args.writes_per_s, args.batch, args.seed)))


def _options(opts: list[str]) -> dict:
    return {a: int(b) if b.isdigit() else b for a, _, b in (o.partition("=") for o in opts)}


def run_tree(src: Path, args, writes_per_s: float, work: Path) -> dict:
    """One measurement in a subprocess importing ``distilhash`` from ``src``, on a fresh copy of the index."""
    copy = work / "index-copy"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(args.index, copy, ignore=shutil.ignore_patterns("thumbs.sqlite"))
    cmd = [sys.executable, __file__, "--child", "--index", str(copy), "--backend", args.backend, "--seconds", str(args.seconds),
           "--writes-per-s", str(writes_per_s), "--batch", str(args.batch), "--seed", str(args.seed)]
    for o in args.option:
        cmd += ["--option", o]
    out = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=str(src)), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(result: dict) -> str:
    lines = ["# Do writes hold up searches? (one index, a search thread and a writer thread)", "",
             f"Index `{result['index']}` ({result['count']:,} items), searcher `{result['backend']}` {result['options']}; batches of "
             f"{result['batch']} queries back to back for {result['seconds']} s; writer: {result['writes_per_s']} durable adds/deletes "
             f"per second (delete probability 0.4). {result['reps']} repetitions per cell, alternating trees; mean ± sample std over them.  ",
             f"**{result['machine_note']}** (2 cores shared); load average per measurement in the JSON.", "",
             "| code | writes | search batch p50 (ms) | p99 (ms) | max (ms) | batches | writes done | write p50 (ms) |", "|---|---|---|---|---|---|---|---|"]
    for label, cells in result["cells"].items():
        for scen, runs in cells.items():
            def ms(key: str) -> str:
                v = np.asarray([r[key] for r in runs], float)
                return f"{v.mean():.1f} ± {v.std(ddof=1):.1f}" if len(v) > 1 else f"{v.mean():.1f}"
            wp = [r["write_p50_ms"] for r in runs if r["write_p50_ms"] is not None]
            lines.append(f"| {label} | {scen} | {ms('p50_ms')} | {ms('p99_ms')} | {ms('max_ms')} | {ms('batches')} | {ms('writes')} | "
                         f"{np.mean(wp):.1f} |" if wp else f"| {label} | {scen} | {ms('p50_ms')} | {ms('p99_ms')} | {ms('max_ms')} | {ms('batches')} | 0 | - |")
    lines += ["", result.get("notes", ""), ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    with figure(path, figsize=(7, 4)) as (fig, ax):
        labels, p50, p99, e99 = [], [], [], []
        for label, cells in result["cells"].items():
            for scen, runs in cells.items():
                labels.append(f"{label}\n{scen}")
                p50.append(np.mean([r["p50_ms"] for r in runs]))
                v = [r["p99_ms"] for r in runs]
                p99.append(np.mean(v))
                e99.append(np.std(v, ddof=1) if len(v) > 1 else 0)
        x = np.arange(len(labels))
        ax.bar(x - 0.2, p50, 0.4, label="p50")
        ax.bar(x + 0.2, p99, 0.4, yerr=e99, label="p99 (± sample std)")
        ax.set_xticks(x, labels, fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel(f"search batch latency (ms), batch {result['batch']}")
        ax.legend()
        ax.set_title(f"{result['count']:,} items, {result['backend']}, writer {result['writes_per_s']}/s; {result['machine_note'][:60]}", fontsize=8)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, required=True, help="an index directory (copied; never changed)")
    p.add_argument("--compare-src", type=Path, help="another tree's src/ to measure beside this checkout's")
    p.add_argument("--compare-label", default="main")
    p.add_argument("--backend", default="ivf")
    p.add_argument("--option", action="append", default=[])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--writes-per-s", type=float, default=20)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "distilhash-write-interference")
    p.add_argument("--machine-note", default="loaded machine: other engineers' jobs were running")
    p.add_argument("--out-name", default=BENCH)
    p.add_argument("--notes", default="")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args)
    from distilhash.benchmark.provenance import collect_provenance
    from distilhash.benchmark.results import write_results
    from distilhash.index import open_index

    args.work.mkdir(parents=True, exist_ok=True)
    with open_index(args.index) as idx:
        count = len(idx)
    trees = {"this branch": ROOT / "src"}
    if args.compare_src is not None:
        trees[args.compare_label] = args.compare_src.resolve()
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], model_selection="none: no model; stored codes are the queries", root=ROOT)
    cells: dict[str, dict[str, list]] = {label: {"writes off": [], "writes on": []} for label in trees}
    for rep in range(args.reps):
        for label, src in (trees.items() if rep % 2 == 0 else reversed(trees.items())):
            for scen, rate in (("writes off", 0.0), ("writes on", args.writes_per_s)):
                r = run_tree(src, args, rate, args.work)
                cells[label][scen].append(r)
                print(f"rep {rep} {label} {scen}: p50 {r['p50_ms']} p99 {r['p99_ms']} ms, {r['writes']} writes, load {r['load_before'][0]}", flush=True)
    result = {"provenance": prov, "index": str(args.index), "count": count, "backend": args.backend, "options": args.option,
              "seconds": args.seconds, "writes_per_s": args.writes_per_s, "batch": args.batch, "reps": args.reps,
              "trees": {k: str(v) for k, v in trees.items()}, "cells": cells, "machine_note": args.machine_note, "notes": args.notes}
    paths = write_results(BENCH, args.out_name, result, markdown(result), plot=lambda path: plot(result, path), root=ROOT)
    print(f"wrote {paths['json']}, .md, .png")


if __name__ == "__main__":
    main()
