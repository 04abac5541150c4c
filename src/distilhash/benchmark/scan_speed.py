"""The measurements of the scan-speed benchmarks: our kernels and indexes against FAISS and numpy, timed alike.

``bench/pq_fastscan.py`` ``parts`` (:func:`fastscan_pq`, :func:`fastscan_binary`) and ``single-query``
(:func:`single_query_size`: the arms of :func:`pq_arms` / :func:`hamming_arms` interleaved against the memory
limit), ``bench/index_speed.py`` (:func:`bench_codes`, :func:`bench_binary`, :func:`bench_pq`). Each returns the
result block the script stores (and :mod:`~distilhash.benchmark.scan_report` draws) and checks our answers
against an exact reference as it times them (``identical...`` keys). ``log`` receives one line per measurement.
Timing is :mod:`~distilhash.benchmark.kernel_timing`'s (best of ``repeat`` wall, the CPU time beside it).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.kernel_timing import (BatchCalls, arm_figures, best_of, faiss_binary_flat, faiss_pq, faiss_rows,
                                                interleaved, ns_per_code, read_bandwidth, synthetic_pq, with_threads)
from distilhash.benchmark.kernel_timing import same_results as same
from distilhash.benchmark.provenance import load_average
from distilhash.benchmark.scan_report import K_TOP
from distilhash.errors import ConfigError

__all__ = ["CODE_BYTES", "OLD_KERNELS", "exact_topk", "fastscan_pq", "fastscan_binary", "pq_arms", "hamming_arms",
           "single_query_size", "bench_codes", "bench_binary", "bench_pq"]

Log = Callable[[str], Any]
#: bytes of one 64-bit code (the single-query memory limit reads this many per code)
CODE_BYTES = 8
#: per code width, the kernels a family also times beside the chosen one: the 8-bit AVX-512 loop
#: over a run-time M (the kernel before issue #26 unrolled M = 4, 8, 16), for the before/after figure
OLD_KERNELS = {8: ("avx512-generic",)}


def exact_topk(tables: np.ndarray, codes: np.ndarray, nq: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The numpy float ADC top-k (distances, rows) of the first ``nq`` query tables ``[nq, M, K]`` over ``codes`` ``[n, M]``."""
    from distilhash.index.pq import adc_distances
    from distilhash.index.topk import topk_float

    rows = np.arange(codes.shape[0])
    return [topk_float(adc_distances(tables[i], codes, "l2"), rows, K_TOP) for i in range(nq)]


def fastscan_pq(bits: int, n: int, rng: np.random.Generator, log: Log, *, queries: int, repeat: int, check: int,
                float_max_n: int) -> dict[str, Any]:
    """``bits``-bit PQ on ``n`` random codes: every fast-scan kernel this CPU runs (``scalar`` on 1/8 of the queries),
    the previous float kernel up to ``float_max_n``, FAISS; each checked on ``check`` queries against the exact top-k."""
    from distilhash.index import native
    from distilhash.index.fastscan import FastScanCodes, choose_impl, supported_impls
    from distilhash.index.pq import lookup_tables

    nq = queries
    data = synthetic_pq(n, nq, rng, bits)
    cb, codes, q = data.codebooks, data.codes, data.queries
    m, kk, dsub = cb.shape
    tables = lookup_tables(q, cb, "l2")
    out: dict = {"bits": bits, "M": m, "K": kk, "d_sub": dsub, "n": n, "queries": nq, "k": K_TOP, "load_before": load_average()}
    fs = FastScanCodes(m, bits)
    fs.add(codes)
    ref = exact_topk(tables, codes, check)
    rows: dict[str, dict] = {}
    for impl in supported_impls(bits):
        nqi = nq if impl != "scalar" else max(1, nq // 8)
        wall, cpu, res = best_of(lambda: fs.knn(tables[:nqi], K_TOP, False, None, impl), repeat)
        d, r, cnt, cand = res
        ok = all(np.array_equal(r[i, : cnt[i]], ref[i][1]) and np.array_equal(d[i, : cnt[i]], ref[i][0]) for i in range(min(nqi, check)))
        rows[f"ours fast-scan {impl}"] = {"ns_per_code": ns_per_code(wall, nqi, n), "cpu_ns_per_code": ns_per_code(cpu, nqi, n),
                                          "queries": nqi, "identical_to_exact": ok, "mean_shortlist": float(cand.mean())}
        log(f"pq{bits} n={n:,} fast-scan {impl}: {rows[f'ours fast-scan {impl}']['ns_per_code']:.3f} ns/code, exact={ok}")
    out["default_kernel"] = choose_impl(bits, "auto")
    if n <= float_max_n:
        nqf = max(1, nq // 4)
        wall, cpu, res = best_of(lambda: native.pq_adc_knn(codes, tables[:nqf], K_TOP, False), repeat)
        d, r, cnt = res
        ok = all(np.array_equal(r[i, : cnt[i]], ref[i][1]) for i in range(min(nqf, check)))
        rows["ours float kernel (previous)"] = {"ns_per_code": ns_per_code(wall, nqf, n), "cpu_ns_per_code": ns_per_code(cpu, nqf, n),
                                                "queries": nqf, "identical_to_exact": ok}
        log(f"pq{bits} n={n:,} float kernel: {rows['ours float kernel (previous)']['ns_per_code']:.3f} ns/code")
    fidx, label = faiss_pq(cb, codes, fast_scan=bits == 4)
    wall, cpu, (fd, fr) = best_of(lambda: fidx.search(q, K_TOP), repeat)
    overlap = float(np.mean([len(set(fr[i].tolist()) & set(ref[i][1].tolist())) / K_TOP for i in range(check)]))
    rows[label] = {"ns_per_code": ns_per_code(wall, nq, n), "cpu_ns_per_code": ns_per_code(cpu, nq, n), "queries": nq,
                   "identical_to_exact": bool(all(np.array_equal(fr[i], ref[i][1]) for i in range(check))),
                   "overlap_at_10_with_exact": overlap}
    log(f"pq{bits} n={n:,} {label}: {rows[label]['ns_per_code']:.3f} ns/code, overlap@10 {overlap:.3f}")
    del fidx
    out["rows"] = rows
    out["load_after"] = load_average()
    return out


def fastscan_binary(n: int, rng: np.random.Generator, log: Log, *, queries: int, repeat: int) -> dict[str, Any]:
    """Exact Hamming top-k on ``n`` random 64-bit codes: our native scan vs FAISS flat (heap and counting top-k), QPS."""
    from distilhash.index import native

    nq = queries
    db = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    q = rng.integers(0, 256, (nq, 8), dtype=np.uint8)
    out: dict = {"n": n, "queries": nq, "k": K_TOP, "codes": "uniform random 64-bit", "load_before": load_average()}
    wall, cpu, (d, r, cnt) = best_of(lambda: native.hamming_knn(db.view(np.uint64), q.view(np.uint64), K_TOP), repeat)
    out["ours_qps"], out["ours_cpu_qps"] = nq / wall, nq / cpu
    for name, heap in (("faiss_heap", True), ("faiss_counting", False)):
        idx = faiss_binary_flat(db, heap)
        w, c, (fd, fr) = best_of(lambda: idx.search(q, K_TOP), repeat)
        out[f"{name}_qps"], out[f"{name}_cpu_qps"] = nq / w, nq / c
        out[f"{name}_same_distances"] = bool(np.array_equal(np.sort(fd, 1), d))
        del idx
    out["ratio_vs_heap"] = out["ours_qps"] / out["faiss_heap_qps"]
    out["ratio_vs_counting"] = out["ours_qps"] / out["faiss_counting_qps"]
    out["load_after"] = load_average()
    log(f"binary n={n:,}: ours {out['ours_qps']:.0f} QPS, {out['ratio_vs_heap']:.2f}x heap, {out['ratio_vs_counting']:.2f}x counting")
    return out


def pq_arms(bits: int, n: int, nq: int, rng: np.random.Generator) -> tuple[dict[str, Callable], np.ndarray]:
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


def hamming_arms(n: int, nq: int, rng: np.random.Generator) -> tuple[dict[str, Callable], np.ndarray]:
    """Our native Hamming scan and FAISS's flat binary index (heap and counting top-k) on random 64-bit codes."""
    from distilhash.index import native

    db = rng.integers(0, 256, (n, CODE_BYTES), dtype=np.uint8)
    words = db.view(np.uint64)
    arms = {"ours (native)": lambda q: native.hamming_knn(words, np.ascontiguousarray(q).view(np.uint64), K_TOP)}
    for name, heap in (("FAISS IndexBinaryFlat heap", True), ("FAISS IndexBinaryFlat counting", False)):
        arms[name] = (lambda ix: (lambda q: ix.search(q, K_TOP)))(faiss_binary_flat(db, heap))
    return arms, rng.integers(0, 256, (nq, CODE_BYTES), dtype=np.uint8)


def single_query_size(n: int, rng: np.random.Generator, log: Log, *, families: Sequence[str], queries: int,
                      batches: Sequence[int], threads: list[int], repeat: int) -> dict[str, Any]:
    """One size of ``single-query``: the read bandwidth (the memory limit), then per family (``pq4``, ``pq8``,
    ``hamming``) and batch size every arm interleaved (``repeat`` times), with its share of the limit."""
    out = {"n": n, "load_before": load_average(), "bandwidth": read_bandwidth(n * CODE_BYTES, repeat, threads),
           "families": {}}
    limit_ns = CODE_BYTES / out["bandwidth"]["best_gb_per_s"]
    out["limit_ns_per_code"] = limit_ns
    split_ns = {t: CODE_BYTES / g for t, g in out["bandwidth"]["split_gb_per_s"].items()}
    out["split_limit_ns_per_code"] = split_ns
    log(f"n={n:,}: read bandwidth {out['bandwidth']['best_gb_per_s']:.1f} GB/s -> limit {limit_ns:.3f} ns/code; split "
        + ", ".join(f"{t} threads {CODE_BYTES / v:.1f} GB/s" for t, v in split_ns.items()))
    for family in families:
        arms, qs = pq_arms(4 if family == "pq4" else 8, n, queries, rng) if family != "hamming" \
            else hamming_arms(n, queries, rng)
        rows = {}
        for batch in batches:
            cell = with_threads(arms, threads) if batch == 1 else \
                {**arms, **{k: v for k, v in with_threads(arms, threads).items() if k.startswith("ours")}}
            calls = {name: BatchCalls(fn, qs, batch) for name, fn in cell.items()}
            times = interleaved(calls, repeat)
            rows[str(batch)] = {name: {**arm_figures(ts, len(qs), n, limit_ns, split_ns),
                                       "best_call_ns_per_code": 1e9 * calls[name].best_call / n}
                                for name, ts in times.items()}
            ours = next(k for k in times if k.startswith("ours"))
            log(f"n={n:,} {family} batch {batch}: " + ", ".join(f"{k} {v['ns_per_code']:.3f} ns/code ({v['share_of_limit']:.0%})"
                                                              for k, v in rows[str(batch)].items()) + f"  [ours: {ours}]")
        out["families"][family] = rows
        del arms
    out["load_after"] = load_average()
    return out


def bench_codes(source: str, n: int, nq: int, rng: np.random.Generator, *, centres: int = 20_000, flip: float = 0.05,
                model_codes: Path | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """64-bit database ``[n, 8]`` and query ``[nq, 8]`` codes and their description: ``uniform`` bits, or
    ``structured``: noisy copies (each bit flipped with prob. ``flip``) of ``centres`` random codes, or of the
    image codes in ``model_codes`` (a ``distilhash encode`` file) when given."""
    from distilhash.index.synth import replicate_with_noise, uniform_codes

    if source == "uniform":
        return uniform_codes(n, 64, rng), uniform_codes(nq, 64, rng), {"kind": "uniform random bits"}
    if model_codes:
        from distilhash.codes_file import load_encoded

        enc, info = load_encoded(model_codes)
        first = enc.get("image") or next(iter(enc.values()))
        if not first.kind.hamming or first.n_bits != 64:
            raise ConfigError(f"{model_codes}: need 64-bit binary codes, got {first.kind} {first.n_bits}")
        base = first.data
        desc = {"kind": f"trained-model codes ({model_codes}, {len(base)} items) replicated with bit-flip noise"}
    else:
        base = uniform_codes(centres, 64, rng)
        desc = {"kind": f"{centres} random centres replicated with bit-flip noise"}
    desc["flip"] = flip
    db, _ = replicate_with_noise(base, n, flip, rng)
    q, _ = replicate_with_noise(base, nq, flip, rng)
    return db, q, desc


def bench_binary(source: str, codes: tuple[np.ndarray, np.ndarray, dict[str, Any]], tmp: Path, log: Log, *, repeat: int,
                 numpy_queries: int) -> dict[str, Any]:
    """An index of the ``codes`` (:func:`bench_codes`) built, opened and searched at k = 10 and 100: our flat scan (rows,
    and with ids + metadata) vs FAISS flat (heap, counting) vs numpy; then MIH vs those brute-force scans; bytes per item."""
    from distilhash.codes import Encoded
    from distilhash.index import IndexOptions, create_index, open_index

    db, q, desc = codes
    n, nq = len(db), len(q)
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
    nq_np = min(nq, numpy_queries)
    from distilhash.index.binary import NumpyBinarySearcher
    from distilhash.index.topk import NO_TOMBSTONES

    npy = NumpyBinarySearcher(8)
    npy.add(db)
    for k in (10, 100):
        row: dict = {}
        t_f = best_of(lambda: ref.search(q, k), repeat)
        fd, fr = t_f.result
        row["faiss_IndexBinaryFlat_qps"] = nq / t_f.wall
        t_mc = best_of(lambda: ref_mc.search(q, k), repeat)
        md, mr = t_mc.result
        row["faiss_IndexBinaryFlat_counting_qps"] = nq / t_mc.wall
        t_o = best_of(lambda: idx.search_rows(q, k), repeat)
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
        t_m, _, res = best_of(lambda: idx.search_rows(q, k), repeat)
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


def bench_pq(n: int, rng: np.random.Generator, log: Log, *, queries: int, repeat: int, numpy_queries: int) -> dict[str, Any]:
    """8-bit PQ (M = 8) ADC on ``n`` random codes, k = 10 and 100: our native searcher, our FAISS-backed one, FAISS
    ``IndexPQ`` and numpy (up to 2M codes), ns per code, answers compared."""
    from distilhash.index.pq import FaissPQSearcher, NativePQSearcher, NumpyPQSearcher
    from distilhash.index.topk import NO_TOMBSTONES

    nq = queries
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
        t_f = best_of(lambda: ref.search(q, k), repeat)
        t_o = best_of(lambda: ours.search(q, k, NO_TOMBSTONES), repeat)
        t_of = best_of(lambda: ours_faiss.search(q, k, NO_TOMBSTONES), repeat)
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
            nn = min(nq, numpy_queries)
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
