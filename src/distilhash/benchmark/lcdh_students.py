"""The LCDH image-student grid's report (``bench/lcdh_lite0.py``): cells over seeds, tables, per-chunk curves.

Usage::

    summary = summarize(results / "lcdh_lite0", "openclipart", STUDENTS)  # reads <out>/runs/<dataset>__*.json
    runs = summary.pop("_runs")
    text = markdown(summary); plot_curves({**summary, "_runs": runs}, path)

Each run record is one :func:`distilhash.benchmark.online_stream.run_online` result with the grid's
fields (``student``, ``split_hash``, ``overrides``, ``command``, ``selection``, ``provenance``).
A cell (student x bits) holds mean ± sample std over its seeds (0.0 for one seed, the count says
so) of the final mAP@all and of the mean over chunks, both directions. ``speed_markdown`` is the
table of a ``--speed`` record (best of interleaved rounds per encoder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.errors import ConfigError

__all__ = ["summarize", "markdown", "speed_markdown", "plot_curves"]

DIRS = ("i2t", "t2i")


def _mean_std(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": int(len(v))}


def summarize(out: Path, dataset: str, students: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The cells (student x bits: final and mean-over-chunks mAP, mean ± sample std over seeds; absorb and fit
    seconds; parameters; loads; commits) of the runs ``out/runs/<dataset>__*.json``, with ``out/speed_<dataset>.json``."""
    runs = [json.loads(p.read_text()) for p in sorted((out / "runs").glob(f"{dataset}__*.json"))]
    if not runs:
        raise ConfigError(f"no runs under {out / 'runs'} for {dataset}: run the grid first")
    cells: dict[str, dict[str, Any]] = {}
    for student in dict.fromkeys(r["student"] for r in runs):
        for bits in sorted({r["bits"] for r in runs if r["student"] == student}):
            rs = [r for r in runs if r["student"] == student and r["bits"] == bits]
            cells.setdefault(student, {})[str(bits)] = {
                "seeds": [r["seed"] for r in rs],
                **{d: _mean_std([r["final"][d]["map_all"] for r in rs]) for d in DIRS},
                **{f"{d}_mean_over_chunks": _mean_std([r["mean_over_chunks"][d] for r in rs]) for d in DIRS},
                "absorb_seconds_mean": float(np.mean([r["absorb_seconds"]["mean"] for r in rs])),
                "fit_seconds_mean": float(np.mean([r["fit_seconds"] for r in rs])),
                "parameters": rs[0]["parameters"], "image_init": rs[0].get("image_init"),
                "load_after": [r["provenance"]["load_after"] for r in rs],
                "commits": sorted({r["provenance"]["commit"] or "?" for r in rs}),
            }
    r0 = runs[0]
    words = r0["command"].split()
    teacher = r0.get("teacher_spec") or words[words.index("--teacher") + 1]  # runs before the key was added
    speed_path = out / f"speed_{dataset}.json"
    return {"dataset": dataset, "teacher": teacher, "offline_teacher": r0["teacher"], "split_hash": r0["split_hash"], "split_sizes": r0["split_sizes"],
            "commands": sorted({r["command"] for r in runs}), "selection": r0["selection"],
            "common_options": {k: v for k, v in r0["overrides"].items() if k not in students.get(r0["student"], {})},
            "students": students, "cells": cells, "n_runs": len(runs),
            "speed": json.loads(speed_path.read_text()) if speed_path.is_file() else None, "_runs": runs}


def plot_curves(summary: dict[str, Any], path: Path) -> None:
    """Online mAP after each chunk (mean over seeds; band = min..max at 64 bits), both students, every bit length."""
    runs = summary["_runs"]
    bits_all = sorted({r["bits"] for r in runs})
    with figure(path, 1, 2, sharey=True, figsize=(12, 4.6)) as (fig, axes):
        colors = {"small-cnn": "tab:blue", "lite0": "tab:red"}
        styles = dict(zip([16, 32, 64, 128], [":", "-.", "-", "--"]))
        for ax, d in zip(axes, DIRS):
            for student in summary["cells"]:
                for bits in bits_all:
                    rs = [r for r in runs if r["student"] == student and r["bits"] == bits]
                    if not rs:
                        continue
                    n = min(len(r["chunks"]) for r in rs)
                    x = [rs[0]["chunks"][k]["stored"] for k in range(n)]
                    y = np.array([[r["chunks"][k][d] for k in range(n)] for r in rs])
                    ax.plot(x, y.mean(0), styles.get(bits, "-"), color=colors.get(student, "k"), marker="o", ms=2.5,
                            lw=2.2 if bits == 64 else 1.0, alpha=1.0 if bits == 64 else 0.7,
                            label=f"{student}, {bits} bits ({len(rs)} seed{'s' if len(rs) > 1 else ''})")
                    if len(rs) > 1 and bits == 64:
                        ax.fill_between(x, y.min(0), y.max(0), color=colors.get(student, "k"), alpha=0.08)
            ax.set_title("image -> text" if d == "i2t" else "text -> image")
            ax.set_xlabel("split.retrieval items streamed")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("mAP@all: split.query (current student) vs codes stored so far")
        axes[1].legend(fontsize=7, ncol=2)
        fig.suptitle(f"LCDH online stream on {summary['dataset']}: small CNN vs ImageNet Lite0 image student "
                     f"(teacher {summary['teacher']})", fontsize=10)


def markdown(summary: dict[str, Any]) -> str:
    cells, ds = summary["cells"], summary["dataset"]
    bits_all = sorted({int(b) for c in cells.values() for b in c})
    fmt = lambda c: f"{c['mean']:.4f} ± {c['std']:.4f}" + ("" if c["n"] == 3 else f" [{c['n']}]")  # noqa: E731
    lines = [f"# LCDH image students on {ds}: small CNN vs ImageNet-pretrained EfficientNet-Lite0", "",
             f"Teacher `{summary['teacher']}`, split `{summary['split_hash']}` {summary['split_sizes']}. "
             f"Commands: {'; '.join(f'`{c}`' for c in summary['commands'])}. {summary['n_runs']} runs.", "",
             f"Options common to both: `{json.dumps(summary['common_options'])}`; student presets: "
             f"`{json.dumps(summary['students'])}`. Model selection: {summary['selection']} (sweep: `val_sweep.md`).",
             "Cells: mean ± sample std over seeds 0, 1, 2 (a number in brackets = seeds run). Database = the frozen "
             "stream codes, queries = the final student; the text student (BoW) is the same in both.", ""]
    for d, title in (("i2t", "image → text"), ("t2i", "text → image")):
        lines += [f"## mAP@all, {title}", "", "| student | " + " | ".join(f"{b} bits" for b in bits_all) + " |",
                  "|---|" + "---|" * len(bits_all)]
        for student, by_bits in cells.items():
            lines.append(f"| {student} | " + " | ".join(fmt(by_bits[str(b)][d]) if str(b) in by_bits else "—"
                                                    for b in bits_all) + " |")
        lines.append("")
    lines += ["## Mean over chunks of the online mAP (i2t / t2i), absorb time per chunk, fit time", "",
              "| student | bits | mean over chunks i2t | t2i | absorb s/chunk | fit s | image params (frozen / trained) |",
              "|---|---|---|---|---|---|---|"]
    for student, by_bits in cells.items():
        for b in bits_all:
            c = by_bits.get(str(b))
            if c is None:
                continue
            ii = c.get("image_init") or {}
            split_params = (f"{ii['frozen']:,} / {ii['trainable']:,} + FC" if "frozen" in ii
                            else f"{c['parameters']['student_image']:,} (all trained)")
            lines.append(f"| {student} | {b} | {fmt(c['i2t_mean_over_chunks'])} | {fmt(c['t2i_mean_over_chunks'])} | "
                         f"{c['absorb_seconds_mean']:.1f} | {c['fit_seconds_mean']:.0f} | {split_params} |")
    loads = [la[0] for c in cells.values() for cc in c.values() for la in cc["load_after"]]
    lines += ["", f"Machine: 2 cores shared with other engineers' jobs, one thread per run; 1-min load average at the "
              f"end of the runs {min(loads):.1f}-{max(loads):.1f}, so the seconds are indicative.", ""]
    if summary.get("speed"):
        lines += [speed_markdown(summary["speed"]), ""]
    lines += [f"Per-chunk curves: `{ds}.png` (mean over seeds; band = min..max over seeds at 64 bits); every run's chunks, "
              "loss terms, timings and provenance: `runs/`. Produced by `bench/lcdh_lite0.py` (named `bench/lcdh_students.py` "
              "when the runs were made, as their commands say)."]
    return "\n".join(lines) + "\n"


def speed_markdown(sp: dict[str, Any]) -> str:
    """The encode-speed table of a ``--speed`` record."""
    la = [x[0] for x in sp["load_per_round"]]
    lines = [f"## Image encode speed, one thread ({sp['bits']}-bit models, best of {sp['rounds']} interleaved rounds)",
             "", f"Command: `{sp['command']}`; load average per round {min(la):.1f}-{max(la):.1f}. {sp['note']}.", "",
             "| encoder | images/s (best round) | median round | speed-up vs teacher (best / best) |", "|---|---|---|---|"]
    for k, v in sp["best_images_per_s"].items():
        r = sp["speedup_vs_teacher"].get(k)
        lines.append(f"| {k} | {v:,.0f} | {sp['median_images_per_s'][k]:,.0f} | {'—' if r is None else f'{r:.1f}x'} |")
    return "\n".join(lines)
