"""Sharded search at scale: N items in S shards (fan-out + exact merge) vs one index over the same items.

    .venv/bin/python bench/distributed_search.py                              # 10M items, 4 shards
    .venv/bin/python bench/distributed_search.py --n 200000 --queries 50 --out-name distributed_search_smoke

64-bit binary codes, synthetic as in ``bench/index_speed.py`` (``structured``: noisy copies of 20,000
random centres, 5% bit flips; queries are fresh noisy copies). Both indexes are built from the same
codes in the same order; every query's ids, distances and metadata are checked identical.

Measured for the ``native`` flat scan (memory-bandwidth bound: the figure the 1B sizing in
docs/distributed.md rests on) and the ``mih`` searcher (the default above 50k items), k = 10 and 100:

* latency of one query at a time (p50 / p99 over ``--queries`` queries), single index vs the
  sharded index with the ``threads`` fan-out (one thread per shard) and the ``serial`` fan-out;
* throughput of the whole query batch in one call (QPS);
* per-shard figures (one shard alone: QPS and memory bytes/item), build time, bytes per item.

Writes ``bench/results/distributed_search/<out-name>.{json,md,png}`` with the provenance block
(:func:`distilhash.benchmark.provenance.collect_provenance`).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.kernel_timing import one_query_per_call
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "distributed_search"


def _pct(x: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(x) * 1e3, q))


def _latencies(search, queries, k: int) -> tuple[list[float], list]:
    res, lat = one_query_per_call(lambda q: search(q, k), queries)
    return lat, res


def _same(a, b) -> bool:
    return all(x.ids == y.ids and np.array_equal(x.distances, y.distances) and x.metadata == y.metadata
               for x, y in zip(a, b, strict=True))


def run(args) -> dict:
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


def markdown(result: dict) -> str:
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


def plot(result: dict, path: Path) -> None:
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


def main(argv: list[str] | None = None) -> None:
    from distilhash.benchmark.provenance import peak_rss_mib

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, nargs="+", default=[10, 100])
    ap.add_argument("--backends", nargs="+", default=["native", "mih"])
    ap.add_argument("--centres", type=int, default=20_000)
    ap.add_argument("--flip", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmp", type=Path, default=None)
    ap.add_argument("--out-name", default=BENCH, help="result name under bench/results/distributed_search/")
    args = ap.parse_args(argv)
    t0 = time.time()
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], model_selection="none (no training; synthetic codes)",
                              root=ROOT)
    result = {"provenance": prov, "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    result["result"] = run(args)
    result["wall_seconds"] = time.time() - t0
    result["peak_rss_mib"] = peak_rss_mib()
    paths = write_results(BENCH, args.out_name, result, markdown(result), plot=lambda path: plot(result, path), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
