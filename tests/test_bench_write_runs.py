"""Repeated writes-under-load runs summarised per setting (distilhash.benchmark.write_runs)."""

from __future__ import annotations

import pytest

from distilhash.benchmark.write_runs import FIGURES, mean_std, summarise_runs


def _run(workers: int, p99: float, errors: int = 0, nice: int = 0, stale: int = 0) -> dict:
    lat = {"p50_ms": p99 / 4, "p99_ms": p99, "throughput_rps": 100.0, "count": 50, "errors": errors}
    return {"workers": workers, "writer_nice": nice, "all": lat, "search": lat, "add_ms": lat,
            "read_back": {"checked": 10, "stale": stale},
            "verify_service": {"adds_checked": 5, "adds_fetched": 4, "deletes_checked": 3, "deletes_gone": 3},
            "verify_disk": {"of_those_missing": ["x"], "deletes_present": 0}}


def _rec(commit: str, load: float, *runs: dict) -> dict:
    return {"provenance": {"commit": commit, "load_before": [load, load, load]}, "runs": list(runs)}


def test_mean_and_sample_std_rounded_with_none_for_one_value():
    assert mean_std([10.0, 20.0, 30.0]) == {"mean": 20.0, "std": 10.0, "n": 3}
    assert mean_std([7.26]) == {"mean": 7.3, "std": None, "n": 1}


def test_runs_group_by_processes_and_nice_and_sum_their_checks():
    recs = [("a.json", _rec("aaaaaaa1", 2.0, _run(1, 100.0))), ("b.json", _rec("aaaaaaa1", 3.0, _run(1, 140.0, errors=1))),
            ("c.json", _rec("bbbbbbb2", 4.0, _run(2, 60.0, nice=5, stale=2)))]
    out = summarise_runs(recs)
    assert list(out) == ["1", "2, writer nice +5"]
    one = out["1"]
    assert one["figures"]["search p99 ms"] == {"mean": 120.0, "std": pytest.approx(28.3), "n": 2}
    assert set(one["figures"]) == {label for label, _, _ in FIGURES}
    assert one["search_p99_each_run"] == [100.0, 140.0]
    assert one["checks"] == {"errors": 1, "read_back_checked": 20, "read_back_stale": 0, "adds_missing": 4,
                             "deletes_not_gone": 0, "disk_deletes_present": 0}
    assert one["runs"] == [{"file": "a.json", "load_before": [2.0] * 3}, {"file": "b.json", "load_before": [3.0] * 3}]
    assert out["2, writer nice +5"]["checks"]["read_back_stale"] == 2


def test_by_commit_splits_an_interleaved_ab_of_two_versions():
    recs = [("a.json", _rec("aaaaaaa1", 2.0, _run(1, 100.0))), ("b.json", _rec("bbbbbbb2", 2.0, _run(1, 50.0)))]
    out = summarise_runs(recs, by_commit=True)
    assert list(out) == ["1, commit aaaaaaa", "1, commit bbbbbbb"]
    assert out["1, commit bbbbbbb"]["figures"]["search p99 ms"]["mean"] == 50.0
