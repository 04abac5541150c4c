"""Encoding throughput on one node vs two nodes of the same host (issue 28's goal: 2 nodes >= 1.7x one).

    DISTILHASH_HOME=data python bench/encode_nodes.py --model data/runs/demo-dcmq64 \
        [--dataset openclipart --teacher lite0-minilm:openclipart] [--rows 262144] [--reps 3]

Features: the dataset's cached image features tiled to ``--rows`` rows, each copy with a little
Gaussian noise (a database of that size; the codes are not judged here), saved once as a
``.npy`` store under ``--work`` (the workers read their own rows from it; the driver sends
paths and row ranges, as ``index build --engine ray`` does). Per repetition and
configuration a fresh local Ray cluster is started on this host (:class:`LocalCluster`: raylets
by ``ray start``, loopback, token authentication) and ``encode_parallel`` (what ``index build
--engine ray`` runs) encodes every row in parts of ``--part-size``:

* ``1 node``: one raylet with 1 CPU, one model-holding actor;
* ``2 nodes``: two raylets with 1 CPU each, one actor per node.

The wall time of the call is measured (actor start and model load included, as a user pays them)
and, from the arrival times of the parts, the steady rate (rows after the first part of each
worker / time since the first part arrived) and the time to the first part (the fixed cost). The local engine (this process, 1 thread) is the
no-Ray reference. Configurations alternate inside each repetition, so both see the same load.

Writes ``bench/results/encode_nodes/<out-name>.{json,md,png}``; mean ± sample std over ``--reps``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "encode_nodes"


def features(dataset: str, teacher: str, rows: int, seed: int) -> np.ndarray:
    """float32 ``[rows, D]``: the cached image features tiled, plus noise (std 0.01 of their scale)."""
    from distilhash.pipeline.inputs import load_features_and_split

    _, _, feats, _ = load_features_and_split(dataset, teacher, None)
    base = np.asarray(feats.image, np.float32)
    x = np.tile(base, (rows // len(base) + 1, 1))[:rows]
    rng = np.random.default_rng(seed)
    return (x + rng.normal(0, 0.01 * float(base.std()), x.shape).astype(np.float32)).astype(np.float32)


def on_ray(model: Path, store_path: Path, nodes: int, part_size: int, shards: int = 0) -> dict:
    """Encode the rows of the ``.npy`` at ``store_path`` on a fresh ``nodes``-node cluster (1 CPU each, one actor per node).

    ``shards > 0``: build a sharded index of them instead (the workers write the shards; ids from
    ``ids.json`` beside the store, no metadata), removed afterwards.
    """
    import shutil
    import uuid

    from distilhash.distributed.encode import RowStore, encode_parallel
    from distilhash.distributed.shard_writers import build_sharded_ray
    from distilhash.distributed.local_cluster import LocalCluster
    from distilhash.distributed.runtime import ray_session

    arrivals: list[tuple[float, int]] = []
    t_start = time.perf_counter()
    with LocalCluster(nodes=nodes, cpus_per_node=1, env={"DISTILHASH_HOME": os.environ.get("DISTILHASH_HOME", "")}) as cluster:
        t_up = time.perf_counter()
        with ray_session(cluster.address) as ray:
            t0 = time.perf_counter()
            store = RowStore(str(store_path))
            hook = lambda p, pids: arrivals.append((time.perf_counter(), p))  # noqa: E731
            if shards:
                out = store_path.parent / f"ix-{uuid.uuid4().hex[:8]}"
                run = build_sharded_ray(ray, out, store, n_shards=shards, model_dir=model, ids_path=store_path.parent / "ids.json",
                                        dataset=None, modality="image", teacher=None, extra={}, workers=nodes,
                                        part_size=part_size, progress=False, on_part=hook)
                wall = time.perf_counter() - t0
                shutil.rmtree(out)
                assert run["items"] == len(store)
            else:
                enc = encode_parallel(ray, model, store, "image", workers=nodes, cpus_per_worker=1.0, part_size=part_size,
                                      progress=False, on_part=hook)
                wall = time.perf_counter() - t0
                assert len(enc) == len(store)
    times = sorted(t for t, _ in arrivals)
    first = times[min(nodes, len(times)) - 1]  # every worker has delivered a part: steady state from here
    later = len(times) - min(nodes, len(times))
    size = len(store) / len(times)  # parts are equal but the last (part_ranges)
    steady = later * size / (times[-1] - first) if later and times[-1] > first else None
    return {"nodes": nodes, "wall_s": round(wall, 2), "rows_per_s": round(len(store) / wall, 1),
            "steady_rows_per_s": round(steady, 1) if steady else None, "cluster_start_s": round(t_up - t_start, 1),
            "first_part_s": round(times[0] - t0, 2), "parts": len(times)}


def local(model: Path, store_path: Path, shards: int = 0) -> dict:
    """This process, 1 thread, no Ray (the store read into memory first, not timed); ``shards``: then one
    process writes the sharded index too (``ShardedIndex.add``, as ``index build --shards`` without Ray)."""
    import json
    import shutil

    from distilhash.index import create_sharded_index
    from distilhash.methods.base import load_method
    from distilhash.threads import limit_threads

    limit_threads(1)
    m = load_method(model)
    x = np.load(store_path)
    t0 = time.perf_counter()
    enc = m.encode("image", x, "database")
    if shards:
        out = store_path.parent / "ix-local"
        with create_sharded_index(out, shards, kind=enc.kind, n_bits=None if enc.kind.needs_codebooks else enc.n_bits,
                                  codebooks=enc.codebooks, metric=enc.metric) as ix:
            ix.add(json.loads((store_path.parent / "ids.json").read_text()), enc, None, snapshot=True)
    wall = time.perf_counter() - t0
    if shards:
        shutil.rmtree(out)
    return {"nodes": 0, "wall_s": round(wall, 2), "rows_per_s": round(len(x) / wall, 1), "steady_rows_per_s": None}


def _in_child(args, nodes: int) -> dict:
    """:func:`on_ray` in a fresh process (a Ray driver keeps its first cluster's token for its lifetime)."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, __file__, "--child-nodes", str(nodes), "--model", str(args.model), "--child-store",
           str(args.child_store), "--part-size", str(args.part_size), "--shards", str(args.shards)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the {nodes}-node measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ms(v: list[float], digits: int = 0) -> str:
    a = np.asarray([x for x in v if x is not None], float)
    if not len(a):
        return "-"
    return f"{a.mean():,.{digits}f} ± {a.std(ddof=1):,.{digits}f}" if len(a) > 1 else f"{a.mean():,.{digits}f}"


def markdown(result: dict) -> str:
    c = result["cells"]
    one = np.mean([r["rows_per_s"] for r in c["1 node"]])
    two = np.mean([r["rows_per_s"] for r in c["2 nodes"]])
    s1 = [r["steady_rows_per_s"] for r in c["1 node"] if r["steady_rows_per_s"]]
    s2 = [r["steady_rows_per_s"] for r in c["2 nodes"] if r["steady_rows_per_s"]]
    what = (f"Building a {result['shards']}-shard index (encode + the workers' parallel shard writers; local: one "
            f"process encodes and writes every shard)" if result.get("shards") else "Encoding")
    lines = [f"# {what} on one node vs two nodes of the same host", "",
             f"Model `{result['model']}` ({result['method']}), {result['rows']:,} image feature rows (cached features tiled + noise) "
             f"in a `.npy` store each worker reads its own rows from, "
             f"parts of at most {result['part_size']:,} rows; local Ray clusters on this host (raylets by `ray start`, 1 CPU each, token auth), "
             f"one actor per node. {result['reps']} repetitions, configurations alternating; mean ± sample std.  ",
             f"**{result['machine_note']}** (2 cores); load average at start {result['provenance']['load_before']}.", "",
             "| configuration | rows/s (whole call, actor start included) | steady rows/s (after every worker's first part) | wall s | first part s | cluster start s |",
             "|---|---|---|---|---|---|"]
    for name, runs in c.items():
        lines.append(f"| {name} | {_ms([r['rows_per_s'] for r in runs])} | {_ms([r['steady_rows_per_s'] for r in runs])} | "
                     f"{_ms([r['wall_s'] for r in runs])} | {_ms([r.get('first_part_s') for r in runs], 2)} | "
                     f"{_ms([r.get('cluster_start_s') for r in runs])} |")
    lines += ["", f"**Speed-up 2 nodes / 1 node: {two / one:.2f}x** whole call"
              + (f", {np.mean(s2) / np.mean(s1):.2f}x steady" if s1 and s2 else "") + " (goal: at least 1.7x).", "",
              result.get("notes", ""), ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    with figure(path, figsize=(6, 4)) as (fig, ax):
        names = list(result["cells"])
        vals = [[r["rows_per_s"] for r in result["cells"][n]] for n in names]
        ax.bar(range(len(names)), [np.mean(v) for v in vals], yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals])
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel("rows encoded per second (whole call)")
        ax.set_title(f"{result['rows']:,} rows; load avg at start {result['provenance']['load_before'][0]}", fontsize=9)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--dataset", default="openclipart")
    p.add_argument("--teacher", default="lite0-minilm:openclipart")
    p.add_argument("--rows", type=int, default=262_144)
    p.add_argument("--part-size", type=int, default=65_536)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--machine-note", default="loaded machine: other engineers' jobs were running")
    p.add_argument("--out-name", default=BENCH)
    p.add_argument("--notes", default="")
    p.add_argument("--shards", type=int, default=0, help="build a sharded index of this many shards on the workers "
                   "(encode + parallel shard writers) instead of only encoding; the local cell then also writes one")
    p.add_argument("--work", type=Path, default=None, help="directory for the feature store (default: a temporary one)")
    p.add_argument("--child-nodes", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--child-store", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    import json
    import shutil
    import tempfile

    if args.child_nodes:
        print(json.dumps(on_ray(args.model, args.child_store, args.child_nodes, args.part_size, args.shards)))
        return

    work = Path(tempfile.mkdtemp(prefix="encode-nodes-", dir=args.work))
    args.child_store = work / "rows.npy"
    np.save(args.child_store, features(args.dataset, args.teacher, args.rows, args.seed))
    (work / "ids.json").write_text(json.dumps([f"row{i:09d}" for i in range(args.rows)]))
    try:
        run(args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args) -> None:
    """Every repetition of every configuration; writes the results."""
    import json

    from distilhash.data.store import open_prepared

    _, split = open_prepared(args.dataset)
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], dataset=args.dataset, split=split, threads=1,
                              model_selection="none: a trained model encodes", root=ROOT)
    cells: dict[str, list[dict]] = {"local (1 thread, no Ray)": [], "1 node": [], "2 nodes": []}
    for rep in range(args.reps):
        order = [("1 node", 1), ("2 nodes", 2)] if rep % 2 == 0 else [("2 nodes", 2), ("1 node", 1)]
        for name, nodes in order:
            r = _in_child(args, nodes)
            r["load"] = load_average()
            cells[name].append(r)
            print(f"rep {rep} {name}: {r}", flush=True)
        r = local(args.model, args.child_store, args.shards)
        r["load"] = load_average()
        cells["local (1 thread, no Ray)"].append(r)
        print(f"rep {rep} local: {r}", flush=True)
    method = json.loads((args.model / "method.json").read_text()).get("method")
    result = {"provenance": prov, "model": str(args.model), "method": method, "rows": args.rows, "part_size": args.part_size,
              "shards": args.shards,
              "reps": args.reps, "cells": cells, "machine_note": args.machine_note, "notes": args.notes}
    paths = write_results(BENCH, args.out_name, result, markdown(result), plot=lambda path: plot(result, path), root=ROOT)
    print(f"wrote {paths['json']}, .md, .png")


if __name__ == "__main__":
    main()
