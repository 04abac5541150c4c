"""The scale-out tables and plots (bench/distributed_search.py, distributed_extract.py, distributed_train.py) from tiny result dicts."""

from __future__ import annotations

import pytest

from distilhash.benchmark.distributed_report import (epoch_loop, fanout_markdown, fanout_plot, fanout_summary, nodes_markdown,
                                                     nodes_plot, shards_markdown, shards_plot, towers_markdown, towers_plot,
                                                     train_markdown, train_plot, train_summary)

PROV = {"started_utc": "2026-12-07T12:00:00Z", "load_before": [1.0, 1.0, 1.0], "dataset": "toy", "dataset_hash": "d", "split_hash": "s"}


def _lat(p50, qps, **kw):
    return {"p50_ms": p50, "p99_ms": 2 * p50, "mean_ms": p50, "batch_qps": qps, **kw}


def test_shards_table_is_identical_only_when_every_answer_was(tmp_path):
    same = {"identical": True, "batch_identical": True}
    row = {"k10": {"single": _lat(1.0, 900), "sharded_threads": _lat(0.6, 1500, **same),
                   "sharded_serial": _lat(1.1, 800, identical=True, batch_identical=False), "one_shard_alone": {"batch_qps": 3000}},
           "memory_bytes_per_item": {"single": 8.0, "sharded": None}, "disk_bytes_per_item": {"single": 20.0, "sharded": 21.0},
           "shard_counts": [2500, 2500]}
    result = {"provenance": PROV, "settings": {"seed": 0, "k": [10]},
              "result": {"n": 5000, "shards": 2, "queries": 8, "build_seconds_single": 1.0, "build_seconds_sharded": 2.0, "backends": {"native": row}}}
    md = shards_markdown(result)
    assert "| native | 10 | 1.00 / 2.00 | 0.60 / 1.20 | 1.10 / 2.20 | 900 | 1500 | 800 | 3000 | False |" in md
    assert "| native | 8.0 | nan | 20.0 | 21.0 | 2,500, 2,500 |" in md
    shards_plot(result, tmp_path / "s.png")
    assert (tmp_path / "s.png").exists()


def test_fanout_summary_keeps_the_declared_order_and_the_goal_follows_the_served_variant(tmp_path):
    def run(scale, fallbacks):
        ms = {"threads": [1.0, 1.0, 3.0], "data plane, 2 replicas": [2.0 * scale, 2.0, 2.0], "ray no-op x4": [0.5, 0.5, 0.5]}
        r = {v: {"ms": x, "same": v != "ray no-op x4" or scale == 1} for v, x in ms.items()}
        return {**r, "load_before": [1.0, 0, 0], "load_after": [2.0, 0, 0],
                "served, 1 replicas": {"fallbacks": fallbacks}, "served, 2 replicas": {"fallbacks": 0}}

    runs = [run(1, 1), run(2, 2)]
    summary = fanout_summary(runs, ["ray no-op x4", "threads", "absent", "data plane, 2 replicas"])
    assert list(summary) == ["ray no-op x4", "threads", "data plane, 2 replicas"]
    assert summary["data plane, 2 replicas"]["p50_ms"] == 2.0 and summary["data plane, 2 replicas"]["p50_runs"] == [2.0, 2.0]
    assert summary["ray no-op x4"]["all_same"] is False and summary["threads"]["all_same"] is True
    result = {"provenance": PROV, "runs": runs, "summary": summary,
              "settings": {"cluster": "local", "shards": 4, "items": 1000, "k": 10, "queries": 3, "runs": 2}}
    md = fanout_markdown(result)
    assert "| ray no-op x4 | 0.50 ± 0.00 | 0.50 ± 0.00 | — | NO |" in md
    assert "| data plane, 2 replicas | 2.00 ± 0.00 |" in md and "| 1.00 | yes |" in md
    assert "**met** here by `data plane, 2 replicas`" in md and "fell back to a Ray call during the runs: 3." in md
    assert "load 1.0–2.0" in md
    fanout_plot(result, tmp_path / "f.png")
    assert (tmp_path / "f.png").exists()


def test_towers_table_gives_speed_up_and_efficiency_over_one_worker(tmp_path):
    def r(w, rate):
        return {"array": "image", "rows": 64, "workers": w, "wall_s": 64 / rate, "rows_per_s": rate, "actor_cpu_s": 1.0,
                "rows_per_cpu_s": 64.0, "cpu_per_wall": 1.0, "load_before": [1.0, 0, 0]}

    result = {"provenance": PROV, "teacher": "toy", "scaling": [{"array": "image", "runs": [r(1, 10.0), r(2, 18.0)]}],
              "full": {"items": 64, "wall_s": 3.0, "items_per_s": 21.3, "ids_equal": True,
                       "compare_with_single_process": {"image": {"array_equal": True, "max_abs_diff": 0.0}}}}
    md = towers_markdown(result)
    assert "| image | 64 | 2 | 3.6 | 18.0 | 1.80x | 0.90 | 1.0 | 64.0 | 1.00 | 1.0 |" in md
    assert "| image | True | 0 |" in md
    towers_plot(result, tmp_path / "t.png")
    assert (tmp_path / "t.png").exists()


def test_nodes_table_spreads_over_repetitions_and_states_the_speed_up(tmp_path):
    def cell(rate, steady):
        return {"rows_per_s": rate, "steady_rows_per_s": steady, "wall_s": 100.0 / rate, "first_part_s": 0.5, "cluster_start_s": 3.0}

    result = {"provenance": PROV, "model": "m", "method": "dcmq", "rows": 1000, "part_size": 100, "reps": 2, "machine_note": "loaded",
              "notes": "", "cells": {"local (1 thread, no Ray)": [cell(50.0, None), cell(70.0, None)],
                                     "1 node": [cell(40.0, 45.0), cell(60.0, 55.0)], "2 nodes": [cell(90.0, 100.0), cell(90.0, 100.0)]}}
    md = nodes_markdown(result)
    assert "| local (1 thread, no Ray) | 60 ± 14 | - |" in md and "| 2 nodes | 90 ± 0 | 100 ± 0 |" in md
    assert "**Speed-up 2 nodes / 1 node: 1.80x** whole call, 2.00x steady" in md
    nodes_plot(result, tmp_path / "n.png")
    assert (tmp_path / "n.png").exists()


def test_epoch_loop_sums_soda_stages_and_train_summary_spreads_over_seeds(tmp_path):
    assert epoch_loop({"train_seconds": 6.0, "epochs_run": 3}) == (6.0, 3)
    assert epoch_loop({"train_seconds": {"s1": 2.0, "s2": 4.0}, "epochs_run": {"s1": 1, "s2": 2}}) == (6.0, 3)

    def run(w, seed, secs):
        return {"workers": w, "seed": seed, "train_seconds": secs, "epoch_seconds": secs / 4, "epochs": 4,
                "map_query": {"i2t": 0.5, "t2i": 0.4}, "epoch_policy": {"kept_epoch": {"stage1": 2, "stage2": 3}},
                "data_parallel": {"max_drift": 0.0} if w == 2 else None, "load_before": [1.0], "load_after": [1.5], "split_hash": "s"}

    runs = [run(1, 0, 10.0), run(1, 1, 12.0), run(2, 0, 6.0), run(2, 1, 6.0)]
    summary = train_summary(runs)
    assert list(summary) == ["1", "2"] and summary["1"]["train_seconds"] == (11.0, pytest.approx(1.4142, abs=1e-4))
    result = {"provenance": PROV, "runs": runs, "summary": summary,
              "settings": {"method": "soda", "bits": 64, "dataset": "toy", "teacher": "t", "seeds": [0, 1], "set": []}}
    md = train_markdown(result)
    assert "| 2 | 6.0 ± 0.0 | 1.83x | 1.50 ± 0.00 | 1.83x | 0.5000 ± 0.0000 |" in md
    assert "| 2 | 1 | 6.0 | 1.50 | 4 | 0.5000 | 0.4000 | 2 / 3 | 0.0 | 1.0 | 1.5 |" in md and "| 1 | 0 | 10.0 | 2.50 | 4 | 0.5000 | 0.4000 | 2 / 3 | - |" in md
    train_plot(result, tmp_path / "d.png")
    assert (tmp_path / "d.png").exists()
    one = train_markdown({**result, "runs": runs[:1], "summary": train_summary(runs[:1])})
    assert "| 1 | 10.0 (one run) | 1.00x | 2.50 (one run) | 1.00x | 0.5000 (one run) |" in one
