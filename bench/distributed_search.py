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
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.kernel_timing import one_query_per_call, percentiles_over_runs, rotating_calls
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.questions import question_argv
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
#: the result folders (benchmark names) this script writes, one per sub-command (read by tests/test_bench_results.py)
BENCHMARKS = ("distributed_search", "ray_fanout_overhead")
QUESTIONS = dict(zip(("shards", "ray-fanout"), BENCHMARKS))
#: variant -> which replica counts run it (interleaved with the others on the same actors)
PLAN: dict[str, tuple[int, ...]] = {"threads": (1,), "ray 2 trips": (1,), "ray calls": (1, 2), "data plane": (1, 2),
                                    "ray no-op x4": (2,), "socket no-op x4": (2,)}
VARIANTS = tuple(f"{v}, {r} replica{'s' * (r > 1)}" if v not in ("threads", "ray no-op x4", "socket no-op x4") else v
                 for v, rs in PLAN.items() for r in rs)


def _pct(x: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(x) * 1e3, q))


def _latencies(search, queries, k: int) -> tuple[list[float], list]:
    res, lat = one_query_per_call(lambda q: search(q, k), queries)
    return lat, res


def _same(a, b) -> bool:
    return all(x.ids == y.ids and np.array_equal(x.distances, y.distances) and x.metadata == y.metadata
               for x, y in zip(a, b, strict=True))


def shards_run(args) -> dict:
    from distilhash.threads import limit_threads
    from distilhash.codes import Encoded
    from distilhash.index import create_sharded_index, open_sharded_index
    from distilhash.index import IndexOptions, create_index, open_index
    from distilhash.index.synth import replicate_with_noise, uniform_codes

    limit_threads(1)
    rng = np.random.default_rng(args.seed)
    centres = uniform_codes(args.centres, 64, rng)
    db, _ = replicate_with_noise(centres, args.n, args.flip, rng)
    q, _ = replicate_with_noise(centres, args.queries, args.flip, rng)
    ids = [f"i{i:09d}" for i in range(args.n)]
    tmp = Path(tempfile.mkdtemp(prefix="dist_search_", dir=args.tmp))
    out: dict = {"n": args.n, "shards": args.shards, "queries": args.queries,
                 "codes": {"kind": f"{args.centres} random centres replicated with bit-flip noise", "flip": args.flip, "bits": 64}}
    try:
        bulk = IndexOptions(bulk_threshold=1)
        t = time.perf_counter()
        with create_index(tmp / "single", kind="binary", n_bits=64, options=bulk) as one:
            one.add(ids, Encoded("binary", db, 64))
        out["build_seconds_single"] = time.perf_counter() - t
        t = time.perf_counter()
        with create_sharded_index(tmp / "sharded", args.shards, kind="binary", n_bits=64, options=bulk) as sh:
            sh.add(ids, Encoded("binary", db, 64))
        out["build_seconds_sharded"] = time.perf_counter() - t
        print(f"built: single {out['build_seconds_single']:.0f} s, {args.shards} shards {out['build_seconds_sharded']:.0f} s", flush=True)
        del db
        out["backends"] = {}
        for backend in args.backends:
            opts = IndexOptions(backend=backend)
            one = open_index(tmp / "single", verify_checksums=False, options=opts)
            sharded = {f: open_sharded_index(tmp / "sharded", verify_checksums=False, options=opts, fanout=f)
                       for f in ("threads", "serial")}
            t = time.perf_counter()
            one.searcher()
            build_single = time.perf_counter() - t
            t = time.perf_counter()
            sharded["threads"].searcher()
            build_sharded = time.perf_counter() - t
            sharded["serial"].searcher()
            info1, infos = one.info(), sharded["threads"].info()
            row: dict = {"searcher_build_seconds": {"single": build_single, "sharded": build_sharded},
                         "memory_bytes_per_item": {"single": info1.get("memory_bytes_per_item"),
                                                   "sharded": infos.get("memory_bytes_per_item")},
                         "disk_bytes_per_item": {"single": info1["disk_bytes_per_item"], "sharded": infos["disk_bytes_per_item"]},
                         "shard_counts": infos["shard_counts"]}
            shard0 = sharded["threads"].shards[0]
            for k in args.k:
                r: dict = {}
                lat1, res1 = _latencies(one.search, q, k)
                for f, idx in sharded.items():
                    lat, res = _latencies(idx.search, q, k)
                    r[f"sharded_{f}"] = {"p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99), "mean_ms": float(np.mean(lat) * 1e3),
                                         "identical": _same(res1, res)}
                r["single"] = {"p50_ms": _pct(lat1, 50), "p99_ms": _pct(lat1, 99), "mean_ms": float(np.mean(lat1) * 1e3)}
                t = time.perf_counter()
                batch1 = one.search(q, k)
                r["single"]["batch_qps"] = len(q) / (time.perf_counter() - t)
                for f, idx in sharded.items():
                    t = time.perf_counter()
                    b = idx.search(q, k)
                    r[f"sharded_{f}"]["batch_qps"] = len(q) / (time.perf_counter() - t)
                    r[f"sharded_{f}"]["batch_identical"] = _same(batch1, b)
                t = time.perf_counter()
                shard0.search(q, k)
                r["one_shard_alone"] = {"items": len(shard0), "batch_qps": len(q) / (time.perf_counter() - t)}
                row[f"k{k}"] = r
                print(f"[{backend} k={k}] single p50 {r['single']['p50_ms']:.2f} ms p99 {r['single']['p99_ms']:.2f} ms "
                      f"QPS {r['single']['batch_qps']:.0f} | threads p50 {r['sharded_threads']['p50_ms']:.2f} "
                      f"p99 {r['sharded_threads']['p99_ms']:.2f} QPS {r['sharded_threads']['batch_qps']:.0f} "
                      f"identical {r['sharded_threads']['identical']} | serial p50 {r['sharded_serial']['p50_ms']:.2f} "
                      f"QPS {r['sharded_serial']['batch_qps']:.0f} | one shard QPS {r['one_shard_alone']['batch_qps']:.0f}", flush=True)
            out["backends"][backend] = row
            one.close()
            for idx in sharded.values():
                idx.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def shards_md(result: dict) -> str:
    r = result["result"]
    lines = [f"# Sharded search: {r['n']:,} items in {r['shards']} shards vs one index ({result['provenance']['started_utc']})", "",
             f"Seed {result['settings']['seed']}; 64-bit structured synthetic codes; {r['queries']} queries. "
             "Shared 2-core machine (load averages in the provenance); every timing is wall clock.", "",
             f"Build (bulk add, fsynced): single {r['build_seconds_single']:.0f} s, sharded {r['build_seconds_sharded']:.0f} s.", "",
             "| searcher | k | single p50 / p99 ms | sharded threads p50 / p99 ms | sharded serial p50 / p99 ms | "
             "QPS single | QPS threads | QPS serial | QPS one shard | identical |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for backend, row in r["backends"].items():
        for k in result["settings"]["k"]:
            x = row[f"k{k}"]
            s, t, se = x["single"], x["sharded_threads"], x["sharded_serial"]
            ident = t["identical"] and se["identical"] and t["batch_identical"] and se["batch_identical"]
            lines.append(f"| {backend} | {k} | {s['p50_ms']:.2f} / {s['p99_ms']:.2f} | {t['p50_ms']:.2f} / {t['p99_ms']:.2f} | "
                         f"{se['p50_ms']:.2f} / {se['p99_ms']:.2f} | {s['batch_qps']:.0f} | {t['batch_qps']:.0f} | "
                         f"{se['batch_qps']:.0f} | {x['one_shard_alone']['batch_qps']:.0f} | {ident} |")
    lines += ["", "| searcher | memory B/item single | memory B/item sharded | disk B/item single | disk B/item sharded | shard sizes |",
              "|---|---|---|---|---|---|"]
    for backend, row in r["backends"].items():
        m, d = row["memory_bytes_per_item"], row["disk_bytes_per_item"]
        lines.append(f"| {backend} | {m['single'] or float('nan'):.1f} | {m['sharded'] or float('nan'):.1f} | {d['single']:.1f} | "
                     f"{d['sharded']:.1f} | {', '.join(f'{c:,}' for c in row['shard_counts'])} |")
    lines += ["", "Latency = one query per call (what an interactive request sees); QPS = the whole batch in one call. "
              "\"threads\" searches the shards concurrently (the C scans release the GIL), so on 2 cores it can at best "
              "halve the single index's latency; \"serial\" shows the cost of the fan-out and merge alone."]
    return "\n".join(lines)


def shards_plot(result: dict, path: Path) -> None:
    r = result["result"]
    with figure(path, 1, 2, figsize=(11, 4), dpi=120) as (fig, axes):
        labels, cols = [], {"single": [], "sharded_threads": [], "sharded_serial": []}
        qps = {"single": [], "sharded_threads": [], "sharded_serial": []}
        for backend, row in r["backends"].items():
            for k in result["settings"]["k"]:
                labels.append(f"{backend}\nk={k}")
                for c in cols:
                    cols[c].append(row[f"k{k}"][c]["p50_ms"])
                    qps[c].append(row[f"k{k}"][c]["batch_qps"])
        x = np.arange(len(labels))
        for ax, data, title in ((axes[0], cols, "p50 latency, one query per call (ms)"), (axes[1], qps, "batch QPS")):
            for i, (c, vals) in enumerate(data.items()):
                ax.bar(x + (i - 1) * 0.27, vals, 0.27, label=c.replace("_", " "))
            ax.set_xticks(x, labels, fontsize=8)
            ax.set_yscale("log")
            ax.set_title(f"{title}\n{r['n']:,} items, {r['shards']} shards", fontsize=9)
            ax.legend(fontsize=7)


def _build(work: Path, n: int, shards: int, seed: int) -> tuple[Path, list[Any]]:
    from distilhash.codes import Encoded
    from distilhash.index import create_sharded_index

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    with create_sharded_index(work / "ix", shards, kind="binary", n_bits=64) as w:
        w.add([f"item{i:07d}" for i in range(n)], Encoded("binary", codes, 64),
              [{"caption": f"a drawing of thing number {i}"} for i in range(n)], snapshot=True)
    queries = [Encoded("binary", rng.integers(0, 256, (1, 8), dtype=np.uint8), 64) for _ in range(1000)]
    return work / "ix", queries




def _variants(ix: Any, ref: Any, replicas: int, k: int) -> dict[str, Any]:
    """The calls of every variant this replica count runs (``PLAN``), on the fan-out of ``ix``."""
    ray = __import__("ray")
    fan = ix.fanout
    suffix = f", {replicas} replica{'s' * (replicas > 1)}"

    def transport(plane: bool, trips: int = 1):
        def call(q):
            fan.use_data_plane, fan.fetches_items = plane, trips == 1
            try:
                return ix.search(q, k)
            finally:
                fan.use_data_plane, fan.fetches_items = True, True
        return call

    actors = [a[0] for a in fan.actors]
    every = {"threads": lambda q: ref.search(q, k), "ray 2 trips": transport(False, 2), "ray calls": transport(False),
             "data plane": transport(True), "ray no-op x4": lambda q: ray.get([a.opened.remote() for a in actors]),
             "socket no-op x4": lambda q: fan.data_plane_floor()}
    return {(n if n in ("threads", "ray no-op x4", "socket no-op x4") else n + suffix): every[n]
            for n, rs in PLAN.items() if replicas in rs}


def one_run(ix_dir: Path, queries: list[Any], count: int, k: int) -> dict[str, Any]:
    """Every variant once (fresh actors per replica count, interleaved); latencies in ms and whether the
    answers equal the threads answers."""
    from distilhash.index import open_sharded_index

    out: dict[str, Any] = {"load_before": load_average()}
    with open_sharded_index(ix_dir, fanout="threads") as ref:
        expected = [ref.search(q, k) for q in queries[20:20 + count]]
        for replicas in (1, 2):
            with open_sharded_index(ix_dir, fanout="ray", fanout_options={"replicas": replicas}) as ix:
                for name, (lat, got) in rotating_calls(_variants(ix, ref, replicas, k), queries, count).items():
                    searched = name.startswith(("threads", "ray 2", "ray calls", "data plane"))
                    out[name] = {"ms": lat.tolist(), "same": all(_same(r, s) for r, s in zip(got, expected, strict=True)) if searched else True}
                out[f"served, {replicas} replicas"] = dict(ix.fanout.served)
    out["load_after"] = load_average()
    return out


@contextlib.contextmanager
def _session(kind: str):
    from distilhash.distributed.runtime import ray_session

    if kind == "local":
        with ray_session(num_cpus=2) as ray:
            yield ray
        return
    from distilhash.distributed.local_cluster import LocalCluster

    with LocalCluster(nodes=2, cpus_per_node=1) as cluster, ray_session(cluster.address) as ray:
        yield ray


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for v in (v for v in VARIANTS if v in runs[0]):
        out[v] = {**percentiles_over_runs([r[v]["ms"] for r in runs]), "all_same": all(r[v]["same"] for r in runs)}
    return out


def fanout_md(result: dict[str, Any]) -> str:
    s, summ = result["settings"], result["summary"]
    loads = [r["load_before"][0] for r in result["runs"]] + [r["load_after"][0] for r in result["runs"]]
    where = ("a Ray session started by the benchmark (2 CPUs, one node)" if s["cluster"] == "local"
             else "two raylets of 1 CPU each on this host (token auth), actors spread over both")
    lines = [f"# Ray fan-out overhead per query, {s['shards']} shards ({result['provenance']['started_utc']})", "",
             f"{s['items']:,} random 64-bit codes in {s['shards']} shards, each item with a short caption; one query per "
             f"call, k = {s['k']}, {s['queries']} queries per run after 20 warm-up queries, {s['runs']} runs (fresh actors "
             f"each run{'; the variants interleaved query by query on the same actors' if 'data plane, 2 replicas' in summ else ''})"
             f"; {where}. Shared 2-core machine: 1-minute load {min(loads):.1f}–{max(loads):.1f} during the runs "
             "(other engineers' jobs), so these are loaded-machine figures, not quiet ones.", "",
             "| variant | p50 ms | p99 ms | overhead p50 vs threads, ms | answers equal threads' |",
             "|---|---|---|---|---|"]
    base = summ["threads"]["p50_ms"]
    for v in summ:
        x = summ[v]
        over = "—" if v == "threads" or "no-op" in v else f"{x['p50_ms'] - base:.2f}"
        lines.append(f"| {v} | {x['p50_ms']:.2f} ± {x['p50_std']:.2f} | {x['p99_ms']:.2f} ± {x['p99_std']:.2f} | {over} | "
                     f"{'yes' if x['all_same'] else 'NO'} |")
    served = "data plane, 2 replicas" if "data plane, 2 replicas" in summ else "ray 1 trip, 2 replicas"
    g = summ[served]
    lines += ["", "Mean ± sample std over runs of each run's percentile. Goal (issue 28): at most 3 ms p50 and 10 ms p99 "
              f"per query at 4 shards through the Ray fan-out: **{'met' if g['p50_ms'] <= 3 and g['p99_ms'] <= 10 else 'not met'}** "
              f"here by `{served}` (p50 {g['p50_ms']:.2f} ms, p99 {g['p99_ms']:.2f} ms), what `serve --engine ray` runs."]
    if "data plane, 2 replicas" in summ:
        fell = sum(r[f"served, {n} replicas"]["fallbacks"] for r in result["runs"] for n in (1, 2))
        lines.append(f"Data-plane calls that fell back to a Ray call during the runs: {fell}.")
    return "\n".join(lines)


def fanout_plot(result: dict[str, Any], path: Path) -> None:
    summ = result["summary"]
    names = list(summ)
    with figure(path, figsize=(10, 4.2), dpi=120) as (fig, ax):
        x = np.arange(len(names))
        for i, (key, label) in enumerate((("p50", "p50"), ("p99", "p99"))):
            ax.bar(x + (i - 0.5) * 0.38, [summ[v][f"{key}_ms"] for v in names], 0.38,
                   yerr=[summ[v][f"{key}_std"] for v in names], label=label, capsize=3)
        ax.axhline(3, ls="--", lw=0.8, color="C0")
        ax.axhline(10, ls="--", lw=0.8, color="C1")
        ax.set_xticks(x, [v.replace(", ", ",\n") for v in names], fontsize=7)
        ax.set_ylabel("ms per query")
        ax.set_title(f"{result['settings']['shards']} shards, one query per call, {result['settings']['cluster']} Ray "
                     "(dashed: goals 3 / 10 ms)", fontsize=9)
        ax.legend(fontsize=8)


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
        markdown, plot = shards_md, shards_plot
    else:
        result["runs"] = []
        with tempfile.TemporaryDirectory() as tmp, _session(args.cluster):
            ix_dir, queries = _build(Path(tmp), args.items, args.shards, args.seed)
            for i in range(args.runs):
                r = one_run(ix_dir, queries, args.queries, args.k)
                result["runs"].append(r)
                print(i, {v: round(float(np.percentile(r[v]["ms"], 50)), 2) for v in VARIANTS}, r["load_before"], flush=True)
        result["summary"] = summarise(result["runs"])
        markdown, plot = fanout_md, fanout_plot
    paths = write_results(bench, args.out_name, result, markdown(result), plot=lambda path: plot(result, path), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
