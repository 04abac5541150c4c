"""Repeated runs of the writes-under-load benchmark summarised per setting: mean ± sample std.

``bench/serve_writes.py --summarise RUN.json ...`` reads the runs' result files (each with its own
provenance) and groups them by the number of server processes and the writer's nice (and, with
``by_commit``, by the commit each run measured: an A/B of two versions run interleaved); per
setting the client-side figures of :data:`FIGURES` as mean ± sample std, each run's search p99,
the read-your-writes and verification counts summed, and the runs with their load averages; :func:`summary_markdown` and :func:`summary_plot` draw it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure

__all__ = ["FIGURES", "mean_std", "summarise_runs", "summary_markdown", "summary_plot"]

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


def summary_markdown(result: dict[str, Any]) -> str:
    """Mean ± sample std per setting (``result["settings"]`` from :func:`summarise_runs`, ``result["note"]``), then the runs."""
    lines = ["# Writes under load, repeated: one writable process vs several server processes + the writer", "",
             f"{result['note']}  ", "Each cell: mean ± sample std over the runs (client side). Source runs and their load averages below.", "",
             "| server processes | runs | " + " | ".join(label for label, _, _ in FIGURES) + " | search p99 ms, each run | errors | read-back checked / stale | adds missing | deletes not gone |",
             "|---|---|" + "---|" * (len(FIGURES) + 5)]
    for workers, g in result["settings"].items():
        cells = [f"{g['figures'][label]['mean']} ± {g['figures'][label]['std'] if g['figures'][label]['std'] is not None else '-'}"
                 for label, _, _ in FIGURES]
        c = g["checks"]
        each = ", ".join(f"{x:.1f}" for x in g.get("search_p99_each_run", []))
        lines.append(f"| {workers} | {len(g['runs'])} | " + " | ".join(cells) + f" | {each} | {c['errors']} | {c['read_back_checked']:,} / "
                     f"{c['read_back_stale']} | {c['adds_missing']} | {c['deletes_not_gone'] + c['disk_deletes_present']} |")
    lines += ["", "## Runs", "", "| server processes | file | load average at start |", "|---|---|---|"]
    for workers, g in result["settings"].items():
        lines += [f"| {workers} | `{r['file'][:-5]}.md` | {r['load_before']} |" for r in g["runs"]]
    return "\n".join(lines + [""])


def summary_plot(result: dict[str, Any], path: Path) -> None:
    """Search p50 / p99, all p99 and add p99 per setting: mean bars with the sample std."""
    labels = ["search p50 ms", "search p99 ms", "all p99 ms", "add p99 ms"]
    with figure(path, figsize=(7, 4)) as (fig, ax):
        settings = list(result["settings"].items())
        pos = np.arange(len(labels))
        width = 0.8 / max(1, len(settings))
        for i, (workers, g) in enumerate(settings):
            ax.bar(pos + i * width, [g["figures"][x]["mean"] for x in labels], width,
                   yerr=[g["figures"][x]["std"] or 0 for x in labels], label=f"{workers} server process(es)")
        ax.axhline(100, color="red", lw=1, ls="--", label="goal p99 100 ms (quiet machine)")
        ax.set_xticks(pos + width * (len(settings) - 1) / 2, labels)
        ax.set_yscale("log")
        ax.set_ylabel("client latency (ms), mean ± std over runs")
        ax.legend(fontsize=8)
        fig.suptitle(f"{path.stem}: {result['note'][:110]}", fontsize=7)
