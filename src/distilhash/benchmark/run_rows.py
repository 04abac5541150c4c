"""Rows of trained runs for the bench scripts that compare configurations over seeds.

``--row "LABEL=RUN_s0,RUN_s1,RUN_s2"`` (one configuration, its seeds' run directories) is parsed by
:func:`parse_row`; :func:`mean_std` is the mean and the sample standard deviation over seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import ConfigError

__all__ = ["parse_row", "mean_std", "summarise_rows", "write_rows"]


def parse_row(arg: str) -> tuple[str, list[Path]]:
    """``"LABEL=RUN[,RUN...]"`` -> ``(LABEL, [RUN, ...])``.

    Raises:
        ConfigError: no ``=`` or no run in the argument.
    """
    label, sep, runs = arg.rpartition("=")
    paths = [Path(r.strip()) for r in runs.split(",") if r.strip()]
    if not sep or not label.strip() or not paths:
        raise ConfigError(f"--row {arg!r}: expected LABEL=RUN[,RUN...]")
    return label.strip(), paths


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (ddof 1; 0 for a single value) of ``values``."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), (float(a.std(ddof=1)) if len(a) > 1 else 0.0)


def summarise_rows(row_args: list[str], summarise: Callable[[list[Path]], dict[str, Any]],
                   show: Callable[[str, dict[str, Any]], None]) -> dict[str, dict[str, Any]]:
    """``{label: summarise(runs)}`` for each ``"LABEL=RUN[,RUN...]"`` of ``row_args``, calling ``show(label, row)``
    after each row."""
    rows: dict[str, dict[str, Any]] = {}
    for arg in row_args:
        label, runs = parse_row(arg)
        rows[label] = summarise(runs)
        show(label, rows[label])
    return rows


def write_rows(script: str, name: str, rows: dict[str, dict[str, Any]], model_selection: str,
               markdown: Callable[[dict[str, Any]], str], plot: Callable[[dict[str, Any], Path], None]) -> None:
    """Write ``bench/results/<script>/<name>.{json,md,png}``: the rows (each ``{"runs": [{"seed", "teacher", ...}]}``),
    their teacher and the provenance block (the openclipart split, the seeds, ``model_selection``)."""
    from distilhash.benchmark.provenance import collect_provenance
    from distilhash.benchmark.results import write_results
    from distilhash.data.store import open_prepared

    _, split = open_prepared("openclipart")
    prov = collect_provenance(script, name, split=split, dataset="openclipart",
                              seeds=sorted({r["seed"] for row in rows.values() for r in row["runs"]}),
                              model_selection=model_selection)
    result = {"provenance": prov, "teacher": next(iter(rows.values()))["runs"][0]["teacher"], "rows": rows}
    write_results(script, name, result, markdown(result), plot=lambda path: plot(result, path))
