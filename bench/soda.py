"""SODA benchmark (issue 8): SODA vs DCMQ, LCDH and the baselines; templated vs bare prompts; stage times.

Runs the suite ``bench/suites/soda.json`` through the shared harness (one JSON per run under
``bench/results/soda/``, each run in its own process, finished runs reused; the suite report is
``bench/results/soda/report.md``), then summarises, beside the runs:

* ``bench/results/soda/soda.json`` — per (method, bits, direction): mAP@all and mAP@1000 mean/std over
  seeds and the per-seed values; SODA's per-stage training time and kept epochs; the
  templated-vs-bare ablation with per-seed paired differences; provenance (command, commit,
  dataset/split hash, teacher, load average, peak memory; the machine is shared).
* ``bench/results/soda/soda.md`` — the same as tables.
* ``bench/results/soda/soda.png`` — mAP@all against bits per method, image->text and text->image.

Usage::

    DISTILHASH_HOME=data .venv/bin/python bench/soda.py [--only soda soda-bare ...]
        [--bits 16 32] [--seeds 0] [--suite bench/suites/soda.json] [--force] [--summary-only]
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.report import load_records
from distilhash.benchmark.results import results_dir, write_results
from distilhash.benchmark.soda_summary import borrow, markdown, summarise, write_plot

ROOT = Path(__file__).resolve().parents[1]
BENCH = "soda"
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default=str(ROOT / "bench" / "suites" / "soda.json"))
    p.add_argument("--only", nargs="*", help="method labels to run (default: all)")
    p.add_argument("--bits", nargs="*", type=int, help="override the suite's bit budgets")
    p.add_argument("--seeds", nargs="*", type=int, help="override the suite's seeds")
    p.add_argument("--force", action="store_true", help="rerun runs that have a stored result")
    p.add_argument("--summary-only", action="store_true", help="only summarise stored run results")
    p.add_argument("--borrow", nargs="*", help="other suites (e.g. full) whose stored runs fill method labels that have no "
                   "successful run here (same dataset, split hash and teacher only; the summary names the source suite)")
    p.add_argument("--out-name", default=None, help="summary name under bench/results/<suite>/ (default: the suite's name)")
    args = p.parse_args(argv)
    results = results_dir(BENCH, ROOT).parent

    from distilhash.benchmark.suite import load_suite

    suite = load_suite(args.suite)
    if args.bits:
        suite = replace(suite, bits=args.bits)
    if args.seeds:
        suite = replace(suite, seeds=args.seeds)
    if not args.summary_only:
        from distilhash.benchmark.runner import run_suite

        run_suite(suite, results, only=args.only, force=args.force)
    full = load_suite(args.suite)
    name = args.out_name or full.name
    prov = collect_provenance(full.name, name, seeds=full.seeds, root=ROOT,
                              model_selection="each SODA stage keeps the epoch with the best mAP@all on split.val; the "
                              "other methods as recorded in their run JSONs")
    records = load_records(full, results)
    for other in args.borrow or []:
        records = borrow(records, load_suite(other), results)
    summary = {"provenance": prov, "suite": full.name, **summarise(records)}
    prov.update(dataset=summary["dataset"].get("name"), dataset_hash=summary["dataset"].get("dataset_hash"),
                split_hash=summary["dataset"].get("split_hash"))
    plot = (lambda path: write_plot(summary, path)) if summary["table"] else None
    paths = write_results(full.name, name, summary, markdown(summary), plot=plot, root=ROOT)
    print(f"{summary['n_runs_ok']} runs ok, {len(summary['failed_runs'])} failed -> {paths['md']}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    raise SystemExit(main())
