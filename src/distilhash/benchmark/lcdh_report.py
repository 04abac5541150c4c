"""The LCDH benchmark's tables and plots (``bench/lcdh.py``): one result's runs, and cells over seeds of several.

Usage::

    text = markdown(result, "lcdh"); plot(result, path)            # result: {"provenance", "teacher", "runs", ...}
    cells = seed_cells([r for res in results for r in res["runs"]])  # {bits: {"i2t": [...], "i2t_mean", "i2t_std", ...}}
    text = seeds_markdown(cells, parts, prov, teacher); seeds_plot(cells, dataset)(path)

A run is one :func:`distilhash.benchmark.online_stream.run_online` record plus ``compare`` (the
methods beside it: :func:`distilhash.benchmark.compare.compare_at`). Spreads are the sample std.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.eval.spread import sample_std

__all__ = ["COMPARE", "markdown", "plot", "merged", "seed_cells", "seeds_markdown", "seeds_plot"]

DIRS = ("i2t", "t2i")
#: the methods an LCDH result is compared with by default
COMPARE = ("float-teacher", "lsh", "itq", "pq", "dcmh", "dcmq", "soda")


def plot(result: dict[str, Any], path: Path) -> None:
    """Per-chunk mAP of every bit length (DCMQ at the same bits dashed), both directions."""
    with figure(path, 1, 2, sharey=True, figsize=(11, 4.2)) as (fig, axes):
        colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
        for ax, d in zip(axes, DIRS):
            for c, run in zip(colors, result["runs"]):
                x = [ch["stored"] for ch in run["chunks"]]
                ax.plot(x, [ch[d] for ch in run["chunks"]], "o-", color=c, label=f"LCDH {run['bits']} bits", ms=3)
                dcmq = run.get("compare", {}).get("dcmq", {}).get(d)
                if isinstance(dcmq, float):
                    ax.axhline(dcmq, color=c, ls="--", lw=0.8)
            ax.set_title(f"{'image->text' if d == 'i2t' else 'text->image'} (dashed: DCMQ, same bits)")
            ax.set_xlabel("retrieval items streamed (chunks of %d)" % result["runs"][0]["config"]["chunk_size"])
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("mAP@all, split.query vs codes stored so far")
        axes[1].legend(fontsize=8)
        fig.suptitle(f"LCDH online stream on {result['provenance']['dataset']} (teacher {result['teacher']})", fontsize=10)


def markdown(result: dict[str, Any], name: str = "lcdh", compare: Sequence[str] = COMPARE) -> str:
    """The tables of one LCDH result: mAP per bit length beside the compared methods, warm start, absorb time, speed, sizes."""
    prov = result["provenance"]
    lines = [f"# LCDH online benchmark ({prov['dataset']}, teacher `{result['teacher']}`)", "",
             *( ["**Teacher features here are synthetic (built from the labels by "
                 "`training.synthetic.features_for_labels`), not a VLP's: the feature cache of the offline teacher "
                 "was not available when this ran. Pixels and texts are the real EmojiScenes ones.**", ""]
               if result["teacher"] == "labels-synthetic" else []),
             f"Split `{prov['split_hash']}`, seed {result['seed']}. Machine shared (load averages in the provenance); "
             f"peak RSS {result['peak_memory_mib']:.0f} MiB.", "",
             f"LCDH options set on the command line: `{json.dumps(result.get('overrides') or {})}` "
             "(chosen on split.val only; see docs/lcdh.md).", "",
             "## mAP@all (query vs retrieval; LCDH database = frozen stream codes, queries = final student)", "",
             "| bits | LCDH i2t | LCDH t2i | LCDH mean over chunks i2t / t2i | " + " | ".join(compare) + " |",
             "|---|---|---|---|" + "---|" * len(compare)]
    for run in result["runs"]:
        cmp = run.get("compare", {})
        cells = []
        for method in compare:
            r = cmp.get(method, {})
            cells.append(f"{r['i2t']:.3f} / {r['t2i']:.3f}" if "i2t" in r else ("error" if "error" in r else "—"))
        f, mo = run["final"], run["mean_over_chunks"]
        lines.append(f"| {run['bits']} | {f['i2t']['map_all']:.4f} | {f['t2i']['map_all']:.4f} | "
                     f"{mo['i2t']:.4f} / {mo['t2i']:.4f} | " + " | ".join(cells) + " |")
    lines += ["", "Baseline cells are i2t / t2i; their sources (committed harness records, `dcmq.json`, or run here) are in "
              "`compare` of each run in the JSON.", ""]
    inits = [(run["bits"], run.get("image_init") or {}) for run in result["runs"]]
    if any(i.get("image_init", "random") != "random" for _, i in inits):
        lines += ["## Image student warm start (label-free, pretraining corpus)", "",
                  "| bits | image_init | pretraining | objective | kept epoch | held-out corpus: cos to teacher / i2t R@1 |",
                  "|---|---|---|---|---|---|"]
        for bits, i in inits:
            last = i.get("pretrain_last_val") or {}
            lines.append(f"| {bits} | {i.get('image_init', 'random')} | {i.get('pretrain_key', '—')} | "
                         f"{i.get('pretrain_objective', '—')} | {i.get('pretrain_kept_epoch', '—')} | "
                         f"{last.get('val_cos_teacher', float('nan')):.3f} / {last.get('val_i2t_r1', float('nan')):.3f} |")
        lines.append("")
    lines += ["## Time to absorb one chunk (update + encode + store), seconds", "",
              "| bits | mean over full chunks | mean (all) | median | max | teacher kept epoch | fit total (s) |",
              "|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        a = run["absorb_seconds"]
        stored = [c["stored"] for c in run["chunks"]]
        sizes = np.diff([0, *stored])
        full = [t for t, n in zip(a["per_chunk"], sizes) if n == run["config"]["chunk_size"]]
        lines.append(f"| {run['bits']} | {np.mean(full) if full else float('nan'):.1f} | {a['mean']:.1f} | {a['median']:.1f} | {a['max']:.1f} | "
                     f"{run['teacher']['kept_epoch']} ({run['teacher']['stop_reason']}) | {run['fit_seconds']:.0f} |")
    sp = result.get("speed")
    if sp:
        s, t, z = sp["student"], sp["teacher"], sp["sizes"]
        lines += ["", f"## Encoding speed, one thread (student at {result['speed_bits']} bits)", "",
                  "| | images/s | texts/s |", "|---|---|---|",
                  f"| student | {s['images_per_s']:.0f} | {s['texts_per_s']:.0f} |",
                  f"| teacher ({t['source'][:60]}) | {t['images_per_s']:.0f} | {t['texts_per_s']:.0f} |",
                  f"| speed-up | {sp['speedup']['images_per_s']:.1f}x | {sp['speedup']['texts_per_s']:.1f}x |", "",
                  "## Model size", "", "| | parameters | float32 bytes |", "|---|---|---|",
                  f"| student image (CNN + FC) | {z['student_image_params']:,} | {4 * z['student_image_params']:,} |",
                  f"| student text (BoW MLP + FC; vocabulary {z['student_vocab_tokens']} tokens) | {z['student_text_params']:,} | "
                  f"{4 * z['student_text_params']:,} |",
                  f"| teacher image tower | {z['teacher_image_params']:,} | {4 * z['teacher_image_params']:,} |",
                  f"| teacher text (MiniLM) | {z['teacher_text_params'] or 0:,} | {4 * (z['teacher_text_params'] or 0):,} |",
                  f"| offline LCDH teacher head (index time only) | {z['offline_teacher_head_params']:,} | "
                  f"{4 * z['offline_teacher_head_params']:,} |"]
    lines += ["", f"Per-chunk curves: `{name}.png`; every chunk's mAP, loss terms and timings: `{name}.json`."]
    return "\n".join(lines) + "\n"


def merged(results: list[dict[str, Any]], parts: Sequence[str], provenance: dict[str, Any]) -> dict[str, Any]:
    """One result from the results of ``parts`` (runs of separate processes): the first part's fields, every run
    sorted by bits, the first speed measured, the largest wall time and peak memory, each part's provenance."""
    base = dict(results[0])
    base["runs"] = sorted((r for res in results for r in res["runs"]), key=lambda r: r["bits"])
    for res in results:
        if res.get("speed") and not base.get("speed"):
            base["speed"], base["speed_bits"] = res["speed"], res["speed_bits"]
    base["provenance"] = provenance
    base["parts_provenance"] = {p: res["provenance"] for p, res in zip(parts, results)}
    base["wall_seconds"] = max(res["wall_seconds"] for res in results)
    base["peak_memory_mib"] = max(res["peak_memory_mib"] for res in results)
    base["merged_from"] = list(parts)
    return base


def seed_cells(runs: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per bit length: seeds, the final mAP per direction per seed, mean and sample std (None for one seed), and
    each run's budget (the offline teacher's epochs run / kept / stop reason, its cap, the warm start's kept epoch)."""
    cells: dict[int, dict[str, Any]] = {}
    for bits in sorted({r["bits"] for r in runs}):
        rs = sorted((r for r in runs if r["bits"] == bits), key=lambda r: r["seed"])
        vals = {d: [r["final"][d]["map_all"] for r in rs] for d in DIRS}
        cells[bits] = {"seeds": [r["seed"] for r in rs], **{d: vals[d] for d in DIRS},
                       **{f"{d}_mean": float(np.mean(vals[d])) for d in DIRS},
                       **{f"{d}_std": float(sample_std(np.asarray(vals[d]))) if len(rs) > 1 else None for d in DIRS},
                       "teacher": [{k: r["teacher"][k] for k in ("epochs_run", "kept_epoch", "stop_reason")} for r in rs],
                       "warm_start_kept_epoch": [(r.get("image_init") or {}).get("pretrain_kept_epoch") for r in rs],
                       "teacher_epochs_cap": sorted({r["config"]["teacher_epochs"] for r in rs})}
    return cells


def seeds_markdown(cells: dict[int, dict[str, Any]], parts: Sequence[str], prov: dict[str, Any], teacher: str) -> str:
    """The table of :func:`seed_cells`: one row per bit length, mean ± sample std (n), the budget per run."""

    def fmt(c: dict[str, Any], d: str) -> str:
        return f"{c[f'{d}_mean']:.3f}" + (f" ± {c[f'{d}_std']:.3f}" if c[f"{d}_std"] is not None else "") + f" (n={len(c['seeds'])})"

    md = [f"# LCDH on {prov['dataset']} (teacher `{teacher}`): mean ± sample std over seeds", "",
          f"From {', '.join(f'`{p}.json`' for p in parts)} (one seed each; split `{prov['split_hash']}`). mAP@all, "
          "split.query vs the frozen stream codes of split.retrieval. Budget per run: the offline teacher's cap, epochs run "
          "and stop reason; the online student trains a fixed number of epochs per chunk (no model selection).", "",
          "| bits | i2t | t2i | seeds | teacher: cap, ran, stopped on its own | warm start kept epoch |", "|---|---|---|---|---|---|"]
    for bits, c in cells.items():
        own = sum("exhausted" not in t["stop_reason"] for t in c["teacher"])
        md.append(f"| {bits} | {fmt(c, 'i2t')} | {fmt(c, 't2i')} | {c['seeds']} | cap {c['teacher_epochs_cap']}, ran "
                  f"{sorted({t['epochs_run'] for t in c['teacher']})}, {own}/{len(c['teacher'])} | {c['warm_start_kept_epoch']} |")
    return "\n".join(md) + "\n"


def seeds_plot(cells: dict[int, dict[str, Any]], dataset: str):
    """A ``plot(path)`` of mean ± sample std against bits, one dot per seed."""

    def draw(path: Path) -> None:
        with figure(path, figsize=(6, 3.8)) as (fig, ax):
            xs = list(cells)
            for d, col in zip(DIRS, ("tab:blue", "tab:orange")):
                ax.errorbar(xs, [cells[b][f"{d}_mean"] for b in xs], yerr=[cells[b][f"{d}_std"] or 0 for b in xs],
                            color=col, marker="o", capsize=3, label=f"{d} (mean ± sample std)")
                for b in xs:
                    ax.plot([b] * len(cells[b][d]), cells[b][d], "k.", ms=3)
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [str(b) for b in xs])
            ax.set_xlabel("bits")
            ax.set_ylabel("mAP@all")
            ax.set_title(f"LCDH on {dataset}, dots: seeds", fontsize=10)
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)

    return draw
