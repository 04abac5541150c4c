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
from distilhash.benchmark.kernel_timing import single_thread, stamped_log
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.questions import question_argv
from distilhash.benchmark.results import publish
from distilhash.benchmark.scan_report import K_TOP, fastscan_markdown, fastscan_plot, single_query_markdown, single_query_plot
from distilhash.benchmark.scan_speed import fastscan_binary, fastscan_pq, single_query_size

ROOT = Path(__file__).resolve().parents[1]
#: the result folders (benchmark names) this script writes, one per sub-command (read by tests/test_bench_results.py)
BENCHMARKS = ("pq_fastscan", "kernel_single_query")
QUESTIONS = dict(zip(("parts", "single-query"), BENCHMARKS))


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
                res[part] = [fastscan_pq(int(part[2]), n, rng, log, queries=args.queries, repeat=args.repeat, check=args.check,
                                         float_max_n=args.float_max_n) for n in args.sizes]
        if "binary" in args.parts:
            res["binary"] = [fastscan_binary(n, rng, log, queries=args.queries, repeat=args.repeat) for n in args.sizes]
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
               "sizes": [single_query_size(n, rng, stamped_log, families=args.families, queries=args.queries, batches=args.batches,
                                           threads=args.threads, repeat=args.repeat) for n in args.sizes]}
    publish(bench, args.out_name, *tables, result=res, root=ROOT, echo=parts)


if __name__ == "__main__":
    main()
