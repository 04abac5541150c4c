"""The openclipart headline cells over splits and teacher fits: 3 grouped splits x 3 method seeds.

Reads the run records of the suites ``openclipart-grouped`` (split seed 0) and
``openclipart-grouped-split1`` / ``-split2`` (split seeds 1, 2; each split with its own teacher fit)
and writes, per (method, bits) cell present in every suite: the mean ± sample std over all runs
(method seeds x splits), the per-split means and their sample std (what a new split and teacher
fit moves), the chance of each split, the teacher ratios, and each cell's budget and stop flags.
Nothing is trained here. ``python bench/openclipart_splits.py`` writes
``bench/results/openclipart_splits/openclipart_splits.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.report_budget import budget_cell, bytes_cell
from distilhash.benchmark.results import results_dir, write_results
from distilhash.eval.spread import mean_std, sample_std

BENCH = "openclipart_splits"
SUITES = ("openclipart-grouped", "openclipart-grouped-split1", "openclipart-grouped-split2")
DIRS = ("i2t", "t2i")


def load_runs(suite: str) -> list[dict[str, Any]]:
    """The ok run records of ``suite`` (its folder under bench/results)."""
    folder = results_dir(suite)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-name", default=BENCH)
    args = ap.parse_args()
    by_suite = {s: load_runs(s) for s in SUITES}
    missing = [s for s, runs in by_suite.items() if not runs]
    if missing:
        raise SystemExit(f"no run records for {missing}: run `distilhash bench SUITE` first")
    prov = collect_provenance(BENCH, args.out_name, seeds=sorted({r["seed"] for rs in by_suite.values() for r in rs}),
                              model_selection="as recorded by each run (split.val only); this script trains nothing",
                              dataset="openclipart", command="python bench/openclipart_splits.py",
                              split_hash=",".join(r[0]["dataset"]["split_hash"] for r in by_suite.values()),
                              root=Path(__file__).resolve().parents[1])
    cells, facts = summarise(by_suite), split_facts(by_suite)
    result = {"provenance": prov, "suites": list(SUITES), "splits": facts, "cells": cells,
              "runs_per_suite": {s: len(r) for s, r in by_suite.items()}}
    paths = write_results(BENCH, args.out_name, result, markdown(cells, facts), lambda p: plot(cells, p))
    print(paths["md"])


if __name__ == "__main__":
    main()
