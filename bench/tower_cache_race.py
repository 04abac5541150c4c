"""Concurrent writers on one tower cache: wrong or zero rows over many trials, this implementation vs the old one.

    python bench/tower_cache_race.py                      # 100 trials x 4 writers, and the pre-lock code
    python bench/tower_cache_race.py --trials 10 --out-name tower_cache_race_smoke

Each trial races ``--writers`` forked processes on a fresh cache
(:func:`distilhash.teachers.tower_cache_race.race_writers`: random overlapping requests, chunks of
``--chunk`` rows, random pauses) and checks every row returned and every row on disk. ``--baseline``
(a git revision) runs the same trials on that revision's ``tower_cache.py`` (default: the commit
before the lock, which rewrote ``done.npy`` from each writer's own copy and recreated the rows
file with "w+"). Writes ``bench/results/tower_cache_race/<out-name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "tower_cache_race"
COUNTS = ("crashed", "wrong_returned", "missing_done", "wrong_rows", "zero_rows")


def load_revision(rev: str):
    """``cached_rows`` of ``src/distilhash/teachers/tower_cache.py`` at git revision ``rev``."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/distilhash/teachers/tower_cache.py"],
                         capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "tower_cache_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("tower_cache_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.cached_rows


def run(impl, trials: int, args) -> dict:
    from distilhash.teachers.tower_cache_race import race_writers

    reports = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for t in range(trials):
            reports.append(race_writers(Path(tmp) / f"t{t}", writers=args.writers, n_items=args.items, width=args.width,
                                        chunk=args.chunk, seed=t, cached_rows=impl))
    totals = {k: int(sum(r[k] for r in reports)) for k in COUNTS}
    bad = sum(any(r[k] for k in COUNTS) for r in reports)
    secs = np.array([r["seconds"] for r in reports])
    return {"trials": trials, "totals": totals, "trials_with_any_fault": int(bad),
            "trials_with_a_crash": int(sum(r["crashed"] > 0 for r in reports)),
            "seconds_mean": float(secs.mean()), "seconds_std": float(secs.std(ddof=1)) if trials > 1 else 0.0,
            "per_trial": reports}


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [f"# Tower cache, concurrent writers ({result['provenance']['started_utc']})", "",
             f"{s['writers']} forked writer processes per trial on one fresh cache of {s['items']} rows x {s['width']} "
             f"floats, chunks of {s['chunk']} rows, overlapping random requests (one writer asks for all rows). "
             "Goal: 0 wrong or zero rows over 100 trials. Shared 2-core machine (load in the provenance).", "",
             "| implementation | trials | trials with any fault | trials with a crashed writer | wrong rows returned | "
             "requested rows not marked done | wrong rows on disk | zero rows on disk | s per trial (mean ± std) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["runs"].items():
        t = r["totals"]
        lines.append(f"| {name} | {r['trials']} | {r['trials_with_any_fault']} | {r['trials_with_a_crash']} | "
                     f"{t['wrong_returned']} | {t['missing_done']} | {t['wrong_rows']} | {t['zero_rows']} | "
                     f"{r['seconds_mean']:.2f} ± {r['seconds_std']:.2f} |")
    lines += ["", "A crashed writer is one that exited without reporting (the old code's writers died of SIGBUS, "
              "exit code -7, when another writer recreated the rows file they had mapped)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--baseline", default="3bcdf5e", help="git revision of the old implementation ('' to skip)")
    ap.add_argument("--baseline-trials", type=int, default=100)
    ap.add_argument("--tmp", default=None, help="where the trial caches go (default: the system temp dir)")
    ap.add_argument("--out-name", default=BENCH)
    args = ap.parse_args(argv)
    prov = collect_provenance(BENCH, args.out_name, seeds=list(range(args.trials)),
                              model_selection="none: nothing is selected", root=ROOT)
    result = {"provenance": prov, "settings": vars(args), "runs": {}}
    result["runs"]["this checkout (lock + commit under lock)"] = run(None, args.trials, args)
    print(result["runs"]["this checkout (lock + commit under lock)"]["totals"], flush=True)
    if args.baseline:
        result["runs"][f"before the lock ({args.baseline})"] = run(load_revision(args.baseline), args.baseline_trials, args)
    paths = write_results(BENCH, args.out_name, result, markdown(result), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
