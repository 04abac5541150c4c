"""Stored suite runs grouped by cell, and a cell's spread as text: what the scripts comparing suites read and print.

Usage::

    cells = runs_by_cell("openclipart-grouped")                 # (label, bits) -> the ok run records
    named = runs_by_cell("open-vocab", key=cell_name)           # "dcmq 64 bits" / "float-teacher" -> records
    spread_text(mean_std(map_values(cells["dcmq", 64], "i2t")))  # "0.512 ± 0.004", "(n=2)" when not 3 runs

A run counts when its record says ``"status": "ok"`` and holds ``metrics``; records are read in
file-name order (``nested``: subfolders too, where labels with a ``/`` put theirs).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any

from distilhash.benchmark.results import results_dir

__all__ = ["runs_by_cell", "cell_key", "cell_name", "map_values", "spread_text"]


def cell_key(record: dict[str, Any]) -> tuple[str, int | None]:
    """``(label, bits)`` of a run record (bits None for float methods)."""
    return record["spec"]["label"], record["spec"]["bits"]


def cell_name(record: dict[str, Any]) -> str:
    """``"<label> <bits> bits"``, or the bare label for float methods."""
    label, bits = cell_key(record)
    return label if bits is None else f"{label} {bits} bits"


def runs_by_cell(suite: str, root: Path | None = None, *, key: Callable[[dict[str, Any]], Hashable] = cell_key,
                 nested: bool = False) -> dict[Any, list[dict[str, Any]]]:
    """``key(record)`` -> the ok run records of ``suite`` (``bench/results/<suite>/*.json``) in that cell."""
    folder = results_dir(suite, root)
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for f in sorted(folder.rglob("*.json") if nested else folder.glob("*.json")):
        r = json.loads(f.read_text())
        if r.get("status") == "ok" and "metrics" in r:
            out[key(r)].append(r)
    return out


def map_values(records: Iterable[dict[str, Any]], direction: str) -> list[float]:
    """mAP@all of ``records`` in ``direction`` ("i2t" / "t2i")."""
    return [r["metrics"][direction]["map_all"] for r in records]


def spread_text(s: dict[str, Any] | None, n_expected: int = 3) -> str:
    """``{"mean", "std", "n"}`` (:func:`distilhash.eval.spread.mean_std`) as ``0.512 ± 0.004`` (3 decimals), no std
    below two values, ``(n=N)`` when N is not ``n_expected``; ``—`` for no values."""
    if not s or not s["n"]:
        return "—"
    return f"{s['mean']:.3f}" + (f" ± {s['std']:.3f}" if s["std"] is not None else "") + (f" (n={s['n']})" if s["n"] != n_expected else "")
