"""The tables and plots of the scan-speed benchmarks, from their stored result dicts.

``bench/pq_fastscan.py`` (``parts``: :func:`fastscan_markdown` / :func:`fastscan_plot`; ``single-query``:
:func:`single_query_markdown` / :func:`single_query_plot`), ``bench/index_speed.py``
(:func:`index_speed_markdown` / :func:`index_speed_plot`) and its ``ivf`` sub-command
(:func:`ivf_markdown` / :func:`ivf_plot`). Each takes the JSON the script wrote, so ``--replot``
redraws a stored result without measuring again; results written before a column existed show
``n/a`` (or leave the part out). Plots take ``(result, path)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure

__all__ = ["K_TOP", "fastscan_markdown", "fastscan_plot", "single_query_markdown", "single_query_plot",
           "index_speed_markdown", "index_speed_plot", "ivf_markdown", "ivf_plot"]

#: the k of the kernel scripts' top-k
K_TOP = 10


def fastscan_markdown(res: dict[str, Any]) -> str:
    """The ``parts`` tables: pq4 / pq8 ns per code, exact Hamming QPS, the IVF open, a stored cold CLI search."""
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


def fastscan_plot(res: dict[str, Any], path: Path) -> None:
    """One panel per PQ width: CPU ns per code as bars, wall clock as dashes, per size."""
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



def single_query_markdown(res: dict[str, Any]) -> str:
    """The ``single-query`` table per size: every family, batch and arm against the memory limits."""
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


def single_query_plot(res: dict[str, Any], path: Path) -> None:
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



def _per_k(blocks: list[dict[str, Any]], key: str, row: Any, cpu: str | None = None) -> list[str]:
    """One table line per block and k (10, 100): ``row(block, k, block[key.format(k)], its cpu figures or None)``."""
    return [row(b, k, b[key.format(k)], b[key.format(k)][cpu] if cpu else None) for b in blocks for k in (10, 100)]


def index_speed_markdown(result: dict[str, Any]) -> str:
    """``index_speed``: exact Hamming QPS, MIH vs brute force, PQ ns per code, bytes per item and add rates."""
    lines = ["# Index speed", "",
             "Single thread; machine shared with other engineers (2 cores; load averages in the provenance). "
             f"Wall time {result['wall_seconds']:.0f} s, peak RSS {result['peak_rss_mb']:.0f} MB.", "",
             "## Exact Hamming top-k (64-bit codes), queries per second", "",
             "Wall-clock QPS; in brackets: QPS by CPU time our thread actually got (the machine was oversubscribed).", "",
             "| codes | n | k | ours (flat) | ours + ids/metadata | FAISS IndexBinaryFlat (default) | FAISS (use_heap=False) | numpy | ours/FAISS default | ours/FAISS counting | identical |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += _per_k(result["binary"], "flat_k{}", lambda b, k, r, c: (
        f"| {b['source']} | {b['n']:,} | {k} | {r['ours_flat_qps']:.1f} ({c['ours']:.0f}) | {r['ours_flat_with_ids_metadata_qps']:.1f} | "
        f"{r['faiss_IndexBinaryFlat_qps']:.1f} ({c['faiss']:.0f}) | {r['faiss_IndexBinaryFlat_counting_qps']:.1f} ({c['faiss_counting']:.0f}) | "
        f"{r['numpy_qps']:.1f} ({c['numpy']:.1f}) | {r['ratio_ours_vs_faiss']:.2f} | {r['ratio_ours_vs_faiss_counting']:.2f} | "
        f"{r['identical_ours_vs_faiss'] and r['identical_ours_vs_numpy']} |"), cpu="cpu_qps")
    lines += ["", "## Sublinear exact search (multi-index hashing) vs brute force", "",
              "| codes | n | k | MIH QPS | FAISS flat QPS | speed-up vs FAISS flat | speed-up vs our flat | identical | flat-scan share | mean candidates |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    lines += _per_k(result["binary"], "mih_k{}", lambda b, k, r, _: (
        f"| {b['source']} | {b['n']:,} | {k} | {r['mih_qps']:.1f} | {r['bruteforce_faiss_qps']:.1f} | {r['speedup_vs_bruteforce']:.1f}x | "
        f"{r['speedup_vs_our_bruteforce']:.1f}x | {r['identical_to_bruteforce']} | {r['fallback_fraction']:.2f} | {r['mean_candidates']:.0f} |"))
    lines += ["", "## PQ asymmetric distance (M=8, K=256), ns per code", "",
              "Wall clock; in brackets: CPU time of our thread per code.", "",
              "| n | k | ours (native) | ours (FAISS-backed) | FAISS IndexPQ | numpy | identical (ours vs numpy / vs FAISS-backed) | same ids as raw FAISS |",
              "|---|---|---|---|---|---|---|---|"]
    lines += _per_k(result["pq"], "k{}", lambda p, k, r, c: (
        f"| {p['n']:,} | {k} | {r['ours_ns_per_code']:.2f} ({c['ours']:.2f}) | {r['ours_faiss_backed_ns_per_code']:.2f} "
        f"({c['ours_faiss_backed']:.2f}) | {r['faiss_IndexPQ_ns_per_code']:.2f} ({c['faiss']:.2f}) | {r.get('numpy_ns_per_code', float('nan')):.2f} | "
        f"{r.get('identical_ours_vs_numpy', 'not run')} / {r['identical_ours_vs_ours_faiss_backed']} | {r['same_ids_as_faiss_IndexPQ']:.2f} |"),
        cpu="cpu_ns_per_code")
    lines += ["", "## Bytes per item and throughput", "", "| codes | n | disk B/item | memory B/item (flat) | memory B/item (MIH incl. flat store) | build items/s | open s (sha256) |",
              "|---|---|---|---|---|---|---|"]
    for b in result["binary"]:
        lines.append(f"| {b['source']} | {b['n']:,} | {b['disk_bytes_per_item']:.1f} | {b['memory_bytes_per_item']['flat']:.1f} | "
                     f"{b['memory_bytes_per_item']['mih (incl. flat store)']:.1f} | {b['build_items_per_s']:,.0f} | {b['open_seconds_with_sha256']:.1f} |")
    add = result.get("add")
    if add:
        lines += ["", f"Incremental add into a {add['base_items']:,}-item index (logged + fsync per call): "
                  + ", ".join(f"batch {b}: {add[f'batch{b}']['items_per_s']:,.0f} items/s ({add[f'batch{b}']['ms_per_add_call']:.2f} ms/call)"
                              for b in (1, 100, 10_000))
                  + f"; compaction {add['compact_seconds']:.1f} s."]
    return "\n".join(lines)


def index_speed_plot(result: dict[str, Any], path: Path) -> None:
    """Hamming QPS per searcher (log) and PQ ns per code, wall and CPU."""
    with figure(path, 1, 2, figsize=(12, 4.5), dpi=120) as (fig, axes):
        labels, ours, ffl, mih, npy = [], [], [], [], []
        for b in result["binary"]:
            for k in (10, 100):
                labels.append(f"{b['source'][:6]}\n{b['n'] / 1e6:g}M k={k}")
                ours.append(b[f"flat_k{k}"]["ours_flat_qps"])
                ffl.append(b[f"flat_k{k}"]["faiss_IndexBinaryFlat_qps"])
                npy.append(b[f"flat_k{k}"]["numpy_qps"])
                mih.append(b[f"mih_k{k}"]["mih_qps"])
        x = np.arange(len(labels))
        w = 0.2
        ax = axes[0]
        for i, (vals, lab) in enumerate(((ffl, "FAISS IndexBinaryFlat"), (ours, "ours flat"), (mih, "ours MIH"), (npy, "numpy"))):
            ax.bar(x + (i - 1.5) * w, vals, w, label=lab)
        ax.set_yscale("log")
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_ylabel("queries / s (1 thread)")
        ax.set_title("exact Hamming top-k, 64-bit codes")
        ax.legend(fontsize=7)
        ax = axes[1]
        pl, po, pf, poc, pfc = [], [], [], [], []
        for p in result["pq"]:
            for k in (10, 100):
                pl.append(f"{p['n'] / 1e6:g}M k={k}")
                po.append(p[f"k{k}"]["ours_ns_per_code"])
                pf.append(p[f"k{k}"]["faiss_IndexPQ_ns_per_code"])
                poc.append(p[f"k{k}"]["cpu_ns_per_code"]["ours"])
                pfc.append(p[f"k{k}"]["cpu_ns_per_code"]["faiss"])
        x = np.arange(len(pl))
        ax.bar(x - 0.3, pf, 0.2, label="FAISS IndexPQ (wall)", color="C0")
        ax.bar(x - 0.1, pfc, 0.2, label="FAISS IndexPQ (CPU time)", color="C0", alpha=0.5, hatch="//")
        ax.bar(x + 0.1, po, 0.2, label="ours native (wall)", color="C1")
        ax.bar(x + 0.3, poc, 0.2, label="ours native (CPU time)", color="C1", alpha=0.5, hatch="//")
        ax.axhline(3.0, color="k", ls="--", lw=1, label="goal 3 ns")
        ax.set_xticks(x, pl, fontsize=8)
        ax.set_ylabel("ns per code")
        ax.set_title("PQ ADC, M=8, K=256 (shared, oversubscribed machine)")
        ax.legend(fontsize=7)



def ivf_markdown(r: dict[str, Any]) -> str:
    """The IVF run: build, speed per nprobe at n items, quality on the real retrieval set."""
    b, q = r["build"], r["quality_real_set"]
    lines = [f"# IVF searcher for PQ codes ({r['method']} {r['bits']} bits, metric {r['metric']})", "",
             f"{r['n']:,} items ({r['n_real']:,} real retrieval codes + noisy replicas, flip {r['flip']}), "
             f"{r['n_queries_timed']} text queries (split.query), one thread, one query per call, k={r['k']}. "
             "Shared machine (load averages in the provenance).", "",
             f"Build: nlist {b['nlist']}, k-means on {b['trained_on']:,} reconstructions {b['train_s']:.1f} s, "
             f"assignment {b['assign_s']:.1f} s, total {b['total_s']:.1f} s; list sizes mean {b['list_size']['mean']:.0f}, "
             f"p99 {b['list_size']['p99']:.0f}, max {b['list_size']['max']:,}, empty {b['list_size']['empty']}.", "",
             f"Replicas with a redrawn sub-code are {r['exact']['modified_fraction_db']:.1%} of the items but "
             f"{r['exact']['modified_fraction_top']:.1%} of the exact top-{r['k']} (a random codeword can raise the score); "
             "last column: recall of the exact top-k items that are real codes or unmodified copies.", "",
             "| searcher | nprobe | ms/query | QPS | recall@10 vs exact | recall@10, unmodified items |", "|---|---|---|---|---|---|",
             f"| exact native scan | - | {r['exact']['ms_per_query']:.3f} | {r['exact']['qps']:.0f} | 1.000 | 1.000 |"]
    for s in r["ivf"]:
        lines.append(f"| ivf | {s['nprobe']} | {s['ms_per_query']:.3f} | {s['qps']:.0f} | {s['recall@10']:.3f} | {s['recall@10_unmodified']:.3f} |")
    lines += ["", f"Quality on the real {r['n_real']:,}-item retrieval set, {r['n_queries_quality']} queries (t2i), "
              f"IVF nlist {q['nlist']}; P@N counts missing positions as misses; mAP@N = mean precision at the relevant hits within the first N "
              "divided by their number (so fewer hits can raise it); mAP@all counts relevant items outside the probed lists as not retrieved "
              "(with thousands of relevant items per query it mostly measures how many candidates were scanned):", "",
              "| searcher | nprobe | mean candidates | recall@10 | P@10 | P@100 | mAP@100 | mAP@1000 | mAP@all |", "|---|---|---|---|---|---|---|---|---|",
              f"| exact | - | {r['n_real']:,} | 1.000 | {q['exact']['p@10']:.4f} | {q['exact']['p@100']:.4f} | {q['exact']['map@100']:.4f} | {q['exact']['map@1000']:.4f} | {q['exact']['map_all']:.4f} |"]
    for s in q["ivf"]:
        lines.append(f"| ivf | {s['nprobe']} | {s['mean_candidates']:.0f} | {s['recall@10']:.3f} | {s['p@10']:.4f} | {s['p@100']:.4f} | {s['map@100']:.4f} | {s['map@1000']:.4f} | {s['map_all']:.4f} |")
    lines += ["", f"Wall {r['wall_s']} s."]
    return "\n".join(lines)


def ivf_plot(r: dict[str, Any], path: Path) -> None:
    """Recall@10 against QPS per nprobe, the exact scan as the reference point."""
    with figure(path, figsize=(6, 4), dpi=120) as (fig, ax):
        xs = [s["qps"] for s in r["ivf"]]
        ys = [s["recall@10"] for s in r["ivf"]]
        ax.plot(xs, ys, "o-", label=f"ivf (nlist {r['build']['nlist']})")
        for s in r["ivf"]:
            ax.annotate(f"nprobe {s['nprobe']}", (s["qps"], s["recall@10"]), textcoords="offset points", xytext=(4, -10), fontsize=7)
        ax.plot([r["exact"]["qps"]], [1.0], "s", color="k", label="exact native scan")
        ax.set_xscale("log")
        ax.set_xlabel("queries / s (one thread, one query per call)")
        ax.set_ylabel("recall@10 vs exact")
        ax.set_title(f"IVF-PQ, {r['n']:,} items, {r['method']} {r['bits']} bits")
        ax.grid(alpha=0.3)
        ax.legend()

