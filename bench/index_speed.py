"""Index speed: exact Hamming search, sublinear MIH, PQ ADC, bytes per item, build/add throughput.

    .venv/bin/python bench/index_speed.py                      # 1M and 10M items (about 15 min)
    .venv/bin/python bench/index_speed.py --sizes 100000 --queries 50 --out-name index_speed_smoke

Single thread (``faiss.omp_set_num_threads(1)``), 64-bit codes, k = 10 and 100. Code sources:

* ``structured``: noisy copies of centres — the codes of a trained model's database items
  (``--model-codes FILE.npz`` from ``distilhash encode``) when given, otherwise 20,000 random
  centres; every bit of a copy is flipped with probability ``--flip`` (default 0.05);
  queries are fresh noisy copies of the centres (not in the database).
* ``uniform``: independent fair bits, queries too.

Measured in the same run on the same codes:

* exact Hamming top-k QPS: ours (``CodeIndex.search_rows`` with the ``native`` searcher: our
  C scan, see distilhash.index.native, plus the index's tombstone bookkeeping; and the full
  ``CodeIndex.search`` returning ids + metadata from SQLite) vs FAISS ``IndexBinaryFlat`` with
  default settings (heap top-k) and with ``use_heap=False`` (counting top-k) vs the numpy
  reference; results checked identical;
* sublinear exact search: ours ``mih`` (multi-index hashing, probing loop in C) vs the
  brute-force scans (FAISS IndexBinaryFlat and our native flat scan), k=10 and 100, results
  checked identical;
* PQ ADC, M=8, K=256 (d=8 per sub-space, random codebooks, l2): ns per code, ours (``native``
  C scan; and the FAISS-backed searcher: IndexPQ + re-scoring) vs FAISS ``IndexPQ`` alone vs
  numpy;
* bytes per item on disk (all index files) and in memory (searcher structures);
* build (bulk add into a new index: codes + ids + SQLite metadata, fsynced) and incremental add
  throughput (logged, fsynced appends of 1 and 100 items).

Writes ``bench/results/index_speed/<out-name>.{json,md,png}``. The machine is shared with other
engineers (2 cores): load averages before/after are in the provenance block.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.index_ops import durable_add_rates
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import publish
from distilhash.benchmark.scan_report import index_speed_markdown, index_speed_plot
from distilhash.benchmark.scan_speed import bench_binary, bench_codes, bench_pq

ROOT = Path(__file__).resolve().parents[1]
BENCH = "index_speed"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--sources", nargs="+", default=["structured", "uniform"])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--numpy-queries", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--flip", type=float, default=0.05)
    ap.add_argument("--centres", type=int, default=20_000)
    ap.add_argument("--model-codes", type=Path, default=None)
    ap.add_argument("--tmp", type=Path, default=None, help="Scratch directory for the indexes (default: system temp).")
    ap.add_argument("--out-name", default=BENCH, help="result name under bench/results/index_speed/")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report-only", action="store_true", help="Rewrite the .md and .png from the existing .json.")
    args = ap.parse_args(argv)
    if args.report_only:
        publish(BENCH, args.out_name, index_speed_markdown, index_speed_plot, root=ROOT)
        return

    import faiss
    from tqdm import tqdm

    faiss.omp_set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    result: dict = {
        "provenance": collect_provenance(BENCH, args.out_name, seeds=[args.seed], root=ROOT,
                                         model_selection="none: synthetic or stored codes, nothing is fitted"),
        "threads": 1,
        "faiss_version": faiss.__version__,
        "machine_note": "shared machine (2 cores, other engineers running jobs); single-threaded timings",
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "binary": [],
        "pq": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="index_speed_", dir=args.tmp))
    jobs = [("binary", s, n) for n in args.sizes for s in args.sources] + [("pq", None, n) for n in args.sizes] + [("add", None, None)]
    bar = tqdm(jobs, desc="index_speed")
    try:
        for kind, source, n in bar:
            bar.set_postfix_str(f"{kind} {source or ''} {n or ''}")
            if kind == "binary":
                codes = bench_codes(source, n, args.queries, rng, centres=args.centres, flip=args.flip, model_codes=args.model_codes)
                result["binary"].append(bench_binary(source, codes, tmp, bar.write, repeat=args.repeat, numpy_queries=args.numpy_queries))
            elif kind == "pq":
                result["pq"].append(bench_pq(n, rng, bar.write, queries=args.queries, repeat=args.repeat, numpy_queries=args.numpy_queries))
            else:
                result["add"] = durable_add_rates(tmp / "add", min(args.sizes), rng, bar.write)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["wall_seconds"] = time.time() - t0
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    publish(BENCH, args.out_name, index_speed_markdown, index_speed_plot, result=result, root=ROOT)


if __name__ == "__main__":
    main()
