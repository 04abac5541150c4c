"""Scan kernels against FAISS and the hardware, one question per sub-command (result folders: :data:`BENCHMARKS`).

    .venv/bin/python bench/pq_fastscan.py                                  # parts: 1M and 10M (~15 min quiet)
    .venv/bin/python bench/pq_fastscan.py --sizes 100000 --queries 16 --out-name scratch
    .venv/bin/python bench/pq_fastscan.py single-query [--sizes 1000000 10000000] [--batches 1 16 256] [--threads 1 2]

Single thread (``faiss.omp_set_num_threads(1)``; our kernels are single threaded) unless said, k = 10,
random codebooks (normal), uniform random codes, l2 metric; figures are the best of ``--repeat``
repetitions (wall clock) with the CPU time beside them; the machine is shared (2 cores), so load
averages are recorded per part / size and in the provenance. ``--replot`` redraws the tables and
the plot of a stored result.

``parts`` (the default) -> ``bench/results/pq_fastscan/<out-name>.{json,md,png}``:

* ``pq4``: 4-bit PQ, M = 16 (64 bits), d = 4 per sub-space: our fast scan (every kernel this CPU
  runs; ``scalar`` on fewer queries), our float kernel (the previous scan), FAISS
  ``IndexPQFastScan`` built from an ``IndexPQ`` holding the same codebooks and codes. Ours is
  checked identical to the numpy float ADC top-k (first queries); FAISS fast scan is not exact,
  its overlap with the exact top-10 is reported.
* ``pq8``: 8-bit PQ, M = 8, d = 8: our fast scan (AVX-512 VBMI), our float kernel, FAISS ``IndexPQ``.
* ``binary``: 64-bit codes, exact Hamming top-10: our native scan vs FAISS ``IndexBinaryFlat``
  with its default heap top-k and with ``use_heap=False`` (counting top-k); both ratios.
* ``ivf``: a 1M-item PQ index (M = 8, K = 256) opened with the IVF searcher: first open (trains
  and writes ``ivf.state``) and later opens (load the state), each up to the first answered query.

The cold CLI search (a part of earlier results, whose tables ``--replot`` still draws) was later measured
by the retired ``search_cold.py`` (bench/README.md).

``single-query`` -> ``bench/results/kernel_single_query/<out-name>.{json,md,png}``: for each size and
family — ``pq4`` (our exact fast scan vs FAISS ``IndexPQFastScan``), ``pq8`` (our exact fast scan vs
FAISS ``IndexPQ``, and our previous kernel, ``avx512-generic``, as a third arm), ``hamming`` (ours
vs FAISS ``IndexBinaryFlat``, heap and counting top-k) — every batch size ``b`` answers the same
``--queries`` queries in calls of ``b`` queries. Both sides start from the raw query (our side builds
its ADC tables inside the timed call, as FAISS does). The arms are interleaved (ours first in even
repetitions, FAISS first in odd ones); the best wall time of each arm is kept, with the sample std
of the repetitions. For each further count in ``--threads`` our kernels run again with one scan
split over that many threads (``native.set_scan_threads``), beside FAISS given as many OpenMP
threads (one query per call only). The memory limit is measured in the same run on a buffer of the
codes' size (same cache level: ~8 MB at 1M sits in L3, 80 MB at 10M comes from DRAM): the best
single-thread read bandwidth of numpy's ``count_nonzero`` and ``sum`` (uint64) over it;
``limit ns/code = 8 bytes / bandwidth``, ``share of limit = limit / measured`` (a numpy read is a
lower bound of the true limit, so a share can exceed 1); the same read split over the thread
counts gives the limit of a split scan.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from distilhash.benchmark.index_ops import ivf_open_times
from distilhash.benchmark.kernel_timing import (BatchCalls, arm_figures, best_of, faiss_binary_flat, faiss_pq, interleaved, ns_per_code,
                                                read_bandwidth, single_thread, stamped_log, synthetic_pq, with_threads)
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.questions import question_argv
from distilhash.benchmark.results import publish
from distilhash.benchmark.scan_report import (K_TOP, fastscan_markdown, fastscan_plot, single_query_markdown,
                                               single_query_plot)

ROOT = Path(__file__).resolve().parents[1]
#: the result folders (benchmark names) this script writes, one per sub-command (read by tests/test_bench_results.py)
BENCHMARKS = ("pq_fastscan", "kernel_single_query")
QUESTIONS = dict(zip(("parts", "single-query"), BENCHMARKS))
CODE_BYTES = 8
#: per code width, the kernels a family also times beside the chosen one: the 8-bit AVX-512 loop
#: over a run-time M (the kernel before issue #26 unrolled M = 4, 8, 16), for the before/after figure
OLD_KERNELS = {8: ("avx512-generic",)}


def exact_topk(tables: np.ndarray, codes: np.ndarray, nq: int):
    from distilhash.index.pq import adc_distances
    from distilhash.index.topk import topk_float

    rows = np.arange(codes.shape[0])
    return [topk_float(adc_distances(tables[i], codes, "l2"), rows, K_TOP) for i in range(nq)]


def fastscan_pq(bits: int, n: int, args, rng, log) -> dict:
    from distilhash.index import native
    from distilhash.index.fastscan import FastScanCodes, choose_impl, supported_impls
    from distilhash.index.pq import lookup_tables

    nq = args.queries
    data = synthetic_pq(n, nq, rng, bits)
    cb, codes, q = data.codebooks, data.codes, data.queries
    m, kk, dsub = cb.shape
    tables = lookup_tables(q, cb, "l2")
    out: dict = {"bits": bits, "M": m, "K": kk, "d_sub": dsub, "n": n, "queries": nq, "k": K_TOP, "load_before": load_average()}
    fs = FastScanCodes(m, bits)
    fs.add(codes)
    ref = exact_topk(tables, codes, args.check)
    rows: dict[str, dict] = {}
    for impl in supported_impls(bits):
        nqi = nq if impl != "scalar" else max(1, nq // 8)
        wall, cpu, res = best_of(lambda: fs.knn(tables[:nqi], K_TOP, False, None, impl), args.repeat)
        d, r, cnt, cand = res
        ok = all(np.array_equal(r[i, : cnt[i]], ref[i][1]) and np.array_equal(d[i, : cnt[i]], ref[i][0]) for i in range(min(nqi, args.check)))
        rows[f"ours fast-scan {impl}"] = {"ns_per_code": ns_per_code(wall, nqi, n), "cpu_ns_per_code": ns_per_code(cpu, nqi, n),
                                          "queries": nqi, "identical_to_exact": ok, "mean_shortlist": float(cand.mean())}
        log(f"pq{bits} n={n:,} fast-scan {impl}: {rows[f'ours fast-scan {impl}']['ns_per_code']:.3f} ns/code, exact={ok}")
    out["default_kernel"] = choose_impl(bits, "auto")
    if n <= args.float_max_n:
        nqf = max(1, nq // 4)
        wall, cpu, res = best_of(lambda: native.pq_adc_knn(codes, tables[:nqf], K_TOP, False), args.repeat)
        d, r, cnt = res
        ok = all(np.array_equal(r[i, : cnt[i]], ref[i][1]) for i in range(min(nqf, args.check)))
        rows["ours float kernel (previous)"] = {"ns_per_code": ns_per_code(wall, nqf, n), "cpu_ns_per_code": ns_per_code(cpu, nqf, n),
                                                "queries": nqf, "identical_to_exact": ok}
        log(f"pq{bits} n={n:,} float kernel: {rows['ours float kernel (previous)']['ns_per_code']:.3f} ns/code")
    fidx, label = faiss_pq(cb, codes, fast_scan=bits == 4)
    wall, cpu, (fd, fr) = best_of(lambda: fidx.search(q, K_TOP), args.repeat)
    overlap = float(np.mean([len(set(fr[i].tolist()) & set(ref[i][1].tolist())) / K_TOP for i in range(args.check)]))
    rows[label] = {"ns_per_code": ns_per_code(wall, nq, n), "cpu_ns_per_code": ns_per_code(cpu, nq, n), "queries": nq,
                   "identical_to_exact": bool(all(np.array_equal(fr[i], ref[i][1]) for i in range(args.check))),
                   "overlap_at_10_with_exact": overlap}
    log(f"pq{bits} n={n:,} {label}: {rows[label]['ns_per_code']:.3f} ns/code, overlap@10 {overlap:.3f}")
    del fidx
    out["rows"] = rows
    out["load_after"] = load_average()
    return out


def fastscan_binary(n: int, args, rng, log) -> dict:
    from distilhash.index import native

    nq = args.queries
    db = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    q = rng.integers(0, 256, (nq, 8), dtype=np.uint8)
    out: dict = {"n": n, "queries": nq, "k": K_TOP, "codes": "uniform random 64-bit", "load_before": load_average()}
    wall, cpu, (d, r, cnt) = best_of(lambda: native.hamming_knn(db.view(np.uint64), q.view(np.uint64), K_TOP), args.repeat)
    out["ours_qps"], out["ours_cpu_qps"] = nq / wall, nq / cpu
    for name, heap in (("faiss_heap", True), ("faiss_counting", False)):
        idx = faiss_binary_flat(db, heap)
        w, c, (fd, fr) = best_of(lambda: idx.search(q, K_TOP), args.repeat)
        out[f"{name}_qps"], out[f"{name}_cpu_qps"] = nq / w, nq / c
        out[f"{name}_same_distances"] = bool(np.array_equal(np.sort(fd, 1), d))
        del idx
    out["ratio_vs_heap"] = out["ours_qps"] / out["faiss_heap_qps"]
    out["ratio_vs_counting"] = out["ours_qps"] / out["faiss_counting_qps"]
    out["load_after"] = load_average()
    log(f"binary n={n:,}: ours {out['ours_qps']:.0f} QPS, {out['ratio_vs_heap']:.2f}x heap, {out['ratio_vs_counting']:.2f}x counting")
    return out


def pq_arms(bits: int, n: int, nq: int, rng):
    """Our fast scan (the chosen kernel, and the old one where it differs) and FAISS on the same random PQ data."""
    from distilhash.index.fastscan import FastScanCodes, choose_impl, supported_impls
    from distilhash.index.pq import lookup_tables

    data = synthetic_pq(n, nq, rng, bits)
    fs = FastScanCodes(data.m, bits)
    fs.add(data.codes)
    impl = choose_impl(bits, "auto")
    fidx, label = faiss_pq(data.codebooks, data.codes, fast_scan=bits == 4)

    def ours(kernel):
        return lambda q: fs.knn(lookup_tables(q, data.codebooks, "l2"), K_TOP, False, None, kernel)

    arms = {f"ours ({impl})": ours(impl), label: lambda q: fidx.search(q, K_TOP)}
    for kernel in OLD_KERNELS.get(bits, ()):
        if kernel in supported_impls(bits) and kernel != impl:
            arms[f"ours, old kernel ({kernel})"] = ours(kernel)
    return arms, data.queries


def hamming_arms(n: int, nq: int, rng):
    """Our native Hamming scan and FAISS's flat binary index (heap and counting top-k) on random 64-bit codes."""
    from distilhash.index import native

    db = rng.integers(0, 256, (n, CODE_BYTES), dtype=np.uint8)
    words = db.view(np.uint64)
    arms = {"ours (native)": lambda q: native.hamming_knn(words, np.ascontiguousarray(q).view(np.uint64), K_TOP)}
    for name, heap in (("FAISS IndexBinaryFlat heap", True), ("FAISS IndexBinaryFlat counting", False)):
        arms[name] = (lambda ix: (lambda q: ix.search(q, K_TOP)))(faiss_binary_flat(db, heap))
    return arms, rng.integers(0, 256, (nq, CODE_BYTES), dtype=np.uint8)


def single_query_size(n: int, args, rng, log) -> dict:
    out = {"n": n, "load_before": load_average(), "bandwidth": read_bandwidth(n * CODE_BYTES, args.repeat, args.threads),
           "families": {}}
    limit_ns = CODE_BYTES / out["bandwidth"]["best_gb_per_s"]
    out["limit_ns_per_code"] = limit_ns
    split_ns = {t: CODE_BYTES / g for t, g in out["bandwidth"]["split_gb_per_s"].items()}
    out["split_limit_ns_per_code"] = split_ns
    log(f"n={n:,}: read bandwidth {out['bandwidth']['best_gb_per_s']:.1f} GB/s -> limit {limit_ns:.3f} ns/code; split "
        + ", ".join(f"{t} threads {CODE_BYTES / v:.1f} GB/s" for t, v in split_ns.items()))
    for family in args.families:
        arms, queries = pq_arms(4 if family == "pq4" else 8, n, args.queries, rng) if family != "hamming" \
            else hamming_arms(n, args.queries, rng)
        rows = {}
        for batch in args.batches:
            cell = with_threads(arms, args.threads) if batch == 1 else \
                {**arms, **{k: v for k, v in with_threads(arms, args.threads).items() if k.startswith("ours")}}
            calls = {name: BatchCalls(fn, queries, batch) for name, fn in cell.items()}
            times = interleaved(calls, args.repeat)
            rows[str(batch)] = {name: {**arm_figures(ts, len(queries), n, limit_ns, split_ns),
                                       "best_call_ns_per_code": 1e9 * calls[name].best_call / n}
                                for name, ts in times.items()}
            ours = next(k for k in times if k.startswith("ours"))
            log(f"n={n:,} {family} batch {batch}: " + ", ".join(f"{k} {v['ns_per_code']:.3f} ns/code ({v['share_of_limit']:.0%})"
                                                              for k, v in rows[str(batch)].items()) + f"  [ours: {ours}]")
        out["families"][family] = rows
        del arms
    out["load_after"] = load_average()
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="question")
    parts, single = sub.add_parser("parts", help="pq4 / pq8 / binary / IVF open (pq_fastscan/)"), \
        sub.add_parser("single-query", help="one query per call and batches vs the memory limit (kernel_single_query/)")
    for q, sp in (("parts", parts), ("single-query", single)):
        sp.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
        sp.add_argument("--repeat", type=int, default=3)
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--out-name", default=QUESTIONS[q], help=f"result name under bench/results/{QUESTIONS[q]}/")
        sp.add_argument("--replot", action="store_true", help="only rebuild the .md and .png from the stored .json")
    parts.add_argument("--queries", type=int, default=64)
    parts.add_argument("--check", type=int, default=3, help="queries checked against the numpy float ADC reference")
    parts.add_argument("--float-max-n", type=int, default=1_000_000, help="largest n the previous float kernel is timed at")
    parts.add_argument("--ivf-n", type=int, default=1_000_000)
    parts.add_argument("--parts", nargs="+", default=["pq4", "pq8", "binary", "ivf"], choices=["pq4", "pq8", "binary", "ivf"])
    single.add_argument("--queries", type=int, default=256)
    single.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    single.add_argument("--families", nargs="+", default=["pq4", "pq8", "hamming"], choices=["pq4", "pq8", "hamming"])
    single.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts per scan (1 always runs)")
    single.add_argument("--machine-note", default="Shared 2-core machine", help="how the machine was during the run")
    return p


def parts_result(args, rng, log) -> dict:
    """Every ``--parts`` part at every size, with the run's metadata."""
    from distilhash.benchmark.provenance import peak_rss_mib
    from distilhash.index.fastscan import supported_impls

    res: dict = {"meta": {"repeat": args.repeat, "cpu_kernels": {4: supported_impls(4), 8: supported_impls(8)},
                          "timing": "best wall-clock repetition; CPU (process) time of that repetition alongside"}}
    with tempfile.TemporaryDirectory(prefix="pq_fastscan_", dir=os.environ.get("DISTILHASH_HOME")) as tmpdir:
        for part in ("pq4", "pq8"):
            if part in args.parts:
                res[part] = [fastscan_pq(int(part[2]), n, args, rng, log) for n in args.sizes]
        if "binary" in args.parts:
            res["binary"] = [fastscan_binary(n, args, rng, log) for n in args.sizes]
        if "ivf" in args.parts:
            res["ivf"] = ivf_open_times(Path(tmpdir) / "ivf-index", args.ivf_n, rng, args.repeat, K_TOP, log)
    res["meta"]["peak_rss_mib"] = peak_rss_mib()
    return res


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(question_argv(sys.argv[1:] if argv is None else argv, QUESTIONS, "parts"))
    bench, parts = QUESTIONS[args.question], args.question == "parts"
    tables = (fastscan_markdown, fastscan_plot) if parts else (single_query_markdown, single_query_plot)
    if args.replot:
        publish(bench, args.out_name, *tables, root=ROOT, echo=False)
        return
    single_thread()
    rng = np.random.default_rng(args.seed)
    what = "synthetic codes and a synthetic ITQ index" if parts else "synthetic codes"
    prov = collect_provenance(bench, args.out_name, seeds=[args.seed], root=ROOT, model_selection=f"none: {what}, nothing is selected")
    if parts:
        res = {"provenance": prov, **parts_result(args, rng, stamped_log)}
    else:
        args.threads = sorted(set(args.threads) | {1})
        res = {"provenance": prov, "queries": args.queries, "repeat": args.repeat, "k": K_TOP, "batches": args.batches,
               "threads": args.threads, "machine_note": args.machine_note,
               "sizes": [single_query_size(n, args, rng, stamped_log) for n in args.sizes]}
    publish(bench, args.out_name, *tables, result=res, root=ROOT, echo=parts)


if __name__ == "__main__":
    main()
