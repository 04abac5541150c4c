"""Repeated runs of the writes-under-load benchmark summarised per setting: mean ± sample std.

``bench/serve_writes.py --summarise RUN.json ...`` reads the runs' result files (each with its own
provenance) and groups them by the number of server processes and the writer's nice (and, with
``by_commit``, by the commit each run measured: an A/B of two versions run interleaved); per
setting the client-side figures of :data:`FIGURES` as mean ± sample std, each run's search p99,
the read-your-writes and verification counts summed, and the runs with their load averages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["FIGURES", "mean_std", "summarise_runs"]

#: (label, run field, key) of the figures averaged over the runs
FIGURES = [("all p50 ms", "all", "p50_ms"), ("all p99 ms", "all", "p99_ms"), ("req/s", "all", "throughput_rps"),
           ("search p50 ms", "search", "p50_ms"), ("search p99 ms", "search", "p99_ms"),
           ("add p50 ms", "add_ms", "p50_ms"), ("add p99 ms", "add_ms", "p99_ms"), ("adds", "add_ms", "count")]


def mean_std(xs: Sequence[float]) -> dict[str, Any]:
    """``{"mean", "std" (sample, ddof=1; None for one value), "n"}``, rounded to 0.1."""
    a = np.asarray(xs, dtype=float)
    return {"mean": round(float(a.mean()), 1), "std": round(float(a.std(ddof=1)), 1) if len(a) > 1 else None, "n": len(a)}


def _checks(runs: list[dict[str, Any]]) -> dict[str, int]:
    """The verification counts summed over ``runs`` (errors, stale read-backs, missing adds, deletes not gone)."""
    return {"errors": sum(r["all"]["errors"] for r in runs),
            "read_back_checked": sum(r.get("read_back", {}).get("checked", 0) for r in runs),
            "read_back_stale": sum(r.get("read_back", {}).get("stale", 0) for r in runs),
            "adds_missing": sum(r["verify_service"]["adds_checked"] - r["verify_service"]["adds_fetched"]
                                + len(r["verify_disk"]["of_those_missing"]) for r in runs),
            "deletes_not_gone": sum(r["verify_service"]["deletes_checked"] - r["verify_service"]["deletes_gone"] for r in runs),
            "disk_deletes_present": sum(r["verify_disk"]["deletes_present"] for r in runs)}


def summarise_runs(records: Iterable[tuple[str, dict[str, Any]]], by_commit: bool = False) -> dict[str, dict[str, Any]]:
    """``records`` = (file name, stored serve_writes result); per setting label ("2", "2, writer nice
    +5", "1, commit abc1234"): ``figures`` (label -> :func:`mean_std`), ``checks``,
    ``search_p99_each_run`` and ``runs`` (file, load_before), settings ordered by commit, processes, nice."""
    groups: dict[tuple[int, int, str], list[tuple[str, dict[str, Any], Any]]] = {}
    for name, res in records:
        commit = str(res["provenance"].get("commit", "?"))[:7] if by_commit else ""
        for run in res["runs"]:
            key = (int(run.get("workers", 1)), int(run.get("writer_nice", 0)), commit)
            groups.setdefault(key, []).append((name, run, res["provenance"]["load_before"]))
    out = {}
    for (workers, nice, commit), group in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        runs = [r for _, r, _ in group]
        label = f"{workers}" + (f", writer nice +{nice}" if nice else "") + (f", commit {commit}" if commit else "")
        out[label] = {"figures": {lab: mean_std([r[field][key] for r in runs]) for lab, field, key in FIGURES},
                      "checks": _checks(runs), "search_p99_each_run": [r["search"]["p99_ms"] for r in runs],
                      "runs": [{"file": name, "load_before": load} for name, _, load in group]}
    return out
