"""The node-loss tables (bench/node_loss.py: extraction, fanout, serve) and the index reliability table, from tiny records."""

from __future__ import annotations

from distilhash.benchmark.failover_report import extraction_markdown, fanout_markdown, serve_markdown
from distilhash.benchmark.reliability import markdown as reliability_markdown

PROV = {"started_utc": "2026-12-07T12:00:00Z"}
LOAD = [1.5, 1.0, 1.0]


def test_extraction_counts_completed_and_identical_runs_and_keeps_a_failed_one():
    trials = [{"completed": True, "identical_to_uninterrupted": True, "wall_s": 10.0, "cluster_start_s": 2.0, "load_before": LOAD,
               "engine": {"workers_lost": 1, "parts_retried": 2}},
              {"completed": True, "identical_to_uninterrupted": True, "wall_s": 12.0, "cluster_start_s": 2.0, "load_before": LOAD},
              {"completed": False, "cluster_start_s": 2.5, "load_before": LOAD}]
    md = extraction_markdown({"provenance": PROV, "trials": trials, "reference": {"identical_to_single_process": True, "wall_s": 8.0},
                              "settings": {"delay": 0.2, "items": 64, "part_size": 8, "kill_after": 1}})
    assert "**2 of 3 runs completed; 2 of 3 caches bit-identical" in md and "with a node killed 11.0 ± 1.4 s" in md
    assert "| 0 | True | True | 1 | 2 | 10.0 | 2.0 | 1.5 |" in md and "| 2 | False | None | None | None | nan | 2.5 | 1.5 |" in md
    assert md.count("\n| ") == 4  # the head and one row per trial


def _fanout(**kw):
    return {"requests": 100, "after_kill_requests": 40, "failed": 0, "partial": 2, "wrong": 0, "stale": 0, "p50_ms": 5.0,
            "p99_ms": 50.0, "after_kill_p99_ms": 80.0, "after_kill_max_ms": 120.0, "restarts": [1, 0], "load_before": LOAD, **kw}


def test_fanout_totals_leave_out_trials_whose_driver_failed():
    trials = [_fanout(), _fanout(p50_ms=7.0, failed=1), {"driver_failed": True, "load_before": LOAD}]
    md = fanout_markdown({"provenance": PROV, "trials": trials,
                          "settings": {"replicas": 2, "items": 1000, "clients": 8, "kill_at": 5, "seconds": 10}})
    assert "| 0 | 100 | 40 | 0 | 2 | 0 | 0 | 5.0 | 50.0 | 80 / 120 | 1 | 1.5 |" in md
    assert "| 2 | driver failed | | | | | | | | | | 1.5 |" in md
    assert "Totals over 2 trials: 200 requests, 1 failed, 4 partial, 0 wrong, 0 stale; p50 6.0 ± 1.4 ms" in md


def _serve(plane, **kw):
    return {**_fanout(), "failed_after_grace": 0, "last_failure_after_kill_s": None, "silent_wrong": 0, "errors": ["timeout"],
            "served": {"data plane": 5 if plane else 0, "ray": 1, "fallbacks": 0}, **kw}


def test_serve_groups_alternating_trials_by_transport_and_reports_a_trial_that_could_not_run():
    trials = [_serve(True), _serve(False, failed=3, last_failure_after_kill_s=1.25), {"error": "RuntimeError: no cluster", "load_before": LOAD}]
    md = serve_markdown({"provenance": PROV, "trials": trials, "settings": {"replicas": 2, "items": 1000, "clients": 8, "kill_at": 5,
                                                                          "seconds": 10, "alternate": True}})
    assert "over the data plane in even trials, through Ray calls only in odd trials" in md
    assert "| 1 | Ray calls | 100 | 40 | 3 | 0 | 1.25 | 2 | 0 | 0 |" in md and "| 0 | data plane | 100 | 40 | 0 | 0 | — |" in md
    assert "| 2 | | trial failed: RuntimeError: no cluster |" in md
    assert "data plane: 1 trials, 100 requests, 0 failed" in md and "Ray calls: 1 trials, 100 requests, 3 failed" in md
    assert "Errors seen: timeout" in md and "data plane 5, ray 2, fallbacks 0" in md


def test_reliability_table_lists_every_failure_count_and_cell():
    kill = {"trials": 3, "killed_during_add": 2, "operations_acknowledged": 9, "acknowledged_items_checked": 90, "lost": 0,
            "resurrected": 0, "false_alarm": 0}
    rec = {"seconds": 12.0, "failures": {"kill.lost": 0, "damage.silent": 1}, "kill": {"append": kill},
           "damage": {"cells": [{"kind": "pq", "file": "codes.bin", "mode": "flip", "trials": 4, "outcomes": {"refused": 3, "harmless": 1}}],
                      "totals": {"refused": 3, "harmless": 1}},
           "race": {"counts": {"opens": 5, "verifies": 2, "false_alarm": 0, "inconsistent_reads": 0, "second_writer_admitted": 0},
                    "errors": {"OSError": 1}}, "settings": {"race_seconds": 1.0}}
    md = reliability_markdown(rec)
    assert "| kill.lost | 0 |" in md and "| damage.silent | 1 |" in md
    assert "| append | 3 | 2 / 0 / 0 / 0 | 9 | 90 | 0 | 0 | 0 |" in md
    assert "| pq | codes.bin | flip | 4 | harmless 1, refused 3 |" in md and "(4 trials)" in md
    assert "5 opens and 2 verifies in 1.0 s" in md and "- OSError: 1" in md
