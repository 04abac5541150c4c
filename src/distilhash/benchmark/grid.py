"""A grid of runs for a bench script: jobs as data, one stored JSON per run, cells of mean ± sample std.

Usage::

    jobs = [Job("dcmq", "dcmq", {}, bits, seed) for seed in (0, 1, 2) for bits in (32, 64)]
    ok, failed = run_grid(jobs, store=lambda j: out / f"{j.label}__{j.bits}__s{j.seed}.json", run=fit_one)
    cells = seed_cells(ok, metrics=("map_all",))      # {label: {"64": {"map_all": {"i2t": {mean, std, n}}}}}
    lines = bits_table(cells, ["dcmq"], [32, 64])     # a markdown table, "i2t / t2i" per cell

:func:`run_grid` runs every job once (a repeated ``(label, bits, seed)`` is run once), stores each
record as it finishes (an existing file is read back unless ``force``, so an interrupted grid
resumes), and records an exception as a failed job instead of stopping the grid. A record is the
dict ``run(job)`` returns; the grid adds nothing to it. Spreads are the sample std
(:func:`distilhash.eval.spread.mean_std`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.eval.spread import mean_std

__all__ = ["DIRECTIONS", "Job", "run_grid", "seed_cells", "cell_text", "bits_table", "bits_errorbars", "arm_bars"]

DIRECTIONS = ("i2t", "t2i")


@dataclass(frozen=True)
class Job:
    """One run: a row ``label`` of the tables, the registered ``method`` with ``config``, at ``bits`` and ``seed``."""

    label: str
    method: str
    config: dict[str, Any] = field(default_factory=dict, hash=False)
    bits: int = 64
    seed: int = 0


def run_grid(jobs: Iterable[Job], store: Callable[[Job], Path], run: Callable[[Job], dict[str, Any]], *,
             skip: Sequence[str] = (), force: bool = False, stored_only: bool = False,
             log: Callable[[str], Any] = print) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(records, failed)`` of the jobs in order; ``stored_only``: read the stored records, run nothing.

    ``store(job)`` is the record's JSON path; labels in ``skip`` are left out; a failed job gives
    ``{"label", "bits", "seed", "failed": repr(exc)}`` and is not stored.
    """
    records: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    seen: set[tuple[str, int, int]] = set()
    for job in jobs:
        key = (job.label, job.bits, job.seed)
        if key in seen or job.label in skip:
            continue
        seen.add(key)
        path = store(job)
        if path.is_file() and (stored_only or not force):
            records.append(json.loads(path.read_text()))
            continue
        if stored_only:
            continue
        try:
            rec = run(job)
        except Exception as exc:  # noqa: BLE001 - recorded; the other jobs go on
            log(f"FAILED {job.label} {job.bits} bits seed {job.seed}: {exc!r}")
            failed.append({"label": job.label, "bits": job.bits, "seed": job.seed, "failed": repr(exc)})
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec, indent=1, default=float) + "\n")
        records.append(rec)
    return records, failed


def seed_cells(records: Iterable[dict[str, Any]], metrics: Sequence[str] = ("map_all",), *,
               row: Callable[[dict[str, Any]], str] = lambda r: r["label"],
               col: Callable[[dict[str, Any]], str] = lambda r: str(r["bits"]),
               value: Callable[[dict[str, Any], str, str], float] = lambda r, m, d: r[m][d],
               one_run_std: float | None = None,
               extra: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``{row: {col: {metric: {direction: {"mean", "std", "n"}}, **extra(runs)}}}`` over the records
    of each cell (rows and columns in order of first appearance). ``value(record, metric, direction)``
    reads one figure; ``one_run_std`` stands for the missing spread of a one-run cell (None: none)."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in records:
        groups.setdefault(row(r), {}).setdefault(col(r), []).append(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for label, by_col in groups.items():
        for c, runs in by_col.items():
            cell: dict[str, Any] = {}
            for m in metrics:
                cell[m] = {}
                for d in DIRECTIONS:
                    s = mean_std([value(r, m, d) for r in runs])
                    cell[m][d] = {**s, "std": one_run_std if s["std"] is None else s["std"]}
            out.setdefault(label, {})[c] = {**cell, **(extra(runs) if extra else {})}
    return out


def cell_text(by_direction: dict[str, dict[str, Any]], digits: int = 4, sep: str = "±") -> str:
    """``"0.5000±0.0100 / 0.6000±0.0200"`` (i2t / t2i) of one metric of a cell; no spread shown when it is None."""
    def one(s: dict[str, Any]) -> str:
        return f"{s['mean']:.{digits}f}" + ("" if s["std"] is None else f"{sep}{s['std']:.{digits}f}")

    return " / ".join(one(by_direction[d]) for d in DIRECTIONS)


def bits_table(cells: dict[str, dict[str, Any]], rows: Sequence[str], bits: Sequence[int], metric: str = "map_all",
               first: str = "method") -> list[str]:
    """Markdown lines: one row per label of ``rows`` present in ``cells``, one column per bit length; a
    label with a single column (a float method) fills every column with it, a missing cell is empty."""
    lines = [f"| {first} | " + " | ".join(f"{b} bits" for b in bits) + " |", "|---|" + "---|" * len(bits)]
    for label in rows:
        if label not in cells:
            continue
        by_bits = cells[label]
        only = next(iter(by_bits.values())) if len(by_bits) == 1 else None
        lines.append("| " + " | ".join([label, *(cell_text(c[metric]) if (c := by_bits.get(str(b), only)) else ""
                                                   for b in bits)]) + " |")
    return lines


def bits_errorbars(ax: Any, cells: dict[str, dict[str, Any]], rows: Sequence[str], bits: Sequence[int], direction: str,
                   metric: str = "map_all", flat: Sequence[tuple[str, str]] = ()) -> None:
    """On ``ax``: mean ± std of ``metric`` against bits (log 2 axis) per label of ``rows``; each ``(label,
    line style)`` of ``flat`` (a float method) as a horizontal line at its first cell."""
    for label in rows:
        if label not in cells:
            continue
        bs = [b for b in bits if str(b) in cells[label]]
        stats = [cells[label][str(b)][metric][direction] for b in bs]
        ax.errorbar(bs, [s["mean"] for s in stats], yerr=[s["std"] or 0.0 for s in stats], marker="o", label=label, capsize=3)
    for label, style in flat:
        if label in cells:
            ax.axhline(next(iter(cells[label].values()))[metric][direction]["mean"], ls=style, color="gray",
                       label=f"{label} (float)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(bits), [str(b) for b in bits])
    ax.set_xlabel("bits")
    ax.set_ylabel(metric.replace("map_all", "mAP@all"))


def arm_bars(ax: Any, values: dict[str, dict[str, list[float]]], ylabel: str = "mAP@all") -> None:
    """On ``ax``: per arm (``values[arm][direction]``: one figure per seed) a bar at the mean of each
    direction with a dot per seed; the y axis starts at 0.9 x the lowest seed."""
    arms = list(values)
    for j, (d, colour) in enumerate(zip(DIRECTIONS, ("tab:blue", "tab:orange"))):
        x = np.arange(len(arms)) + (j - 0.5) * 0.38
        ax.bar(x, [np.mean(values[a][d]) for a in arms], 0.36, color=colour, alpha=0.6, label=f"{d} (mean)")
        for xi, a in zip(x, arms):
            ax.plot([xi] * len(values[a][d]), values[a][d], "k.", ms=4)
    ax.set_xticks(np.arange(len(arms)), arms, rotation=15)
    ax.set_ylim(min(min(values[a][d]) for a in arms for d in DIRECTIONS) * 0.9, None)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
