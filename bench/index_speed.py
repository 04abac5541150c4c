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
from distilhash.benchmark.kernel_timing import best_of, faiss_binary_flat, faiss_pq, faiss_rows, synthetic_pq
from distilhash.benchmark.kernel_timing import same_results as same
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import publish
from distilhash.benchmark.scan_report import index_speed_markdown, index_speed_plot

ROOT = Path(__file__).resolve().parents[1]
BENCH = "index_speed"


def make_codes(source: str, n: int, nq: int, args, rng: np.random.Generator):
    from distilhash.index.synth import replicate_with_noise, uniform_codes

    if source == "uniform":
        return uniform_codes(n, 64, rng), uniform_codes(nq, 64, rng), {"kind": "uniform random bits"}
    if args.model_codes:
        from distilhash.codes_file import load_encoded

        enc, info = load_encoded(args.model_codes)
        first = enc.get("image") or next(iter(enc.values()))
        if first.kind != "binary" or first.n_bits != 64:
            raise SystemExit(f"{args.model_codes}: need 64-bit binary codes, got {first.kind} {first.n_bits}")
        centres = first.data
        desc = {"kind": f"trained-model codes ({args.model_codes}, {len(centres)} items) replicated with bit-flip noise"}
    else:
        centres = uniform_codes(args.centres, 64, rng)
        desc = {"kind": f"{args.centres} random centres replicated with bit-flip noise"}
    desc["flip"] = args.flip
    db, _ = replicate_with_noise(centres, n, args.flip, rng)
    q, _ = replicate_with_noise(centres, nq, args.flip, rng)
    return db, q, desc


def bench_binary(source: str, n: int, args, rng, tmp: Path, log) -> dict:
    from distilhash.codes import Encoded
    from distilhash.index import IndexOptions, create_index, open_index

    nq = args.queries
    db, q, desc = make_codes(source, n, nq, args, rng)
    out: dict = {"source": source, "n": n, "codes": desc, "queries": nq}
    ids = [f"i{i:08d}" for i in range(n)]
    path = tmp / f"bin-{source}-{n}"
    # build: one bulk add (snapshot files + SQLite ids/metadata, fsynced)
    t = time.perf_counter()
    idx = create_index(path, kind="binary", n_bits=64, options=IndexOptions(bulk_threshold=1))
    idx.add(ids, Encoded("binary", db, 64))
    idx.close()
    out["build_seconds"] = time.perf_counter() - t
    out["build_items_per_s"] = n / out["build_seconds"]
    t = time.perf_counter()
    idx = open_index(path, options=IndexOptions(backend="native"))
    out["open_seconds_with_sha256"] = time.perf_counter() - t
    info = idx.info()
    out["disk_bytes_per_item"] = info["disk_bytes_per_item"]
    out["disk_files"] = info["files"]
    log(f"[{source} n={n:,}] built in {out['build_seconds']:.1f}s, opened in {out['open_seconds_with_sha256']:.1f}s")

    ref = faiss_binary_flat(db)  # FAISS with its default settings (heap top-k)
    ref_mc = faiss_binary_flat(db, heap=False)  # FAISS with its counting top-k
    flat = idx.searcher()
    out["ours_flat_searcher"] = flat.name
    out["memory_bytes_per_item"] = {"flat": flat.nbytes() / n}
    nq_np = min(nq, args.numpy_queries)
    from distilhash.index.binary import NumpyBinarySearcher
    from distilhash.index.topk import NO_TOMBSTONES

    npy = NumpyBinarySearcher(8)
    npy.add(db)
    for k in (10, 100):
        row: dict = {}
        t_f = best_of(lambda: ref.search(q, k), args.repeat)
        fd, fr = t_f.result
        row["faiss_IndexBinaryFlat_qps"] = nq / t_f.wall
        t_mc = best_of(lambda: ref_mc.search(q, k), args.repeat)
        md, mr = t_mc.result
        row["faiss_IndexBinaryFlat_counting_qps"] = nq / t_mc.wall
        t_o = best_of(lambda: idx.search_rows(q, k), args.repeat)
        ours = t_o.result
        row["ours_flat_qps"] = nq / t_o.wall
        row["ours_flat_with_ids_metadata_qps"] = nq / best_of(lambda: idx.search(q, k)).wall
        t_n = best_of(lambda: npy.search(q[:nq_np], k, NO_TOMBSTONES))
        np_res = t_n.result
        row["numpy_qps"] = nq_np / t_n.wall
        row["cpu_qps"] = {"ours": nq / t_o.cpu, "faiss": nq / t_f.cpu, "faiss_counting": nq / t_mc.cpu, "numpy": nq_np / t_n.cpu}
        row["identical_ours_vs_faiss"] = same(ours, faiss_rows(fd, fr)) and same(ours, faiss_rows(md, mr))
        row["identical_ours_vs_numpy"] = same(ours[:nq_np], np_res)
        row["ratio_ours_vs_faiss"] = row["ours_flat_qps"] / row["faiss_IndexBinaryFlat_qps"]
        row["ratio_ours_vs_faiss_counting"] = row["ours_flat_qps"] / row["faiss_IndexBinaryFlat_counting_qps"]
        row["kth_distance_median"] = float(np.median([d[-1] for d, _ in ours]))
        out[f"flat_k{k}"] = row
        log(f"[{source} n={n:,} k={k}] flat QPS ours {row['ours_flat_qps']:.1f} (with ids+meta {row['ours_flat_with_ids_metadata_qps']:.1f}) "
            f"faiss {row['faiss_IndexBinaryFlat_qps']:.1f} faiss-counting {row['faiss_IndexBinaryFlat_counting_qps']:.1f} "
            f"numpy {row['numpy_qps']:.1f} identical={row['identical_ours_vs_faiss']}/{row['identical_ours_vs_numpy']} "
            f"kth-dist {row['kth_distance_median']}")
    del npy, ref_mc
    idx.close()
    # sublinear: multi-index hashing over the same index
    idx = open_index(path, verify_checksums=False, options=IndexOptions(backend="mih"))
    t = time.perf_counter()
    mih = idx.searcher()
    mih.build()
    out["mih_build_seconds"] = time.perf_counter() - t
    out["mih_fields"] = mih.fields
    out["memory_bytes_per_item"]["mih (incl. flat store)"] = mih.nbytes() / n
    for k in (10, 100):
        mih.stats.update(queries=0, fallbacks=0, direct=0, candidates=0)
        mih._skip, mih._skip_len, mih._streak = 0, 16, 0
        t_m, _, res = best_of(lambda: idx.search_rows(q, k), args.repeat)
        brute = out[f"flat_k{k}"]["faiss_IndexBinaryFlat_qps"]
        brute_ours = out[f"flat_k{k}"]["ours_flat_qps"]
        fd, fr = ref.search(q, k)
        asked = max(1, mih.stats["queries"] + mih.stats["direct"])
        row = {
            "mih_qps": nq / t_m,
            "bruteforce_faiss_qps": brute,
            "bruteforce_ours_qps": brute_ours,
            "speedup_vs_bruteforce": (nq / t_m) / brute,
            "speedup_vs_our_bruteforce": (nq / t_m) / brute_ours,
            "identical_to_bruteforce": same(res, faiss_rows(fd, fr)),
            "fallback_fraction": (mih.stats["fallbacks"] + mih.stats["direct"]) / asked,
            "mean_candidates": mih.stats["candidates"] / max(1, mih.stats["queries"]),
        }
        out[f"mih_k{k}"] = row
        log(f"[{source} n={n:,} k={k}] MIH QPS {row['mih_qps']:.1f} speed-up {row['speedup_vs_bruteforce']:.1f}x "
            f"(vs our flat {row['speedup_vs_our_bruteforce']:.1f}x) "
            f"identical={row['identical_to_bruteforce']} fallbacks={row['fallback_fraction']:.2f} cand={row['mean_candidates']:.0f}")
    idx.close()
    del ref
    shutil.rmtree(path)
    return out


def bench_pq(n: int, args, rng, log) -> dict:
    from distilhash.index.pq import FaissPQSearcher, NativePQSearcher, NumpyPQSearcher
    from distilhash.index.topk import NO_TOMBSTONES

    nq = args.queries
    data = synthetic_pq(n, nq, rng, bits=8)
    cb, codes, q = data.codebooks, data.codes, data.queries
    m, k_cw, d = cb.shape
    ref, _ = faiss_pq(cb, codes)
    ours = NativePQSearcher(cb, "l2")
    ours.add(codes)
    ours_faiss = FaissPQSearcher(cb, "l2")
    ours_faiss.add(codes)
    out: dict = {"n": n, "M": m, "K": k_cw, "d": d, "metric": "l2", "queries": nq, "ours": "native"}
    for k in (10, 100):
        t_f = best_of(lambda: ref.search(q, k), args.repeat)
        t_o = best_of(lambda: ours.search(q, k, NO_TOMBSTONES), args.repeat)
        t_of = best_of(lambda: ours_faiss.search(q, k, NO_TOMBSTONES), args.repeat)
        res, fr = t_o.result, t_f.result[1]
        per = 1e9 / (nq * n)
        row = {"faiss_IndexPQ_ns_per_code": t_f.wall * per, "ours_ns_per_code": t_o.wall * per,
               "ours_faiss_backed_ns_per_code": t_of.wall * per,
               "cpu_ns_per_code": {"ours": t_o.cpu * per, "faiss": t_f.cpu * per, "ours_faiss_backed": t_of.cpu * per},
               "identical_ours_vs_ours_faiss_backed": same(res, t_of.result),
               "same_ids_as_faiss_IndexPQ": float(np.mean([np.array_equal(r, fr[i][: r.size]) for i, (_, r) in enumerate(res)]))}
        if n <= 2_000_000:
            npy = NumpyPQSearcher(cb, "l2")
            npy.add(codes)
            nn = min(nq, args.numpy_queries)
            t_n, _, res_n = best_of(lambda: npy.search(q[:nn], k, NO_TOMBSTONES))
            row["numpy_ns_per_code"] = 1e9 * t_n / (nn * n)
            row["identical_ours_vs_numpy"] = same(res[:nn], res_n)
        out[f"k{k}"] = row
        log(f"[pq n={n:,} k={k}] ns/code ours {row['ours_ns_per_code']:.2f} (faiss-backed {row['ours_faiss_backed_ns_per_code']:.2f}) "
            f"faiss {row['faiss_IndexPQ_ns_per_code']:.2f} numpy {row.get('numpy_ns_per_code', float('nan')):.2f} "
            f"identical={row.get('identical_ours_vs_numpy')}/{row['identical_ours_vs_ours_faiss_backed']} "
            f"same ids as FAISS {row['same_ids_as_faiss_IndexPQ']:.2f}")
    out["memory_bytes_per_item"] = ours.nbytes() / n
    out["disk_bytes_per_item_codes"] = m
    return out


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
                result["binary"].append(bench_binary(source, n, args, rng, tmp, bar.write))
            elif kind == "pq":
                result["pq"].append(bench_pq(n, args, rng, bar.write))
            else:
                result["add"] = durable_add_rates(tmp / "add", min(args.sizes), rng, bar.write)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["wall_seconds"] = time.time() - t0
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    publish(BENCH, args.out_name, index_speed_markdown, index_speed_plot, result=result, root=ROOT)


if __name__ == "__main__":
    main()
