"""The index reliability run: kill -9 trials per writer mode, the damage matrix and the
compaction race, with every failure count (goal: all 0). ``bench/index_reliability.py`` writes it;
:mod:`~distilhash.benchmark.index_crash` and :mod:`~distilhash.benchmark.index_damage` are the trials.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["FAILURE_KEYS", "run", "failures"]

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
