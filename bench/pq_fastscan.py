"""PQ search at the speed of the hardware: fast-scan ADC, 8-bit ADC, IVF open, FAISS ratios.

    .venv/bin/python bench/pq_fastscan.py                                  # 1M and 10M (~15 min quiet)
    .venv/bin/python bench/pq_fastscan.py --sizes 100000 --queries 16 --out-name pq_fastscan_smoke

One run, side by side, single thread (``faiss.omp_set_num_threads(1)``; our kernels are single
threaded), k = 10, random codebooks (normal) and uniform random codes, l2 metric. Parts:

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

The cold CLI search (a part of earlier results, whose tables ``--replot`` still draws) is now
``bench/search_cold.py``: real indexes, the static text encoder.

Figures: best of ``--repeat`` repetitions (wall clock) with the CPU time of that repetition; the
machine is shared (2 cores, other engineers' jobs), so load averages are recorded before and
after each part. Writes ``bench/results/pq_fastscan/<out-name>.{json,md,png}`` (``--replot`` redraws the
tables and the plot from the stored JSON).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.index_ops import ivf_open_times
from distilhash.benchmark.kernel_timing import best_of, faiss_binary_flat, faiss_pq, ns_per_code, single_thread, stamped_log, synthetic_pq
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import read_results, redraw_results, write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "pq_fastscan"
K_TOP = 10


def exact_topk(tables: np.ndarray, codes: np.ndarray, nq: int):
    from distilhash.index.pq import adc_distances
    from distilhash.index.topk import topk_float

    rows = np.arange(codes.shape[0])
    return [topk_float(adc_distances(tables[i], codes, "l2"), rows, K_TOP) for i in range(nq)]


def bench_pq(bits: int, n: int, args, rng, log) -> dict:
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


def bench_binary(n: int, args, rng, log) -> dict:
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


def markdown(res: dict) -> str:
    meta = res["meta"]
    lines = ["# PQ fast scan, 8-bit ADC, IVF open, cold CLI", "",
             "Single thread; shared machine (2 cores, other engineers' jobs; load averages per part and in the provenance). "
             f"Best of {meta['repeat']} repetitions (wall clock); CPU time of that repetition in "
             f"brackets. CPU flags used: {meta['cpu_kernels']}.", ""]
    for part, title in (("pq4", "4-bit PQ (M=16, K=16: 64-bit codes)"), ("pq8", "8-bit PQ (M=8, K=256: 64-bit codes)")):
        if part not in res:
            continue
        lines += [f"## {title}, ns per code, k={K_TOP}", "",
                  "| n | searcher | ns/code (CPU) | queries | identical to exact float ADC | overlap@10 with exact | mean short list |",
                  "|---|---|---|---|---|---|---|"]
        for block in res[part]:
            for name, r in block["rows"].items():
                lines.append(f"| {block['n']:,} | {name} | {r['ns_per_code']:.3f} ({r['cpu_ns_per_code']:.3f}) | {r['queries']} | "
                             f"{r['identical_to_exact']} | {r.get('overlap_at_10_with_exact', '')} | {r.get('mean_shortlist', '')} |")
            lines.append(f"| {block['n']:,} | load before / after | {block['load_before'][0]:.2f} / {block['load_after'][0]:.2f} | | | | |")
        lines.append("")
    if "binary" in res:
        lines += ["## Exact Hamming top-10, 64-bit codes: ours vs FAISS IndexBinaryFlat, QPS (CPU-time QPS)", "",
                  "| n | ours | FAISS heap (default) | FAISS counting (use_heap=False) | ours / heap | ours / counting | load before |",
                  "|---|---|---|---|---|---|---|"]
        for b in res["binary"]:
            lines.append(f"| {b['n']:,} | {b['ours_qps']:.0f} ({b['ours_cpu_qps']:.0f}) | {b['faiss_heap_qps']:.0f} ({b['faiss_heap_cpu_qps']:.0f}) | "
                         f"{b['faiss_counting_qps']:.0f} ({b['faiss_counting_cpu_qps']:.0f}) | {b['ratio_vs_heap']:.2f}x | "
                         f"{b['ratio_vs_counting']:.2f}x | {b['load_before'][0]:.2f} |")
        lines.append("")
    if "ivf" in res:
        v = res["ivf"]
        lines += ["## IVF index open (to the first answered query)", "",
                  f"{v['n']:,} items, M=8, K=256, nprobe {v['nprobe']}: first open {v['first_open_s']:.2f} s "
                  f"(state {v['first_open_stats']['state']!r}: trains {v['first_open_stats']['train_s']} s, assigns "
                  f"{v['first_open_stats']['assign_s']} s); later opens **{v['open_s']:.3f} s** ({v['open_cpu_s']:.3f} s CPU; "
                  f"state {v['open_stats']['state']!r}, {v['open_stats']['reused_rows']:,} rows reused). State file "
                  f"{v['state_bytes'] / 2**20:.1f} MiB. Load before / after {v['load_before'][0]:.2f} / {v['load_after'][0]:.2f}.", ""]
    if "cold" in res:
        c = res["cold"]
        lines += ["## Cold CLI search (fresh process, light text encoder, binary ITQ index)", "",
                  f"`{c['command']}` on {c['n']:,} items: best **{c['best_wall_s']:.2f} s** wall ({c['best_cpu_s']:.2f} s CPU) over "
                  f"{len(c['runs'])} runs (all: {', '.join('%.2f' % r['wall_s'] for r in c['runs'])} s); torch imported: "
                  f"{c['torch_imported']}, faiss imported: {c['faiss_imported']}. Load before / after {c['load_before'][0]:.2f} / "
                  f"{c['load_after'][0]:.2f}.", "", "Costliest top-level imports (cumulative, -X importtime, one run):", ""]
        lines += [f"- {x['module']}: {x['cumulative_us'] / 1000:.0f} ms" for x in c["top_level_imports_us"]]
        lines.append("")
    return "\n".join(lines)


def plot(path: Path, res: dict) -> None:
    parts = [p for p in ("pq4", "pq8") if p in res]
    with figure(path, 1, max(1, len(parts)), figsize=(7 * max(1, len(parts)), 4.5), squeeze=False, dpi=110) as (fig, axes):
        for ax, part in zip(axes[0], parts):
            blocks = res[part]
            names = list(dict.fromkeys(name for b in blocks for name in b["rows"]))
            width = 0.8 / len(blocks)
            for j, b in enumerate(blocks):
                cpu = [b["rows"][nm]["cpu_ns_per_code"] if nm in b["rows"] else np.nan for nm in names]
                wall = [b["rows"][nm]["ns_per_code"] if nm in b["rows"] else np.nan for nm in names]
                x = np.arange(len(names)) + j * width
                ax.bar(x, cpu, width, label=f"n={b['n']:,}: CPU time")
                ax.scatter(x, wall, marker="_", s=120, color="black", label="wall clock (loaded machine)" if j == 0 else None)
            ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=25, ha="right", fontsize=8)
            ax.set_yscale("log")
            ax.set_ylabel("ns per code (log): bars CPU time, dashes wall")
            ax.set_title(f"{'4-bit (M=16, K=16)' if part == 'pq4' else '8-bit (M=8, K=256)'} ADC top-{K_TOP}, 1 thread")
            ax.axhline(0.5 if part == "pq4" else 1.0, ls="--", color="gray", label="goal")
            ax.legend(fontsize=8)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--queries", type=int, default=64)
    p.add_argument("--check", type=int, default=3, help="queries checked against the numpy float ADC reference")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--float-max-n", type=int, default=1_000_000, help="largest n the previous float kernel is timed at")
    p.add_argument("--ivf-n", type=int, default=1_000_000)
    p.add_argument("--parts", nargs="+", default=["pq4", "pq8", "binary", "ivf"], choices=["pq4", "pq8", "binary", "ivf"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-name", default=BENCH, help="result name under bench/results/pq_fastscan/")
    p.add_argument("--replot", action="store_true", help="only rebuild the .md and .png from the stored .json")
    args = p.parse_args(argv)
    if args.replot:
        res = read_results(BENCH, args.out_name, ROOT)
        redraw_results(BENCH, args.out_name, res, markdown(res), plot=lambda path: plot(path, res), root=ROOT)
        return

    from distilhash.benchmark.provenance import peak_rss_mib
    from distilhash.index.fastscan import supported_impls

    single_thread()
    rng = np.random.default_rng(args.seed)
    log = stamped_log
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], root=ROOT,
                              model_selection="none: synthetic codes and a synthetic ITQ index, nothing is selected")
    res: dict = {"provenance": prov,
                 "meta": {"repeat": args.repeat,
                          "cpu_kernels": {4: supported_impls(4), 8: supported_impls(8)},
                          "timing": "best wall-clock repetition; CPU (process) time of that repetition alongside"}}
    with tempfile.TemporaryDirectory(prefix="pq_fastscan_", dir=os.environ.get("DISTILHASH_HOME")) as tmpdir:
        tmp = Path(tmpdir)
        if "pq4" in args.parts:
            res["pq4"] = [bench_pq(4, n, args, rng, log) for n in args.sizes]
        if "pq8" in args.parts:
            res["pq8"] = [bench_pq(8, n, args, rng, log) for n in args.sizes]
        if "binary" in args.parts:
            res["binary"] = [bench_binary(n, args, rng, log) for n in args.sizes]
        if "ivf" in args.parts:
            res["ivf"] = ivf_open_times(tmp / "ivf-index", args.ivf_n, rng, args.repeat, K_TOP, log)
    res["meta"]["peak_rss_mib"] = peak_rss_mib()
    paths = write_results(BENCH, args.out_name, res, markdown(res), plot=lambda path: plot(path, res), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
