"""Arms x seeds of one method, summarised (``bench/dcmq_trainable.py``): mAP per arm over seeds, budgets, the table.

Usage::

    runs = [clean(json.loads(p.read_text())) for p in sorted(raw.glob("*__s*.json"))]
    arms, rows = arm_rows(runs, ["frozen", "trainable"])      # per arm: seeds, mAP per direction per seed, ...
    lines = [*HEADER, *rows]; plot = arms_plot(arms, "title")   # markdown table rows; a plot(path)
    text = summary_markdown("openclipart, TEACHER", selection, ARMS, BUDGET, (n_query, n_db), rows, timing)

A run record holds ``arm``, ``seed``, ``config``, ``map_all`` (per direction), ``val_map_at_kept``
(``mean``), ``kept_epoch``, ``epoch_seconds``, ``fit_seconds``, ``load_after`` and optionally
``threads`` and ``fit_info.budget`` (cap, epochs run, stopped early). Spreads are the sample std.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.grid import arm_bars
from distilhash.eval.spread import mean_std

__all__ = ["HEADER", "RENAMED", "clean", "arm_rows", "arms_plot", "summary_markdown"]

#: old raw-record key spellings -> the harness's (records written before the harness existed)
RENAMED = {"loadavg_start": "load_before", "loadavg_end": "load_after"}
HEADER = ["| arm | seeds | mAP i2t | mAP t2i | val mAP (kept epoch) | kept epochs | budget | s / epoch | threads | load |",
          "|---|---|---|---|---|---|---|---|---|---|"]


def _ms(vals) -> str:
    s = mean_std(vals)
    return f"{s['mean']:.4f}±{s['std']:.4f}" if s["n"] > 1 else f"{s['mean']:.4f} (1 seed)"


def arms_plot(summary: dict, title: str):
    """Bar chart of mAP@all per arm, both directions, one dot per seed."""

    def draw(path: Path) -> None:
        with figure(path, figsize=(1.6 * len(summary) + 2, 3.8)) as (fig, ax):
            arm_bars(ax, summary, "mAP@all (split.query vs split.retrieval)")
            ax.set_title(title, fontsize=10)
            ax.legend(fontsize=8)

    return draw


def clean(rec: dict) -> dict:
    """A raw record in the harness's spelling (key names only; no value changes); machine details dropped."""
    out = {RENAMED.get(k, k): v for k, v in rec.items() if k not in ("machine", "model_selection")}
    if isinstance(out.get("git"), dict):
        g = out.pop("git")
        out["commit"], out["dirty"] = g.get("commit"), g.get("dirty_src")
    return out


def _budget_cell(rs: list[dict]) -> str:
    """``cap C, ran a-b, stopped early k/n`` from the runs' budget records (``—`` for runs that predate them)."""
    b = [r.get("fit_info", {}).get("budget") for r in rs]
    if not all(b):
        return "—"
    ran = sorted(x["epochs_run"] for x in b)
    return (f"cap {sorted({x['cap'] for x in b})}, ran {ran[0]}–{ran[-1]}, "
            f"stopped early {sum(bool(x['stopped_early']) for x in b)}/{len(b)}")


def arm_rows(runs: list[dict[str, Any]], arms: list[str]) -> tuple[dict[str, Any], list[str]]:
    """``(summary per arm, markdown rows)`` of the runs of each arm in ``arms`` (arms without runs left out)."""
    rows, summary = [], {}
    for arm in arms:
        rs = [r for r in runs if r["arm"] == arm]
        if not rs:
            continue
        i2t, t2i = [r["map_all"]["i2t"] for r in rs], [r["map_all"]["t2i"] for r in rs]
        ep = [s for r in rs for s in r["epoch_seconds"]]
        vm = [r["val_map_at_kept"]["mean"] for r in rs]
        summary[arm] = {"config": rs[0]["config"], "seeds": [r["seed"] for r in rs], "i2t": i2t, "t2i": t2i,
                        "val_mean_at_kept": vm, "kept_epochs": [r["kept_epoch"] for r in rs],
                        "epoch_seconds_mean": float(np.mean(ep)), "fit_seconds": [r["fit_seconds"] for r in rs]}
        rows.append(f"| {arm} | {len(rs)} | {_ms(i2t)} | {_ms(t2i)} | {_ms(vm)} | {[r['kept_epoch'] for r in rs]} | "
                    f"{_budget_cell(rs)} | {np.mean(ep):.0f} | {sorted({r.get('threads', 2) for r in rs})} | "
                    + ", ".join("%.1f" % r["load_after"][0] for r in rs) + " |")
    return summary, rows


def summary_markdown(setting: str, selection: str, arms: dict[str, dict[str, Any]], budget: dict[str, Any],
                     sizes: tuple[int, int], rows: list[str], timing: dict[str, dict[str, Any]]) -> str:
    """The DCMQ trainable-encoder summary: setting (dataset, teacher), the arms' schedules, the arm table (``rows``
    from :func:`arm_rows`) for ``sizes`` = (queries, database items), then each timing record (epoch, encode) as JSON."""
    md = [f"# DCMQ 64 bits: trainable student encoders vs frozen teacher features ({setting})", "",
          f"Model selection: {selection}. Trainable, student-inputs-frozen and frozen-budget arms: {budget}; "
          f"trainable-long: {arms['trainable-long']}; trainable-es: {arms['trainable-es']} + the DCMQ defaults of the run "
          "(its config in the JSON: cap `epochs`, `patience`, `warmup_epochs`); frozen: the DCMQ defaults of the run. "
          "Budget column: cap, epochs run (warm-up excluded) and how many runs stopped on their own (patience) before the cap.",
          f"mAP@all on split.query ({sizes[0]}) vs split.retrieval ({sizes[1]}); mean ± std over seeds. Seconds per epoch: wall "
          "time at the run's torch threads (column) on a machine shared with other jobs (1-minute load at each run's end listed).", "",
          *HEADER, *rows, ""]
    keep = ("epoch_seconds", "epoch_cpu_seconds", "seconds_per_item", "load_before", "load_after")
    for part, rec in timing.items():
        md += [f"## {part}", "", "```", json.dumps({k: rec[k] for k in rec if k in keep}, indent=1), "```", ""]
    return "\n".join(md)
