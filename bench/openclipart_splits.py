"""The openclipart headline cells over splits and teacher fits: 3 grouped splits x 3 method seeds.

Reads the run records of the suites ``openclipart-grouped`` (split seed 0) and
``openclipart-grouped-split1`` / ``-split2`` (split seeds 1, 2; each split with its own teacher fit)
and writes, per (method, bits) cell present in every suite: the mean ± sample std over all runs
(method seeds x splits), the per-split means and their sample std (what a new split and teacher
fit moves), the chance of each split, the teacher ratios, and each cell's budget and stop flags.
Nothing is trained here. ``python bench/openclipart_splits.py`` writes
``bench/results/openclipart_splits/openclipart_splits.{json,md,png}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.split_spread import load_runs, markdown, plot, split_facts, summarise

BENCH = "openclipart_splits"
SUITES = ("openclipart-grouped", "openclipart-grouped-split1", "openclipart-grouped-split2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-name", default=BENCH)
    args = ap.parse_args()
    by_suite = {s: load_runs(s) for s in SUITES}
    missing = [s for s, runs in by_suite.items() if not runs]
    if missing:
        raise SystemExit(f"no run records for {missing}: run `distilhash bench SUITE` first")
    prov = collect_provenance(BENCH, args.out_name, seeds=sorted({r["seed"] for rs in by_suite.values() for r in rs}),
                              model_selection="as recorded by each run (split.val only); this script trains nothing",
                              dataset="openclipart", command="python bench/openclipart_splits.py",
                              split_hash=",".join(r[0]["dataset"]["split_hash"] for r in by_suite.values()),
                              root=Path(__file__).resolve().parents[1])
    cells, facts = summarise(by_suite), split_facts(by_suite)
    result = {"provenance": prov, "suites": list(SUITES), "splits": facts, "cells": cells,
              "runs_per_suite": {s: len(r) for s, r in by_suite.items()}}
    paths = write_results(BENCH, args.out_name, result, markdown(cells, facts), lambda p: plot(cells, p))
    print(paths["md"])


if __name__ == "__main__":
    main()
