"""Scan kernels one query per call and in batches, interleaved with FAISS, against the measured memory limit.

    python bench/kernel_single_query.py [--sizes 1000000 10000000] [--batches 1 16 256] [--queries 256] [--repeat 3]

For each database size ``n`` (uniform random 64-bit codes, single thread, k = 10) and each
family — ``pq4`` (M = 16, K = 16: our exact fast scan vs FAISS ``IndexPQFastScan``), ``pq8``
(M = 8, K = 256: our exact fast scan vs FAISS ``IndexPQ``), ``hamming`` (our exact scan vs FAISS
``IndexBinaryFlat``, heap and counting top-k) — every batch size ``b`` answers the same
``--queries`` queries in calls of ``b`` queries. Both sides start from the raw query (float
vectors for PQ: our side builds its ADC tables inside the timed call, as FAISS does; packed bits
for Hamming). The arms are interleaved: repetition ``r`` times ours then FAISS when ``r`` is even,
FAISS then ours when odd; the best wall time of each arm over ``--repeat`` repetitions is kept.

The memory limit is measured in the same run on a buffer of the codes' size (so at the same cache
level: ~8 MB at 1M sits in L3, 80 MB at 10M comes from DRAM): the best single-thread read
bandwidth of numpy's ``count_nonzero`` and ``sum`` (uint64) over it. ``limit ns/code = 8 bytes / bandwidth``;
``share of limit = limit ns/code / measured ns/code`` (1.0 = the scan reads codes as fast as one
thread can read memory; a numpy read is a lower bound of the true limit, so a share can exceed 1).
Writes ``bench/results/kernel_single_query/<out-name>.{json,md}``; the machine is shared (loads
recorded per size and in the provenance).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "kernel_single_query"
K_TOP = 10
CODE_BYTES = 8


def read_bandwidth(nbytes: int, repeat: int) -> dict:
    """Best single-thread read GB/s over a ``nbytes`` buffer (numpy count_nonzero and uint64 sum)."""
    buf = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
    best = {}
    for name, fn in (("count_nonzero", lambda: np.count_nonzero(buf)), ("sum_u64", lambda: buf[: nbytes // 8 * 8].view(np.uint64).sum())):
        fn()
        t_best = min(_wall(fn) for _ in range(max(3, repeat)))
        best[name] = nbytes / t_best / 1e9
    return {"bytes": nbytes, "gb_per_s": best, "best_gb_per_s": max(best.values())}


def _wall(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _calls(fn, queries: np.ndarray, batch: int):
    """A closure answering every query in calls of ``batch``."""
    def run():
        for s in range(0, len(queries), batch):
            fn(queries[s : s + batch])
    return run


def _interleaved(arms: dict, repeat: int) -> dict[str, float]:
    """Best wall seconds per arm; the order of the arms alternates between repetitions."""
    names = list(arms)
    best = {n: float("inf") for n in names}
    for n in names:  # warm every arm once
        arms[n]()
    for r in range(repeat):
        for n in (names if r % 2 == 0 else names[::-1]):
            best[n] = min(best[n], _wall(arms[n]))
    return best


def pq_arms(bits: int, n: int, rng):
    import faiss

    from distilhash.index.fastscan import FastScanCodes, choose_impl
    from distilhash.index.pq import lookup_tables
    from distilhash.index.pqcodes import pack_nibbles

    m, dsub = (16, 4) if bits == 4 else (8, 8)
    kk = 1 << bits
    cb = rng.normal(size=(m, kk, dsub)).astype(np.float32)
    codes = rng.integers(0, kk, (n, m), dtype=np.uint8)
    fs = FastScanCodes(m, bits)
    fs.add(codes)
    impl = choose_impl(bits, "auto")
    ipq = faiss.IndexPQ(m * dsub, m, bits, faiss.METRIC_L2)
    faiss.copy_array_to_vector(cb.ravel(), ipq.pq.centroids)
    ipq.is_trained = True
    ipq.add_sa_codes(pack_nibbles(codes) if bits == 4 else codes)
    fidx = faiss.IndexPQFastScan(ipq) if bits == 4 else ipq
    ours = lambda q: fs.knn(lookup_tables(q, cb, "l2"), K_TOP, False, None, impl)  # noqa: E731
    theirs = lambda q: fidx.search(q, K_TOP)  # noqa: E731
    label = "FAISS IndexPQFastScan" if bits == 4 else "FAISS IndexPQ"
    make_queries = lambda nq: rng.normal(size=(nq, m * dsub)).astype(np.float32)  # noqa: E731
    return {f"ours ({impl})": ours, label: theirs}, make_queries


def hamming_arms(n: int, rng):
    import faiss

    from distilhash.index import native

    db = rng.integers(0, 256, (n, CODE_BYTES), dtype=np.uint8)
    words = db.view(np.uint64)
    arms = {"ours (native)": lambda q: native.hamming_knn(words, np.ascontiguousarray(q).view(np.uint64), K_TOP)}
    for name, heap in (("FAISS IndexBinaryFlat heap", True), ("FAISS IndexBinaryFlat counting", False)):
        idx = faiss.IndexBinaryFlat(64)
        idx.use_heap = heap
        idx.add(db)
        arms[name] = (lambda ix: (lambda q: ix.search(q, K_TOP)))(idx)
    return arms, lambda nq: rng.integers(0, 256, (nq, CODE_BYTES), dtype=np.uint8)


def bench_size(n: int, args, rng, log) -> dict:
    out = {"n": n, "load_before": load_average(), "bandwidth": read_bandwidth(n * CODE_BYTES, args.repeat), "families": {}}
    limit_ns = CODE_BYTES / out["bandwidth"]["best_gb_per_s"]
    out["limit_ns_per_code"] = limit_ns
    log(f"n={n:,}: read bandwidth {out['bandwidth']['best_gb_per_s']:.1f} GB/s -> limit {limit_ns:.3f} ns/code")
    for family in args.families:
        arms, make_queries = pq_arms(4 if family == "pq4" else 8, n, rng) if family != "hamming" else hamming_arms(n, rng)
        queries = make_queries(args.queries)
        rows = {}
        for batch in args.batches:
            best = _interleaved({name: _calls(fn, queries, batch) for name, fn in arms.items()}, args.repeat)
            rows[str(batch)] = {name: {"ns_per_code": 1e9 * s / (len(queries) * n), "qps": len(queries) / s,
                                       "share_of_limit": limit_ns / (1e9 * s / (len(queries) * n))} for name, s in best.items()}
            ours = next(k for k in best if k.startswith("ours"))
            log(f"n={n:,} {family} batch {batch}: " + ", ".join(f"{k} {v['ns_per_code']:.3f} ns/code ({v['share_of_limit']:.0%})"
                                                              for k, v in rows[str(batch)].items()) + f"  [ours: {ours}]")
        out["families"][family] = rows
        del arms
    out["load_after"] = load_average()
    return out


def markdown(res: dict) -> str:
    lines = ["# Scan kernels: one query per call and batches, interleaved with FAISS, against the memory limit", "",
             f"Single thread, k={K_TOP}, uniform random 64-bit codes, {res['queries']} queries per cell answered in calls of the "
             f"batch size; both sides start from the raw query (table construction inside the timed call); arms interleaved, "
             f"best of {res['repeat']}. Memory limit: the best single-thread numpy read over a buffer of the codes' size in the "
             "same run. **Shared 2-core machine** (loads per size): figures are upper bounds of a quiet machine's.", ""]
    for s in res["sizes"]:
        bw = s["bandwidth"]
        lines += [f"## n = {s['n']:,} (read bandwidth {bw['best_gb_per_s']:.1f} GB/s -> limit {s['limit_ns_per_code']:.3f} ns/code; "
                  f"load {s['load_before'][0]:.1f}→{s['load_after'][0]:.1f})", "",
                  "| family | batch | arm | ns/code | QPS | share of the memory limit |", "|---|---|---|---|---|---|"]
        for family, rows in s["families"].items():
            for batch, arms in rows.items():
                for name, v in arms.items():
                    lines.append(f"| {family} | {batch} | {name} | {v['ns_per_code']:.3f} | {v['qps']:,.0f} | {v['share_of_limit']:.0%} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    p.add_argument("--families", nargs="+", default=["pq4", "pq8", "hamming"], choices=["pq4", "pq8", "hamming"])
    p.add_argument("--queries", type=int, default=256)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-name", default=BENCH)
    args = p.parse_args(argv)
    import faiss

    from distilhash.threads import limit_threads

    limit_threads(1)
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] load {load_average()[0]:.2f} | {msg}", flush=True)  # noqa: E731
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], root=ROOT,
                              model_selection="none: synthetic codes, nothing is selected")
    res = {"provenance": prov, "queries": args.queries, "repeat": args.repeat, "k": K_TOP, "batches": args.batches,
           "sizes": [bench_size(n, args, rng, log) for n in args.sizes]}
    write_results(BENCH, args.out_name, res, markdown(res), root=ROOT)


if __name__ == "__main__":
    main()
