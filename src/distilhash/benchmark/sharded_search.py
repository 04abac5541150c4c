"""A sharded index against one index over the same codes: build, latency, throughput, bytes, identical answers.

``bench/distributed_search.py shards`` declares the codes (:func:`~.scan_speed.bench_codes`) and calls
:func:`sharded_vs_single`; :func:`same_answers` is also its ``ray-fanout`` check against the threads fan-out.
Latency is one query per call (what an interactive request sees), throughput the whole batch in one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.kernel_timing import one_query_per_call

__all__ = ["same_answers", "latency_ms", "sharded_vs_single"]

FANOUTS = ("threads", "serial")


def same_answers(a: Sequence[Any], b: Sequence[Any]) -> bool:
    """Whether two lists of search results hold the same ids, distances and metadata, query by query."""
    return all(x.ids == y.ids and np.array_equal(x.distances, y.distances) and x.metadata == y.metadata
               for x, y in zip(a, b, strict=True))


def latency_ms(seconds: Sequence[float]) -> dict[str, float]:
    """``p50_ms``, ``p99_ms`` and ``mean_ms`` of per-call wall ``seconds``."""
    ms = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(np.mean(seconds) * 1e3)}


def _batch_qps(search: Callable[[], Any], nq: int) -> tuple[float, Any]:
    t = time.perf_counter()
    res = search()
    return nq / (time.perf_counter() - t), res


def sharded_vs_single(db: np.ndarray, q: np.ndarray, work: Path, *, shards: int, backends: Sequence[str], ks: Sequence[int],
                      log: Callable[[str], Any] = print) -> dict[str, Any]:
    """One index and a ``shards``-shard index of the 64-bit codes ``db`` ``[n, 8]`` (ids ``i000000000``...) built
    under ``work``, then for every searcher backend and k: latency (single, sharded ``threads`` and ``serial``
    fan-outs), batch QPS, one shard alone, searcher build seconds, bytes per item, and whether every sharded
    answer equals the single index's. Returns ``build_seconds_single``, ``build_seconds_sharded``, ``backends``."""
    from distilhash.codes import Encoded
    from distilhash.index import IndexOptions, create_index, create_sharded_index, open_index, open_sharded_index

    ids = [f"i{i:09d}" for i in range(len(db))]
    bulk, out = IndexOptions(bulk_threshold=1), {}
    t = time.perf_counter()
    with create_index(work / "single", kind="binary", n_bits=64, options=bulk) as one:
        one.add(ids, Encoded("binary", db, 64))
    out["build_seconds_single"] = time.perf_counter() - t
    t = time.perf_counter()
    with create_sharded_index(work / "sharded", shards, kind="binary", n_bits=64, options=bulk) as sh:
        sh.add(ids, Encoded("binary", db, 64))
    out["build_seconds_sharded"] = time.perf_counter() - t
    log(f"built: single {out['build_seconds_single']:.0f} s, {shards} shards {out['build_seconds_sharded']:.0f} s")
    out["backends"] = {}
    for backend in backends:
        opts = IndexOptions(backend=backend)
        one = open_index(work / "single", verify_checksums=False, options=opts)
        sharded = {f: open_sharded_index(work / "sharded", verify_checksums=False, options=opts, fanout=f) for f in FANOUTS}
        build = {}
        for name, idx in (("single", one), ("sharded", sharded["threads"])):
            t = time.perf_counter()
            idx.searcher()
            build[name] = time.perf_counter() - t
        sharded["serial"].searcher()
        info1, infos = one.info(), sharded["threads"].info()
        row: dict[str, Any] = {"searcher_build_seconds": build,
                               "memory_bytes_per_item": {"single": info1.get("memory_bytes_per_item"),
                                                         "sharded": infos.get("memory_bytes_per_item")},
                               "disk_bytes_per_item": {"single": info1["disk_bytes_per_item"], "sharded": infos["disk_bytes_per_item"]},
                               "shard_counts": infos["shard_counts"]}
        shard0 = sharded["threads"].shards[0]
        for k in ks:
            res1, lat1 = one_query_per_call(lambda x: one.search(x, k), q)
            r: dict[str, Any] = {}
            for f, idx in sharded.items():
                res, lat = one_query_per_call(lambda x: idx.search(x, k), q)
                r[f"sharded_{f}"] = {**latency_ms(lat), "identical": same_answers(res1, res)}
            r["single"] = latency_ms(lat1)
            r["single"]["batch_qps"], batch1 = _batch_qps(lambda: one.search(q, k), len(q))
            for f, idx in sharded.items():
                r[f"sharded_{f}"]["batch_qps"], b = _batch_qps(lambda: idx.search(q, k), len(q))
                r[f"sharded_{f}"]["batch_identical"] = same_answers(batch1, b)
            r["one_shard_alone"] = {"items": len(shard0), "batch_qps": _batch_qps(lambda: shard0.search(q, k), len(q))[0]}
            row[f"k{k}"] = r
            s, th, se = r["single"], r["sharded_threads"], r["sharded_serial"]
            log(f"[{backend} k={k}] single p50 {s['p50_ms']:.2f} ms p99 {s['p99_ms']:.2f} ms QPS {s['batch_qps']:.0f} | threads p50 "
                f"{th['p50_ms']:.2f} p99 {th['p99_ms']:.2f} QPS {th['batch_qps']:.0f} identical {th['identical']} | serial p50 "
                f"{se['p50_ms']:.2f} QPS {se['batch_qps']:.0f} | one shard QPS {r['one_shard_alone']['batch_qps']:.0f}")
        out["backends"][backend] = row
        for idx in (one, *sharded.values()):
            idx.close()
    return out
