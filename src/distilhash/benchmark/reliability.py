"""The index reliability run: kill -9 trials per writer mode, the damage matrix and the
compaction race, with every failure count (goal: all 0). ``bench/index_reliability.py`` writes it;
:mod:`~distilhash.benchmark.index_crash` and :mod:`~distilhash.benchmark.index_damage` are the trials.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["FAILURE_KEYS", "run", "failures", "markdown"]

FAILURE_KEYS = {
    "kill": ("lost", "resurrected", "phantom", "corrupted", "torn_batch", "false_alarm"),
    "damage": ("silent", "unnamed", "unclear_error", "evidence_changed"),
    "race": ("false_alarm", "inconsistent_reads", "second_writer_admitted"),
}


def run(kill_trials: int, positions: int, race_seconds: float, seed: int, workdir: Path, show_progress: bool = True) -> dict[str, Any]:
    """All three parts; returns the record (without provenance)."""
    from tqdm import tqdm

    from distilhash.benchmark.index_crash import run_kill_trials, run_race
    from distilhash.benchmark.index_damage import run_damage_matrix

    out: dict[str, Any] = {"kill": {}, "settings": {"kill_trials_per_mode": kill_trials, "positions": positions,
                                                     "race_seconds": race_seconds, "seed": seed}}
    with tqdm(total=3 * kill_trials, desc="kill -9 trials", disable=not show_progress) as bar:
        for i, mode in enumerate(("append", "delete", "compact")):
            t0 = time.perf_counter()
            out["kill"][mode] = run_kill_trials(workdir / f"kill-{mode}", mode, kill_trials, seed=seed * 10 + i, progress=bar.update)
            out["kill"][mode]["seconds"] = round(time.perf_counter() - t0, 1)
    with tqdm(desc="damage trials", disable=not show_progress) as bar:
        t0 = time.perf_counter()
        out["damage"] = run_damage_matrix(workdir / "damage", positions=positions, seed=seed, progress=bar.update)
        out["damage"]["seconds"] = round(time.perf_counter() - t0, 1)
    with tqdm(desc="race (opens + verifies)", disable=not show_progress) as bar:
        out["race"] = run_race(workdir / "race", race_seconds, seed=seed, progress=bar.update)
    out["failures"] = failures(out)
    return out


def failures(rec: dict[str, Any]) -> dict[str, int]:
    """Every failure count (goal: all 0)."""
    f = {f"kill.{k}": sum(m.get(k, 0) for m in rec["kill"].values()) for k in FAILURE_KEYS["kill"]}
    f.update({f"damage.{k}": rec["damage"]["totals"].get(k, 0) for k in FAILURE_KEYS["damage"]})
    f.update({f"race.{k}": rec["race"]["counts"].get(k, 0) for k in FAILURE_KEYS["race"]})
    return f


def markdown(rec: dict[str, Any]) -> str:
    """The record as tables: every failure count, the kill -9 trials per writer, the damage cells, the race."""
    lines = [
        "# Index reliability",
        "",
        f"{rec['seconds']:.0f} s in all.",
        "",
        "## Goal: every failure count 0",
        "",
        "| failure | count |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in rec["failures"].items()],
        "",
        "## kill -9 during writes",
        "",
        "| writer | trials | killed during add / delete / compact / between | operations acknowledged | acknowledged items checked | lost | resurrected | false alarms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, c in rec["kill"].items():
        during = " / ".join(str(c.get(f"killed_during_{k}", 0)) for k in ("add", "delete", "compact", "idle"))
        lines.append(f"| {mode} | {c['trials']} | {during} | {c['operations_acknowledged']} | {c['acknowledged_items_checked']} | "
                     f"{c['lost']} | {c['resurrected']} | {c['false_alarm']} |")
    lines += ["", "## Damaged files", "", "| index | file | mode | trials | outcomes |", "|---|---|---|---|---|"]
    for cell in rec["damage"]["cells"]:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(cell["outcomes"].items()))
        lines.append(f"| {cell['kind']} | {cell['file']} | {cell['mode']} | {cell['trials']} | {outcomes} |")
    totals = rec["damage"]["totals"]
    lines += ["", f"Totals: {', '.join(f'{k} {v}' for k, v in sorted(totals.items()))} "
              f"({sum(totals.values())} trials). `harmless` = the index served exactly its acknowledged items "
              "and verified (e.g. a removed JSON indentation byte of the manifest, which is sealed by content).", ""]
    rc = rec["race"]["counts"]
    lines += ["## Readers racing a compacting writer", "",
              f"{rc.get('opens', 0)} opens and {rc.get('verifies', 0)} verifies in {rec['settings']['race_seconds']} s while the writer "
              f"acknowledged {rc.get('writer_operations', 0)} operations ({rc.get('writer_compactions', 0)} compactions): "
              f"{rc['false_alarm']} false alarms, {rc['inconsistent_reads']} inconsistent reads; "
              f"{rc['second_writer_admitted']} of {rc.get('second_writer_attempts', 0)} second writers admitted.", ""]
    if rec["race"]["errors"]:
        lines += ["Errors seen:", "", *[f"- {k}: {v}" for k, v in rec["race"]["errors"].items()], ""]
    return "\n".join(lines)
