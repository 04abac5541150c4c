"""Scale benchmark of distilhash.eval: 5,000 queries x 190,000 items (NUS-WIDE size) per code kind.

Synthetic, label-correlated data (21 labels; items = sum of their labels' prototypes + noise;
binary codes = signs of a random projection, PQ = k-means-free random codebooks fitted by one
nearest-codeword assignment, float = the raw vectors). Each configuration runs in its own
process so that its peak memory (``ru_maxrss``) is its own. The check is that evaluation
stays within memory (the budget is 24 GiB; chunks are sized from ``memory_bytes``, default
1 GiB) and how long it takes.

Writes ``bench/results/eval_scale/<out-name>.{json,md}`` (default ``eval_scale``).

Usage::

    .venv/bin/python bench/eval_scale.py [--nq 5000] [--nd 190000] [--only binary64 pq8 float384 ...]

The machine is shared (2 cores, other jobs running): times are indicative; the load average
is recorded with each run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "eval_scale"

#: name -> (code kind, parameter, tie_aware)
CONFIGS: dict[str, tuple[str, int, bool]] = {
    "binary64": ("binary", 64, False),
    "binary64-tie-aware": ("binary", 64, True),
    "binary128": ("binary", 128, False),
    "pq8x256": ("pq", 8, False),
    "float384": ("float", 384, False),
}


def _data(kind: str, param: int, nq: int, nd: int, seed: int = 0):
    import numpy as np

    from distilhash.codes import Encoded, pack_bits

    rng = np.random.default_rng(seed)
    n_labels, width = 21, 384
    labels = (rng.random((nq + nd, n_labels)) < 0.12).astype(np.uint8)
    labels[np.arange(nq + nd), rng.integers(0, n_labels, nq + nd)] = 1
    protos = rng.normal(size=(n_labels, width)).astype(np.float32)
    x = labels.astype(np.float32) @ protos + 2.0 * rng.normal(size=(nq + nd, width)).astype(np.float32)
    q, db = x[:nq], x[nq:]
    ql, dl = labels[:nq], labels[nq:]
    if kind == "binary":
        proj = rng.normal(size=(width, param)).astype(np.float32)
        return Encoded("binary", pack_bits(q @ proj), param), Encoded("binary", pack_bits(db @ proj), param), ql, dl
    if kind == "pq":
        m, k = param, 256
        sub = width // m
        cb = db[rng.choice(nd, k, replace=False)].reshape(k, m, sub).transpose(1, 0, 2).copy()
        codes = np.empty((nd, m), np.uint8)
        for j in range(m):
            part = db[:, j * sub : (j + 1) * sub]
            d2 = (part**2).sum(1)[:, None] - 2 * part @ cb[j].T + (cb[j] ** 2).sum(1)[None]
            codes[:, j] = d2.argmin(1)
        return Encoded("float", q, 32 * width), Encoded("pq", codes, m * 8, cb, "l2"), ql, dl
    return Encoded("float", q, 32 * width), Encoded("float", db, 32 * width), ql, dl


def run_one(name: str, nq: int, nd: int) -> dict:
    """Evaluate one configuration in this process; returns its record."""
    from distilhash.eval.metrics import evaluate

    kind, param, tie_aware = CONFIGS[name]
    t = time.perf_counter()
    q, db, ql, dl = _data(kind, param, nq, nd)
    data_seconds = time.perf_counter() - t
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t, c = time.perf_counter(), time.process_time()
    rep = evaluate(q, db, ql, dl, top_n=(100, 500, 1000, 5000), tie_aware=tie_aware, progress=False)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    return {
        "config": name,
        "code_kind": kind,
        "param": param,
        "tie_aware": tie_aware,
        "n_queries": nq,
        "n_database": nd,
        "eval_seconds": round(seconds, 2),
        "eval_cpu_seconds": round(cpu, 2),
        "data_seconds": round(data_seconds, 2),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "rss_after_data_gib": round(rss_data, 3),
        "load_after": load_average(),
        "map_all": rep.map_all,
        "map_at": rep.map_at,
        "n_without_relevant": rep.n_without_relevant,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nq", type=int, default=5000)
    ap.add_argument("--nd", type=int, default=190000)
    ap.add_argument("--only", nargs="*", default=list(CONFIGS))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out-name", default=BENCH, help="result name under bench/results/eval_scale/")
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args.nq, args.nd)))
        return
    prov = collect_provenance(BENCH, args.out_name, seeds=[0], model_selection="none: synthetic codes, nothing is fitted",
                              root=ROOT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    runs = []
    for name in args.only:
        load = load_average()
        t = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--one", name, "--nq", str(args.nq), "--nd", str(args.nd)],
                             capture_output=True, text=True, env=env)
        if out.returncode:
            runs.append({"config": name, "status": "failed", "stderr": out.stderr[-2000:]})
            print(f"{name}: FAILED\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        rec["load_before"] = load
        rec["process_seconds"] = round(time.perf_counter() - t, 2)
        runs.append(rec)
        print(f"{name}: eval {rec['eval_seconds']} s (CPU {rec['eval_cpu_seconds']} s), peak RSS {rec['peak_rss_gib']} GiB, mAP@all {rec['map_all']:.4f}", flush=True)
    result = {
        "provenance": prov,
        "note": "shared 2-core machine; times indicative; one process per configuration",
        "runs": runs,
    }
    lines = [
        f"# eval scale: {args.nq} queries x {args.nd} items",
        "",
        f"{result['note']}.",
        "",
        "| config | tie-aware | eval wall s | eval CPU s | peak RSS GiB | mAP@all | mAP@1000 | load avg before |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if r.get("status") == "failed":
            lines.append(f"| {r['config']} | | FAILED | | | | | |")
            continue
        lines.append(
            f"| {r['config']} | {r['tie_aware']} | {r['eval_seconds']} | {r['eval_cpu_seconds']} | {r['peak_rss_gib']} | {r['map_all']:.4f} | "
            f"{r['map_at']['1000'] if '1000' in r['map_at'] else r['map_at'][1000]:.4f} | {r['load_before'][0]:.2f} |"
        )
    paths = write_results(BENCH, args.out_name, result, "\n".join(lines), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
