"""Sharded search, one question per sub-command (result folders: :data:`BENCHMARKS`).

    .venv/bin/python bench/distributed_search.py                              # shards: 10M items, 4 shards
    .venv/bin/python bench/distributed_search.py --n 200000 --queries 50 --out-name scratch
    .venv/bin/python bench/distributed_search.py ray-fanout                   # local Ray session, 3 runs
    .venv/bin/python bench/distributed_search.py ray-fanout --cluster two-raylet --out-name ray_fanout_overhead_two_raylet

``shards`` (the default; ``bench/results/distributed_search/``): N items in S shards (fan-out +
exact merge) vs one index over the same items. 64-bit binary codes, synthetic as in
``bench/index_speed.py`` (``structured``: noisy copies of 20,000 random centres, 5% bit flips;
queries are fresh noisy copies). Both indexes are built from the same codes in the same order;
every query's ids, distances and metadata are checked identical. Measured for the ``native`` flat
scan (memory-bandwidth bound: the figure the 1B sizing in docs/distributed.md rests on) and the
``mih`` searcher (the default above 50k items), k = 10 and 100:

* latency of one query at a time (p50 / p99 over ``--queries`` queries), single index vs the
  sharded index with the ``threads`` fan-out (one thread per shard) and the ``serial`` fan-out;
* throughput of the whole query batch in one call (QPS);
* per-shard figures (one shard alone: QPS and memory bytes/item), build time, bytes per item.

``ray-fanout`` (``bench/results/ray_fanout_overhead/``): the cost of the Ray fan-out per query, 4
shards searched through Ray actors vs threads in one process.
A 4-shard index of ``--items`` random 64-bit binary codes (each item with a short caption in its
metadata, like a served index) is searched one query per call (k = 10), what an interactive
request sees. The variants are *interleaved*: the same shard actors answer every variant, query
by query, in an order that rotates with the query, so a load spike on the shared host falls on
all of them alike. Per run, first with 1 actor per shard, then with 2 (what ``serve --engine
ray`` runs; fresh actors each time):

* ``threads``: the in-process fan-out (one thread per shard), the reference;
* ``ray 2 trips`` (1 replica only): candidates from every shard, then the winners' ids and
  metadata from each shard that holds one, one Ray call per shard (``fetches_items`` off);
* ``ray calls``: each shard returns its top-k with ids and metadata in one Ray call, all shards
  in parallel, one ``ray.get`` for all (the fan-out with ``use_data_plane`` off);
* ``data plane``: the same request and answer bytes over each actor's authenticated socket
  endpoint (the fan-out's default);
* ``ray no-op x4``: a no-op Ray call to one actor of each shard and one ``ray.get``: Ray's floor;
* ``socket no-op x4``: a frame to each shard's endpoint that the actor refuses at once (an empty
  query): the data plane's floor (a socket round trip per shard, no search).

Every answer is checked identical (ids, distances, metadata) to the threads answer. The fan-out's
overhead is a variant's latency minus the threads latency. ``--cluster local`` is a Ray session
started in this process (2 CPUs); ``two-raylet`` a cluster of two raylets of 1 CPU on this host
(:class:`~distilhash.distributed.local_cluster.LocalCluster`, token auth), the actors spread over
both.

Both write ``<out-name>.{json,md,png}`` with the provenance block (the ray-fanout runs: the load
average before and after each run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.distributed_report import fanout_markdown, fanout_plot, fanout_summary, shards_markdown, shards_plot
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.questions import question_argv
from distilhash.benchmark.results import publish
from distilhash.benchmark.ray_fanout import build_fanout_index, fanout_run, ray_cluster, variant_names
from distilhash.benchmark.scan_speed import bench_codes
from distilhash.benchmark.sharded_search import sharded_vs_single

ROOT = Path(__file__).resolve().parents[1]
#: the result folders (benchmark names) this script writes, one per sub-command (read by tests/test_bench_results.py)
BENCHMARKS = ("distributed_search", "ray_fanout_overhead")
QUESTIONS = dict(zip(("shards", "ray-fanout"), BENCHMARKS))
#: variant -> which replica counts run it (interleaved with the others on the same actors)
PLAN: dict[str, tuple[int, ...]] = {"threads": (1,), "ray 2 trips": (1,), "ray calls": (1, 2), "data plane": (1, 2),
                                    "ray no-op x4": (2,), "socket no-op x4": (2,)}
VARIANTS = variant_names(PLAN)


def shards_run(args) -> dict:
    from distilhash.threads import limit_threads

    limit_threads(1)
    db, q, codes = bench_codes("structured", args.n, args.queries, np.random.default_rng(args.seed), centres=args.centres, flip=args.flip)
    out: dict = {"n": args.n, "shards": args.shards, "queries": args.queries, "codes": {**codes, "bits": 64}}
    with tempfile.TemporaryDirectory(prefix="dist_search_", dir=args.tmp) as tmp:
        out.update(sharded_vs_single(db, q, Path(tmp), shards=args.shards, backends=args.backends, ks=args.k,
                                     log=lambda m: print(m, flush=True)))
    return out


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="question")
    sh = sub.add_parser("shards", help="a sharded index vs one index (distributed_search/)")
    fo = sub.add_parser("ray-fanout", help="the Ray fan-out's cost per query (ray_fanout_overhead/)")
    fo.add_argument("--cluster", choices=["local", "two-raylet"], default="local")
    fo.add_argument("--items", type=int, default=40_000)
    sh.add_argument("--n", type=int, default=10_000_000)
    for sp, queries in ((sh, 200), (fo, 300)):
        sp.add_argument("--shards", type=int, default=4)
        sp.add_argument("--queries", type=int, default=queries)
    fo.add_argument("--runs", type=int, default=3)
    fo.add_argument("--k", type=int, default=10)
    sh.add_argument("--k", type=int, nargs="+", default=[10, 100])
    sh.add_argument("--backends", nargs="+", default=["native", "mih"])
    sh.add_argument("--centres", type=int, default=20_000)
    sh.add_argument("--flip", type=float, default=0.05)
    for q, sp in (("shards", sh), ("ray-fanout", fo)):
        sp.add_argument("--seed", type=int, default=0)
        if q == "shards":
            sp.add_argument("--tmp", type=Path, default=None)
        sp.add_argument("--out-name", default=QUESTIONS[q], help=f"result name under bench/results/{QUESTIONS[q]}/")
    return ap


def main(argv: list[str] | None = None) -> None:
    from distilhash.benchmark.provenance import peak_rss_mib

    args = parser().parse_args(question_argv(sys.argv[1:] if argv is None else argv, QUESTIONS, "shards"))
    bench = QUESTIONS[args.question]
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "question"}
    t0 = time.time()
    prov = collect_provenance(bench, args.out_name, seeds=[args.seed], root=ROOT, model_selection=
                              "none (no training; synthetic codes)" if args.question == "shards" else "none: nothing is selected")
    result: dict[str, Any] = {"provenance": prov, "settings": settings}
    if args.question == "shards":
        result["result"] = shards_run(args)
        result["wall_seconds"] = time.time() - t0
        result["peak_rss_mib"] = peak_rss_mib()
        tables = shards_markdown, shards_plot
    else:
        result["runs"] = []
        with tempfile.TemporaryDirectory() as tmp, ray_cluster(args.cluster):
            ix_dir, queries = build_fanout_index(Path(tmp), args.items, args.shards, args.seed)
            for i in range(args.runs):
                r = fanout_run(ix_dir, queries, args.queries, args.k, PLAN)
                result["runs"].append(r)
                print(i, {v: round(float(np.percentile(r[v]["ms"], 50)), 2) for v in VARIANTS}, r["load_before"], flush=True)
        result["summary"] = fanout_summary(result["runs"], VARIANTS)
        tables = fanout_markdown, fanout_plot
    publish(bench, args.out_name, *tables, result=result, root=ROOT)


if __name__ == "__main__":
    main()
