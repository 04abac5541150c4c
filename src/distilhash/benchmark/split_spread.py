"""The same suite cells over several splits (``bench/openclipart_splits.py``): what a new split and teacher fit moves.

Usage::

    by_suite = {s: load_runs(s) for s in ("openclipart-grouped", "openclipart-grouped-split1")}
    cells, facts = summarise(by_suite), split_facts(by_suite)
    text = markdown(cells, facts); plot(cells, path)

A cell (method label, bits) is kept only when every suite has it: mAP@all over all its runs (method
seeds x splits, mean ± sample std), the per-split means and their sample std, the budget range and
the bytes per item (:mod:`distilhash.benchmark.report_budget`). ``split_facts`` gives per suite the
split hash and seed, the teacher's fingerprint, the exact chance and the float teacher's ratio to it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.report_budget import budget_cell, bytes_cell
from distilhash.benchmark.results import results_dir
from distilhash.eval.spread import mean_std, sample_std

__all__ = ["load_runs", "summarise", "split_facts", "markdown", "plot"]

DIRS = ("i2t", "t2i")


def load_runs(suite: str, root: Path | None = None) -> list[dict[str, Any]]:
    """The ok run records of ``suite`` (its folder under bench/results)."""
    folder = results_dir(suite, root)
    out = []
    for f in sorted(folder.glob("*.json")):
        rec = json.loads(f.read_text())
        if rec.get("status") == "ok" and rec.get("schema", "").startswith("distilhash.bench.run"):
            out.append(rec)
    return out


def summarise(by_suite: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Cells present in every suite: overall and per-split figures, budgets, bytes."""
    cells: dict[tuple[str, Any], dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for suite, runs in by_suite.items():
        for r in runs:
            cells[r["spec"]["label"], r["spec"]["bits"]].setdefault(suite, []).append(r)
    out: dict[str, Any] = {}
    for (label, bits), per_suite in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if set(per_suite) != set(by_suite):
            continue
        runs = [r for s in by_suite for r in per_suite[s]]
        cell: dict[str, Any] = {"label": label, "bits": bits, "runs": len(runs),
                                "budget": budget_cell(runs), "bytes_per_item": bytes_cell(runs[0])}
        for d in DIRS:
            split_means = [float(np.mean([r["metrics"][d]["map_all"] for r in per_suite[s]])) for s in by_suite]
            cell[d] = {"all_runs": mean_std(r["metrics"][d]["map_all"] for r in runs),
                       "split_means": split_means, "std_over_splits": sample_std(split_means)}
        out[f"{label}@{bits or 'float'}"] = cell
    return out


def split_facts(by_suite: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per suite: split hash, teacher fingerprint, chance, teacher mAP and its ratio to chance."""
    facts = []
    for suite, runs in by_suite.items():
        r0 = runs[0]
        teacher = next((r for r in runs if r["spec"]["label"] == "float-teacher"), None)
        ch = r0["chance"]["map_all_random_ranking"]
        row = {"suite": suite, "split_hash": r0["dataset"]["split_hash"], "split_seed": r0["dataset"]["split_seed"],
               "teacher_fingerprint": r0["teacher_identity"]["fingerprint"], "chance": ch}
        if teacher:
            for d in DIRS:
                row[f"teacher_{d}"] = teacher["metrics"][d]["map_all"]
                row[f"teacher_{d}_x_chance"] = teacher["metrics"][d]["map_all"] / ch
        facts.append(row)
    return facts


def _fmt(s: dict[str, Any]) -> str:
    return f"{s['mean']:.3f}±{s['std']:.3f}" if s.get("std") is not None else f"{s['mean']:.3f}"


def markdown(cells: dict[str, Any], facts: list[dict[str, Any]]) -> str:
    """The split table (hash, teacher fingerprint, chance, teacher ratio) and one row per cell."""
    lines = ["# openclipart headline cells over 3 grouped splits (each with its own teacher fit) x 3 method seeds", "",
             "mAP@all, split.query vs split.retrieval, image->text / text->image. `all runs`: mean ± sample std over "
             "every run (method seeds x splits and teacher fits); `over splits`: the sample std of the three split means "
             "(what a new split and teacher fit moves). Budgets: ranges over all runs.", "",
             "| split seed | split | teacher fingerprint | chance (exact) | teacher i2t / t2i | x chance |", "|---|---|---|---|---|---|"]
    for f in facts:
        t = (f"{f['teacher_i2t']:.3f} / {f['teacher_t2i']:.3f}", f"{f['teacher_i2t_x_chance']:.2f} / {f['teacher_t2i_x_chance']:.2f}") \
            if "teacher_i2t" in f else ("—", "—")
        lines.append(f"| {f['split_seed']} | `{f['split_hash']}` | `{f['teacher_fingerprint']}` | {f['chance']:.4f} | {t[0]} | {t[1]} |")
    lines += ["", "| method | bits | runs | all runs i2t / t2i | split means i2t | split means t2i | std over splits i2t / t2i "
              "| bytes/item (with codebooks) | budget |", "|---|---|---|---|---|---|---|---|---|"]
    for c in cells.values():
        so = [c[d]["std_over_splits"] for d in DIRS]
        lines.append(
            f"| {c['label']} | {c['bits'] or 'float'} | {c['runs']} | {_fmt(c['i2t']['all_runs'])} / {_fmt(c['t2i']['all_runs'])} | "
            + " ".join(f"{v:.3f}" for v in c["i2t"]["split_means"]) + " | " + " ".join(f"{v:.3f}" for v in c["t2i"]["split_means"])
            + f" | {so[0]:.3f} / {so[1]:.3f} | {c['bytes_per_item']} | {c['budget']} |")
    return "\n".join(lines) + "\n"


def plot(cells: dict[str, Any], path: Path) -> None:
    """Per cell: mean ± sample std over all runs (o) and the split means (x), both directions."""
    labels = list(cells)
    with figure(path, 1, 2, figsize=(11, 4), sharey=True) as (fig, axes):
        for ax, d in zip(axes, DIRS):
            for i, key in enumerate(labels):
                c = cells[key][d]
                ax.errorbar([i], [c["all_runs"]["mean"]], yerr=[c["all_runs"]["std"] or 0.0], fmt="o", capsize=3, color="C0")
                ax.scatter([i] * len(c["split_means"]), c["split_means"], marker="x", color="C1", zorder=3)
            ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
            ax.set_title(f"mAP@all {d}: mean ± sample std (o), split means (x)")
            ax.grid(alpha=0.3)
