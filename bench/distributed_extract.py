"""Encoding on Ray, 1 vs 2 workers or nodes, one question per sub-command (result folders: :data:`BENCHMARKS`).

    .venv/bin/python bench/distributed_extract.py                # towers: EmojiScenes, minilm-lit, local 2-CPU cluster
    .venv/bin/python bench/distributed_extract.py --images 2048 --texts 512 --skip-full --out-name scratch
    DISTILHASH_HOME=data python bench/distributed_extract.py nodes --model data/runs/demo-dcmq64 \
        [--dataset openclipart --teacher lite0-minilm:openclipart] [--rows 262144] [--reps 3] [--shards 4]

``towers`` (the default; ``bench/results/distributed_extract/``): teacher extraction. Needs
``distilhash data prepare emoji-scenes`` and, for the full run's identity check, ``distilhash
teacher extract --dataset emoji-scenes`` (the single-process cache) in $DISTILHASH_HOME.

1. Tower scaling: W = 1, then 2 actors (1 CPU and 1 torch thread each) on a local Ray cluster of
   2 CPUs; each actor loads the teacher and is warmed up on one part; then ``--images`` rows of
   the image tower (and ``--texts`` rows of the text tower, without the text-embedding cache)
   are encoded in parts of ``--part`` rows spread over the actors. Reported: wall-clock rows/s,
   speed-up of 2 workers over 1 and efficiency = speed-up / 2; and the actors' CPU seconds (a
   shared, oversubscribed machine gives workers less than a core each; rows per CPU-second shows
   whether the work itself scaled).
2. Full extraction (``extract_features_ray``, 2 workers, parts of 2048 rows) of the whole
   dataset into a fresh cache, compared array by array with the single-process cache
   (``array_equal`` and max |difference|). Text rows come from the teacher's text-embedding
   cache when the single-process run filled it (the same 2048-row chunks); image rows are
   always computed.

``nodes`` (``bench/results/encode_nodes/``): a trained model's encoding throughput on one node vs
two nodes of the same host (issue 28's goal: 2 nodes >= 1.7x one). Features: the dataset's cached
image features tiled to ``--rows`` rows, each copy with a little Gaussian noise, saved once as a
``.npy`` store under ``--work`` (the workers read their own rows from it; the driver sends paths
and row ranges, as ``index build --engine ray`` does). Per repetition and configuration a fresh
local Ray cluster is started on this host (:class:`LocalCluster`: raylets by ``ray start``,
loopback, token authentication) and ``encode_parallel`` encodes every row in parts of
``--part-size``: ``1 node`` (one raylet with 1 CPU, one model-holding actor) and ``2 nodes`` (two
raylets with 1 CPU each, one actor per node). The wall time of the call is measured (actor start
and model load included) and, from the arrival times of the parts, the steady rate (rows after the
first part of each worker / time since the first part arrived) and the time to the first part.
The local engine (this process, 1 thread) is the no-Ray reference. Configurations alternate inside
each repetition, so both see the same load; mean ± sample std over ``--reps``.

Both write ``<out-name>.{json,md,png}`` with the provenance block and the load around each phase.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.distributed_report import nodes_markdown, nodes_plot, towers_markdown, towers_plot
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.questions import question_argv
from distilhash.benchmark.results import publish

ROOT = Path(__file__).resolve().parents[1]
#: the result folders (benchmark names) this script writes, one per sub-command (read by tests/test_bench_results.py)
BENCHMARKS = ("distributed_extract", "encode_nodes")
QUESTIONS = dict(zip(("towers", "nodes"), BENCHMARKS))


def tower_scaling(ray, ds_dir: Path, teacher: str, name: str, n_rows: int, part: int, workers: int) -> dict:
    """Encode rows [0, n_rows) of array ``name`` on ``workers`` fresh actors; wall and CPU figures."""
    from distilhash.distributed.extract import ExtractWorker

    remote = ray.remote(num_cpus=1)(ExtractWorker)
    opts = {"device": "cpu", "text_cache_dir": False}
    actors = [remote.remote(str(ds_dir), teacher, opts, "a photo of {}", 128, 1) for _ in range(workers)]
    try:
        warm = min(part, 256)
        ray.get([a.encode_rows.remote(name, n_rows, n_rows + warm) for a in actors])  # load + first-call costs
        ranges = [(s, min(n_rows, s + part)) for s in range(0, n_rows, part)]
        load_before = load_average()
        t0 = time.perf_counter()
        out = ray.get([actors[i % workers].encode_rows.remote(name, s, e) for i, (s, e) in enumerate(ranges)])
        wall = time.perf_counter() - t0
        rows = np.concatenate([o[0] for o in out])
    finally:
        for a in actors:
            ray.kill(a)
    cpu = sum(o[2] for o in out)
    return {"array": name, "workers": workers, "rows": n_rows, "part": part, "wall_s": wall, "rows_per_s": n_rows / wall,
            "actor_cpu_s": cpu, "rows_per_cpu_s": n_rows / cpu, "cpu_per_wall": cpu / wall,
            "load_before": load_before, "load_after": load_average(),
            "checksum": float(np.abs(rows).sum())}


def full_extraction(ds_dir: Path, teacher: str, single_dir: Path, out: Path, workers: int) -> dict:
    from distilhash.distributed.extract import extract_features_ray
    from distilhash.teachers.cache import load_features

    shutil.rmtree(out, ignore_errors=True)
    load_before = load_average()
    t0 = time.perf_counter()
    extract_features_ray(ds_dir, teacher, out, workers=workers, part_size=2048, progress=True)
    wall = time.perf_counter() - t0
    ray_fs, one = load_features(out), load_features(single_dir)
    cmp = {}
    for name in ("image", "text", "label_text", "class_text", "labels"):
        a, b = getattr(ray_fs, name), getattr(one, name)
        cmp[name] = {"array_equal": bool(np.array_equal(a, b)),
                     "max_abs_diff": float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())}
    return {"workers": workers, "items": len(ray_fs), "wall_s": wall, "items_per_s": len(ray_fs) / wall,
            "ids_equal": ray_fs.ids == one.ids, "compare_with_single_process": cmp,
            "engine": ray_fs.manifest.get("engine"), "single_process_throughput": one.manifest.get("throughput"),
            "load_before": load_before, "load_after": load_average()}


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
    import subprocess

    cmd = [sys.executable, __file__, "nodes", "--child-nodes", str(nodes), "--model", str(args.model), "--child-store",
           str(args.child_store), "--part-size", str(args.part_size), "--shards", str(args.shards)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"the {nodes}-node measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def nodes_run(args) -> None:
    """Every repetition of every configuration; writes the results."""
    from distilhash.data.store import open_prepared

    _, split = open_prepared(args.dataset)
    prov = collect_provenance(QUESTIONS["nodes"], args.out_name, seeds=[args.seed], dataset=args.dataset, split=split, threads=1,
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
    publish(QUESTIONS["nodes"], args.out_name, nodes_markdown, nodes_plot, result=result, root=ROOT)



def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="question")
    tw = sub.add_parser("towers", help="teacher extraction, 1 vs 2 workers, and a full run (distributed_extract/)")
    tw.add_argument("--dataset", default="emoji-scenes")
    tw.add_argument("--teacher", default="minilm-lit")
    tw.add_argument("--images", type=int, default=8192)
    tw.add_argument("--texts", type=int, default=1024)
    tw.add_argument("--part", type=int, default=512)
    tw.add_argument("--skip-full", action="store_true")
    p = sub.add_parser("nodes", help="a model's encoding on one vs two nodes (encode_nodes/)")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--dataset", default="openclipart")
    p.add_argument("--teacher", default="lite0-minilm:openclipart")
    p.add_argument("--rows", type=int, default=262_144)
    p.add_argument("--part-size", type=int, default=65_536)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--machine-note", default="loaded machine: other engineers' jobs were running")
    p.add_argument("--notes", default="")
    p.add_argument("--shards", type=int, default=0, help="build a sharded index of this many shards on the workers "
                   "(encode + parallel shard writers) instead of only encoding; the local cell then also writes one")
    p.add_argument("--work", type=Path, default=None, help="directory for the feature store (default: a temporary one)")
    p.add_argument("--child-nodes", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--child-store", type=Path, default=None, help=argparse.SUPPRESS)
    for q, sp in (("towers", tw), ("nodes", p)):
        sp.add_argument("--out-name", default=QUESTIONS[q], help=f"result name under bench/results/{QUESTIONS[q]}/")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(question_argv(sys.argv[1:] if argv is None else argv, QUESTIONS, "towers"))
    if args.question == "towers":
        return towers_run(args)
    import tempfile

    if args.child_nodes:
        print(json.dumps(on_ray(args.model, args.child_store, args.child_nodes, args.part_size, args.shards)))
        return
    work = Path(tempfile.mkdtemp(prefix="encode-nodes-", dir=args.work))
    args.child_store = work / "rows.npy"
    np.save(args.child_store, features(args.dataset, args.teacher, args.rows, args.seed))
    (work / "ids.json").write_text(json.dumps([f"row{i:09d}" for i in range(args.rows)]))
    try:
        nodes_run(args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def towers_run(args) -> None:
    """Tower scaling on a local 2-CPU session, then (unless ``--skip-full``) the full extraction; writes the results."""
    from distilhash.benchmark.provenance import peak_rss_mib
    from distilhash.data.store import open_prepared, resolve_dataset_dir
    from distilhash.distributed.runtime import ray_session
    from distilhash.teachers.cache import default_features_dir

    ds_dir = resolve_dataset_dir(args.dataset).resolve()
    ds, split = open_prepared(ds_dir)
    prov = collect_provenance(QUESTIONS["towers"], args.out_name, seeds=[], model_selection="none (inference only)",
                              dataset=ds.name, dataset_hash=ds.content_hash(), split_hash=split.hash, root=ROOT)
    result = {"provenance": prov, "teacher": args.teacher, "settings": {k: v for k, v in vars(args).items() if k != "question"}, "scaling": []}
    with ray_session(num_cpus=2) as ray:
        for name, n in (("image", args.images), ("text", args.texts)):
            runs = []
            for w in (1, 2):
                r = tower_scaling(ray, ds_dir, args.teacher, name, n, args.part, w)
                print(f"{name} x{w}: {r['rows_per_s']:.1f} rows/s (CPU/wall {r['cpu_per_wall']:.2f}, "
                      f"{r['rows_per_cpu_s']:.1f} rows per CPU-s, load {r['load_before'][0]})", flush=True)
                runs.append(r)
            result["scaling"].append({"array": name, "runs": runs,
                                      "speedup_2_workers": runs[1]["rows_per_s"] / runs[0]["rows_per_s"],
                                      "all_rows_identical_1_vs_2": runs[0]["checksum"] == runs[1]["checksum"]})
        if not args.skip_full:
            from distilhash.paths import features_dir

            single = default_features_dir(ds.name, args.teacher)
            result["full"] = full_extraction(ds_dir, args.teacher, single, features_dir() / f"{ds.name}__ray-bench", 2)
            print(json.dumps(result["full"]["compare_with_single_process"]), flush=True)
    result["peak_rss_mib_driver"] = peak_rss_mib()
    publish(QUESTIONS["towers"], args.out_name, towers_markdown, towers_plot, result=result, root=ROOT)



if __name__ == "__main__":
    main()
