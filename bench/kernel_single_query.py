"""Scan kernels one query per call and in batches, interleaved with FAISS, against the measured memory limit.

    python bench/kernel_single_query.py [--sizes 1000000 10000000] [--batches 1 16 256] [--queries 256] [--repeat 3]
        [--threads 1 2]

For each database size ``n`` (uniform random 64-bit codes, single thread, k = 10) and each
family — ``pq4`` (M = 16, K = 16: our exact fast scan vs FAISS ``IndexPQFastScan``), ``pq8``
(M = 8, K = 256: our exact fast scan vs FAISS ``IndexPQ``, and our previous kernel,
``avx512-generic``, as a third arm), ``hamming`` (our exact scan vs FAISS
``IndexBinaryFlat``, heap and counting top-k) — every batch size ``b`` answers the same
``--queries`` queries in calls of ``b`` queries. Both sides start from the raw query (float
vectors for PQ: our side builds its ADC tables inside the timed call, as FAISS does; packed bits
for Hamming). The arms are interleaved: repetition ``r`` times ours then FAISS when ``r`` is even,
FAISS then ours when odd; the best wall time of each arm over ``--repeat`` repetitions is kept
(with the sample std of the repetitions).

Threads: every arm runs on one thread, and for each further count in ``--threads`` our kernels
run again with one scan split over that many threads (``native.set_scan_threads``), beside FAISS
given the same number of OpenMP threads (one query per call only, where the question is).

The memory limit is measured in the same run on a buffer of the codes' size (so at the same cache
level: ~8 MB at 1M sits in L3, 80 MB at 10M comes from DRAM): the best single-thread read
bandwidth of numpy's ``count_nonzero`` and ``sum`` (uint64) over it. ``limit ns/code = 8 bytes / bandwidth``;
``share of limit = limit ns/code / measured ns/code`` (1.0 = the scan reads codes as fast as one
thread can read memory; a numpy read is a lower bound of the true limit, so a share can exceed 1).
The same read split over the thread counts of ``--threads`` (numpy releases the interpreter lock in
the sum) gives the limit of a split scan, reported beside it.
Writes ``bench/results/kernel_single_query/<out-name>.{json,md,png}``; the machine is shared (loads
recorded per size and in the provenance).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.kernel_timing import (BatchCalls, arm_figures, faiss_binary_flat, faiss_pq, interleaved, read_bandwidth,
                                                single_thread, stamped_log, synthetic_pq, with_threads)
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "kernel_single_query"
K_TOP = 10
CODE_BYTES = 8
#: per code width, the kernels a family also times beside the chosen one: the 8-bit AVX-512 loop
#: over a run-time M (the kernel before issue #26 unrolled M = 4, 8, 16), for the before/after figure
OLD_KERNELS = {8: ("avx512-generic",)}


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


def bench_size(n: int, args, rng, log) -> dict:
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


def markdown(res: dict) -> str:
    lines = ["# Scan kernels: one query per call and batches, interleaved with FAISS, against the memory limit", "",
             "The share of the limit means something for one query per call only: a batch reads each code once for all "
             "its queries, so batched shares above 100% say the scan is compute-bound, not that it beats memory. The limit "
             "is a numpy read; where a kernel passes 100% one query at a time, that read understates the machine's.", "",
             f"k={K_TOP}, uniform random 64-bit codes, {res['queries']} queries per cell answered in calls of the "
             f"batch size; both sides start from the raw query (table construction inside the timed call); arms interleaved, "
             f"best of {res['repeat']} (± sample std of the repetitions). Memory limit: the best single-thread numpy read over a "
             "buffer of the codes' size in the same run (the one-query limit); an arm with `, T threads` splits each scan over T "
             "threads (ours: `native.set_scan_threads`; FAISS: its OpenMP threads), and its share of the T-thread split read is "
             "given too. CPU ns/code: the least CPU time of the whole process per code over the repetitions (all threads, "
             "OpenMP spinning included; n/a in runs before it was recorded). Fastest call: the least wall time of one call "
             "per query and code over every call of the cell (warm-up included), with its share of the one-thread limit: on a "
             "loaded machine, where most repetitions lose the core, the figure closest to a quiet one (n/a in older runs). An arm `ours, old kernel (...)` is our "
             "previous kernel for that family timed in the same cells (before/after; absent in runs before it was added). "
             f"**{res.get('machine_note', 'Shared 2-core machine')}** (loads per size): on a loaded machine the "
             "figures are upper bounds of a quiet machine's.", ""]
    for s in res["sizes"]:
        bw = s["bandwidth"]
        split = "".join(f", {t} threads {g:.1f} GB/s" for t, g in bw.get("split_gb_per_s", {}).items())
        lines += [f"## n = {s['n']:,} (read bandwidth {bw['best_gb_per_s']:.1f} GB/s{split} -> limit {s['limit_ns_per_code']:.3f} ns/code; "
                  f"load {s['load_before'][0]:.1f}→{s['load_after'][0]:.1f})", "",
                  "| family | batch | arm | ns/code | CPU ns/code | fastest call ns/code (share) | QPS | share of the one-thread limit | share of the T-thread limit |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for family, rows in s["families"].items():
            for batch, arms in rows.items():
                for name, v in arms.items():
                    t = name.rsplit(", ", 1)[1].split()[0] if name.endswith(" threads") else None
                    split = f"{v['share_of_split_limit'][t]:.0%}" if t in v.get("share_of_split_limit", {}) else ""
                    cpu = f"{v['cpu_ns_per_code']:.3f}" if "cpu_ns_per_code" in v else "n/a"
                    fast = (f"{v['best_call_ns_per_code']:.3f} ({s['limit_ns_per_code'] / v['best_call_ns_per_code']:.0%})"
                            if "best_call_ns_per_code" in v else "n/a")
                    lines.append(f"| {family} | {batch} | {name} | {v['ns_per_code']:.3f} ± {v.get('ns_per_code_std', 0):.3f} | {cpu} | {fast} | "
                                 f"{v['qps']:,.0f} | {v['share_of_limit']:.0%} | {split} |")
        lines.append("")
    return "\n".join(lines)


def plot(path: Path, res: dict) -> None:
    """One panel per size: ns/code of every arm at one query per call, and the memory limits."""
    sizes = res["sizes"]
    with figure(path, 1, len(sizes), figsize=(7 * len(sizes), 4.8), squeeze=False, dpi=110) as (fig, axes):
        for ax, s in zip(axes[0], sizes):
            labels, vals, errs = [], [], []
            for family, rows in s["families"].items():
                for name, v in rows.get("1", {}).items():
                    labels.append(f"{family}: {name}")
                    vals.append(v["ns_per_code"])
                    errs.append(v.get("ns_per_code_std", 0.0))
            y = np.arange(len(labels))
            ax.barh(y, vals, xerr=errs, color=[_color(lb) for lb in labels])
            ax.axvline(s["limit_ns_per_code"], color="tab:red", ls="--", label="one-thread read limit")
            for t, v in s.get("split_limit_ns_per_code", {}).items():
                ax.axvline(v, color="tab:orange", ls=":", label=f"{t}-thread read limit")
            ax.set_yticks(y, labels, fontsize=7)
            ax.invert_yaxis()
            ax.set_xscale("log")
            ax.set_xlabel("ns per code (one query per call; lower is better)")
            ax.set_title(f"n = {s['n']:,} (load {s['load_before'][0]:.1f}->{s['load_after'][0]:.1f})")
            ax.legend(fontsize=7)


def _color(label: str) -> str:
    return "tab:cyan" if "old kernel" in label else ("tab:blue" if ": ours" in label else "tab:gray")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 16, 256])
    p.add_argument("--families", nargs="+", default=["pq4", "pq8", "hamming"], choices=["pq4", "pq8", "hamming"])
    p.add_argument("--queries", type=int, default=256)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts per scan (1 always runs)")
    p.add_argument("--machine-note", default="Shared 2-core machine", help="how the machine was during the run")
    p.add_argument("--replot", action="store_true", help="only rebuild the .md and .png from the stored .json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-name", default=BENCH)
    args = p.parse_args(argv)
    if args.replot:
        from distilhash.benchmark.results import read_results, redraw_results

        res = read_results(BENCH, args.out_name, root=ROOT)
        redraw_results(BENCH, args.out_name, res, markdown(res), lambda path: plot(path, res), root=ROOT)
        return
    args.threads = sorted(set(args.threads) | {1})
    single_thread()
    rng = np.random.default_rng(args.seed)
    log = stamped_log
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], root=ROOT,
                              model_selection="none: synthetic codes, nothing is selected")
    res = {"provenance": prov, "queries": args.queries, "repeat": args.repeat, "k": K_TOP, "batches": args.batches,
           "threads": args.threads, "machine_note": args.machine_note,
           "sizes": [bench_size(n, args, rng, log) for n in args.sizes]}
    write_results(BENCH, args.out_name, res, markdown(res), lambda path: plot(path, res), root=ROOT)


if __name__ == "__main__":
    main()
