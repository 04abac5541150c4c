"""The reports of the service load benchmarks: one writes-under-load run, repeated runs, the load scenarios."""

from __future__ import annotations

from distilhash.benchmark import load_report, write_report
from distilhash.benchmark.figures import figure, latency_bars
from distilhash.benchmark.write_runs import summarise_runs, summary_markdown, summary_plot

PNG = b"\x89PNG\r\n\x1a\n"


def _lat(p50: float, p99: float, n: int = 100, errors: int = 0) -> dict:
    return {"requests": n, "count": n, "errors": errors, "throughput_rps": 50.0, "p50_ms": p50, "p90_ms": p99 / 2,
            "p99_ms": p99, "max_ms": p99 * 2, "mean_ms": p50}


def _write_run(read_back: int = 0, missing: int = 1, workers: int = 1) -> dict:
    return {"clients": 10, "writers": 2, "searchers": 8, "p_delete": 0.4, "writer_pause_s": 0.0, "count_before": 1000,
            "generation_before": 3, "all": _lat(5, 50), "search": _lat(4, 40), "write": _lat(9, 90),
            "add_ms": _lat(8, 80, n=7), "delete_ms": _lat(6, 60, n=0) | {"count": 0}, "read_back_ms": _lat(1, 2, n=read_back) | {"count": read_back},
            "read_back": {"checked": read_back, "stale": 0}, "workers": workers, "search_workers": 1, "writer_nice": 0,
            "acknowledged": {"adds_live": 7, "deletes": 3, "without_answer": 0, "refused": 0},
            "verify_service": {"adds_checked": 7, "adds_fetched": 7 - missing, "adds_metadata_ok": 7 - missing, "adds_found_by_own_code": 6,
                               "own_code_rank_median": 1.0, "own_code_rank_max": 4, "deletes_checked": 3, "deletes_gone": 3},
            "verify_disk": {"of_those_outranked_in_exact_search": 1, "own_code_not_returned": 1, "of_those_missing": [],
                            "adds_present": 7, "adds_expected": 7, "deletes_present": 0, "generation_after": 3},
            "server_stages_ms": {"search": {"count": 40, "p50_ms": 1.0, "p99_ms": 3.0, "max_ms": 4.0}, "idle": {"count": 0}},
            "index": {"bits": 64, "kind": "pq", "backend": "ivf"}}


def _write_result(**run) -> dict:
    return {"model": "runs/m", "index_options": ["nprobe=16"], "threads": 1, "duration_s": 5, "k": 10, "verify_k": 100,
            "machine_note": "shared", "notes": "a note", "provenance": {"load_before": [1.0, 1.0, 1.0], "commit": "abc1234def"},
            "runs": [_write_run(**run)]}


def test_a_write_run_reports_latency_checks_and_stages(tmp_path):
    text = write_report.markdown(_write_result())
    assert "| search | 8 | 100 | 0 | 50.0 | 4 | 20.0 | 40 | 80 |" in text
    assert "| add | | 7 |" in text and "| delete |" not in text  # kinds with no requests are left out
    assert "| **adds missing** (not fetched, or not returned where the exact search ranks them) | 1 |" in text
    assert "read-your-writes" not in text and "| search | 40 | 1.0 | 3.0 | 4.0 |" in text and "| idle |" not in text
    assert "one writable server process" in text and text.rstrip().endswith("a note")
    several = write_report.markdown(_write_result(read_back=5, missing=0, workers=2))
    assert "2 server processes" in several and "| **read-your-writes**" in several and "| writers (add, delete, read-back GET) |" in several
    write_report.plot(_write_result(), tmp_path / "run.png")
    assert (tmp_path / "run.png").read_bytes()[:8] == PNG


def test_repeated_runs_are_tabled_per_setting_with_their_spread(tmp_path):
    runs = [("a.json", _write_result()), ("b.json", _write_result(missing=0))]
    for name, rec in runs:
        rec["provenance"]["load_before"] = [2.0, 2.0, 2.0]
    result = {"note": "loaded machine", "settings": summarise_runs(runs)}
    text = summary_markdown(result)
    assert "| 1 | 2 | 5.0 ± 0.0 |" in text and "| 40.0, 40.0 |" in text
    assert "| 1 | `a.md` | [2.0, 2.0, 2.0] |" in text and "| 1 | `b.md` |" in text
    one = {"note": "one run", "settings": summarise_runs(runs[:1])}
    assert "5.0 ± - |" in summary_markdown(one)  # one run: no sample std
    summary_plot(result, tmp_path / "summary.png")
    assert (tmp_path / "summary.png").read_bytes()[:8] == PNG


def _scenario(name: str, variant: str = "", p99: float = 30.0) -> dict:
    client = _lat(10, p99) | {"loadgen_cpu_ms_per_request": 0.5, "loadgen_cpu_share_of_one_core": 0.1, "loadgen_loop": "uvloop"}
    return {"scenario": name, "variant": variant, "query_encoder": "teacher", "text_cache": 0, "clients": 4, "client": client,
            "server_cpu_ms_per_request": 2.0, "server_cpu_share_of_one_core": 0.4, "mean_search_batch": 1.5,
            "answered_by": {"teacher": 100}, "load_before": [1.0, 1, 1], "load_after": [2.0, 2, 2], "runtime": {"uvloop": True},
            "server_stages_ms": {"teacher_text": {"count": 100, "p50_ms": 5, "p90_ms": 8, "p99_ms": 9, "mean_ms": 6},
                                 "http GET /q": {"count": 120, "p50_ms": 6, "p90_ms": 9, "p99_ms": 12, "mean_ms": 7}}}


def _load_result(scenarios: list[dict], summary: list[dict] | None = None) -> dict:
    return {"index": {"count": 1000, "bits": 64, "kind": "pq", "backend": "exact", "model": {"method": "dcmq", "teacher": "t"}},
            "index_build": {"n_real": 10}, "model": "runs/m", "flip": 0.1, "pool_size": 20, "k": 10, "threads": 1, "rounds": 2,
            "provenance": {"load_before": [1.0, 1.0, 1.0]}, "scenarios": scenarios, "recall_vs_exact": None,
            "summary": summary if summary is not None else [{} for _ in scenarios], "variants": [], "notes": ""}


def test_load_scenarios_rows_rounds_and_the_stages_of_the_search_route(tmp_path):
    one = _load_result([_scenario("teacher")])
    text = load_report.markdown(one, "/q")
    assert "| teacher |  | teacher | 4 | 100 | 0 | 50.0 | 10 | 15.0 | 30.0 | 60.0 | 2.0 | 0.5 | 0.50 | 1.5 | static 0 / teacher 100 | 1.0→2.0 |" in text
    assert "| teacher |  | http GET /q | 120 |" in text and "| teacher |  | teacher_text | 100 |" in text
    assert "Mean ± sample std" not in text and "uvloop yes" in text
    field = {f: {"mean": 1.0, "std": 0.5} for f in load_report.SUMMARY_FIELDS}
    rounds = _load_result([_scenario("teacher", "a"), _scenario("teacher", "a")],
                          summary=[{"key": ("teacher", "a"), "n": 2, **field}])
    rounds["variants"] = [{"label": "a", "src": None, "commit": "0123456789ab", "dirty": False}]
    text = load_report.markdown(rounds, "/q")
    assert "## Mean ± sample std over 2 rounds" in text and "| teacher | a | 2 | 1.0 ± 0.5 |" in text
    assert "`a` = this checkout (commit 0123456789)" in text
    load_report.plot(rounds, tmp_path / "load.png")
    assert (tmp_path / "load.png").read_bytes()[:8] == PNG


def test_latency_bars_draw_p50_and_p99_with_the_goal(tmp_path):
    with figure(tmp_path / "bars.png") as (fig, ax):
        latency_bars(ax, [_lat(1, 10), {"p50_ms": None, "p99_ms": 7}], ["a", "b"], 50, "goal")
        heights = [p.get_height() for p in ax.patches]
        assert heights == [1, 0, 10, 7]  # p50 bars of both, then p99 bars
        assert ax.get_yscale() == "log" and [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
        assert ax.lines[0].get_ydata()[0] == 50
