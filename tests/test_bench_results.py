"""The committed bench/results: one folder per benchmark, one spelling per provenance key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distilhash.benchmark.provenance import legacy_keys_in
from distilhash.benchmark.results import check_provenance

BENCH = Path(__file__).resolve().parents[1] / "bench"
RESULTS = BENCH / "results"

pytestmark = pytest.mark.skipif(not RESULTS.is_dir(), reason="no bench/results in this checkout")


def _records():
    for path in sorted(RESULTS.rglob("*.json")):
        yield path, json.loads(path.read_text())


def test_every_result_lives_in_the_folder_of_a_benchmark_script_or_suite():
    known = {p.stem for p in BENCH.glob("*.py")} | {p.stem for p in (BENCH / "suites").glob("*.json")}
    top_files = sorted(p.name for p in RESULTS.iterdir() if p.is_file())
    assert top_files == [], f"results at the top of bench/results (move them into bench/results/<benchmark>/): {top_files}"
    unknown = sorted(p.name for p in RESULTS.iterdir() if p.is_dir() and p.name not in known)
    assert unknown == [], f"result folders named after no bench script or suite: {unknown}"


def test_no_result_uses_an_old_spelling_of_a_provenance_key():
    old = {str(path.relative_to(RESULTS)): keys for path, rec in _records() if (keys := legacy_keys_in(rec))}
    assert old == {}


def test_suite_run_records_carry_a_complete_provenance_block():
    runs = [(path, rec) for path, rec in _records() if rec.get("schema") == "distilhash.bench.run/1"]
    assert runs, "no suite run records found"
    for path, rec in runs:
        assert check_provenance(rec["provenance"]) == [], path
        assert rec["provenance"]["benchmark"] == rec["suite"] == path.relative_to(RESULTS).parts[0], path
