"""``distilhash bench SUITE``: run a benchmark suite declared in ``bench/suites/SUITE.json``."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["command"]


def command(
    suite: str = typer.Argument(..., help="Suite name (bench/suites/NAME.json) or path to a suite JSON file."),
    results: Path = typer.Option(None, "--results", help="Results root (default: bench/results next to the suite's bench/suites)."),
    only: list[str] = typer.Option([], "--only", help="Run only this method label (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Re-run runs that already have a matching result JSON."),
    isolate: bool = typer.Option(None, "--isolate/--no-isolate", help="One fresh process per run (default: the suite's setting)."),
    threads: int = typer.Option(None, "--threads", help="Threads per run (default: the suite's setting)."),
    jobs: int = typer.Option(None, "--jobs", help="Runs at once, each in its own process (default: the suite's setting)."),
    report_only: bool = typer.Option(False, "--report-only", help="Only rebuild the markdown report from stored run JSONs."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs and exit."),
    features: Path = typer.Option(None, "--features", help="Teacher feature cache to use instead of the default one (suites with one dataset)."),
) -> None:
    """Run SUITE (datasets x methods x bits x seeds): one JSON per run under
    RESULTS/SUITE/, and the table RESULTS/SUITE/report.md with PR and precision@N plots."""
    from distilhash.benchmark.report import write_report
    from distilhash.benchmark.runner import run_suite
    from distilhash.benchmark.suite import find_suite, load_suite, result_path

    s = load_suite(suite)
    if features is not None:
        s = s.with_features(str(features))
    root = results or find_suite(suite).resolve().parent.parent / "results"
    specs = s.runs(only or None)
    if dry_run:
        for spec in specs:
            state = "stored" if result_path(root, spec).is_file() else "to run"
            typer.echo(f"{spec.run_id}  [{state}]")
        typer.echo(f"{len(specs)} runs; expected time for the whole suite: {s.expected_minutes or '?'} min")
        return
    if report_only:
        typer.echo(f"report: {write_report(s, root)}")
        return
    records = run_suite(s, root, only=only or None, force=force, isolate=isolate, threads=threads, jobs=jobs, echo=typer.echo)
    if any(r.get("status") != "ok" for r in records):
        raise typer.Exit(1)
