"""The same methods on two teachers (``bench/teacher_rerun.py``): two suites that differ only in the teacher, cell by cell.

Usage::

    base, new = runs_by_cell("openclipart-grouped", nested=True), runs_by_cell("openclipart-grouped-224", nested=True)
    rows = cells(base, new); orders = method_orders(rows); p10 = teacher_p10(rows)
    text = markdown("openclipart-grouped", "openclipart-grouped-224", rows, orders, p10); plot(rows)(path)

Per method and bit length: label mAP@all of each suite (mean ± sample std over seeds) and the new
suite's budget; the new suite's open-vocabulary P@10 on the drawings and the emoji glyphs with each
method's share of the float teacher's; the order of the methods per bit length and direction under
each teacher.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.report_budget import budget_cell
from distilhash.benchmark.suite_cells import map_values, spread_text
from distilhash.eval.spread import mean_std

__all__ = ["DOMAINS", "cells", "method_orders", "teacher_p10", "markdown", "plot"]

DIRS = ("i2t", "t2i")
DOMAINS = ("openclipart", "emoji")

Cells = dict[tuple[str, int | None], list[dict[str, Any]]]


def cells(base: Cells, new: Cells) -> list[dict[str, Any]]:
    """One row per (label, bits) of either suite, float methods first then by bits."""
    rows = []
    for key in sorted(set(base) | set(new), key=lambda k: (k[1] or 0, k[0])):
        row: dict[str, Any] = {"label": key[0], "bits": key[1]}
        for side, recs in (("base", base.get(key, [])), ("new", new.get(key, []))):
            for d in DIRS:
                row[f"{side} {d}"] = mean_std(map_values(recs, d)) if recs else None
            row[f"{side} budget"] = budget_cell(recs) if recs else "—"
        for dom in DOMAINS:
            ps = [r["open_vocab"]["domains"][dom]["method"]["p_at"] for r in new.get(key, []) if "open_vocab" in r]
            row[f"p10 {dom}"] = mean_std(ps) if ps else None
        rows.append(row)
    return rows


def method_orders(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Per bit length and direction, the methods from best to worst under each teacher (both sides measured)."""
    out: dict[str, dict[str, list[str]]] = {}
    for bits in sorted({r["bits"] for r in rows if r["bits"] is not None}):
        cell = [r for r in rows if r["bits"] == bits and r["base i2t"] and r["new i2t"]]
        for d in DIRS:
            out[f"{bits} bits {d}"] = {side: [r["label"] for r in sorted(cell, key=lambda r: -r[f"{side} {d}"]["mean"])]
                                      for side in ("base", "new")}
    return out


def teacher_p10(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The float teacher's mean open-vocabulary P@10 per domain (where measured)."""
    teacher = next((r for r in rows if r["label"] == "float-teacher"), {})
    return {dom: teacher[f"p10 {dom}"]["mean"] for dom in DOMAINS if teacher.get(f"p10 {dom}")}


def markdown(base: str, new: str, rows: list[dict[str, Any]], orders: dict[str, dict[str, list[str]]],
             p10: dict[str, float]) -> str:
    """The cell table (mAP both suites, P@10 with the share of the teacher's, budget) and the order table."""
    lines = [f"# The same methods on two teachers: `{base}` vs `{new}`", "",
             "Label mAP@all (split.query vs split.retrieval), mean ± sample std over 3 method seeds; the two suites share the "
             "split, the captions, the early-stopping caps and the seeds; only the teacher differs. Open-vocabulary P@10 "
             "(176 nouns, relevance by title) is from the new suite, with the share of its float teacher's P@10.", "",
             "| method | bits | i2t base | i2t new | t2i base | t2i new | P@10 drawings (share) | P@10 emoji (share) | budget (new) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        shares = []
        for dom in DOMAINS:
            p = r[f"p10 {dom}"]
            shares.append("—" if p is None else f"{spread_text(p)} ({p['mean'] / p10[dom]:.2f}x)" if p10.get(dom) else spread_text(p))
        lines.append(f"| {r['label']} | {r['bits'] or 'float'} | {spread_text(r['base i2t'])} | {spread_text(r['new i2t'])} | "
                     f"{spread_text(r['base t2i'])} | {spread_text(r['new t2i'])} | {shares[0]} | {shares[1]} | {r['new budget']} |")
    lines += ["", "## Order of the methods (best first)", "", "| cell | base teacher | new teacher | same order |", "|---|---|---|---|"]
    for cell, o in orders.items():
        lines.append(f"| {cell} | {' > '.join(o['base'])} | {' > '.join(o['new'])} | {'yes' if o['base'] == o['new'] else 'no'} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]]) -> Callable[[Path], None]:
    """Bars of both teachers' mean ± sample std at 64 bits and float, one panel per direction."""
    keep = [r for r in rows if (r["bits"] in (None, 64)) and r["base i2t"] and r["new i2t"]]

    def draw(path: Path) -> None:
        with figure(path, 1, 2, figsize=(1.0 * len(keep) + 4, 4.2)) as (fig, axes):
            x = np.arange(len(keep))
            for ax, d in zip(axes, DIRS):
                for j, (side, colour) in enumerate((("base", "tab:blue"), ("new", "tab:orange"))):
                    ax.bar(x + (j - 0.5) * 0.38, [r[f"{side} {d}"]["mean"] for r in keep], 0.36, color=colour,
                           yerr=[r[f"{side} {d}"]["std"] or 0 for r in keep], capsize=2, label=f"{side} teacher")
                ax.set_xticks(x, [r["label"] for r in keep], rotation=30, fontsize=8)
                ax.set_title(f"{d}, 64 bits and float", fontsize=9)
                ax.set_ylabel("label mAP@all")
                ax.grid(axis="y", alpha=0.3)
            axes[0].legend(fontsize=8)

    return draw
