"""Arms x seeds summarised: per-arm figures over seeds, the budget cell, old key spellings, the plot."""

from __future__ import annotations

import pytest

from distilhash.benchmark.arm_summary import arm_rows, arms_plot, clean


def _run(arm, seed, v, budget=True):
    rec = {"arm": arm, "seed": seed, "config": {"epochs": 200}, "map_all": {"i2t": v, "t2i": v + 0.1},
           "val_map_at_kept": {"mean": v / 2}, "kept_epoch": 3 + seed, "epoch_seconds": [10.0, 20.0], "fit_seconds": 30.0,
           "load_after": [1.5 + seed, 1, 1], "threads": 1, "fit_info": {}}
    if budget:
        rec["fit_info"]["budget"] = {"cap": 200, "epochs_run": 10 + seed, "stopped_early": seed < 2}
    return rec


def test_arm_rows_summarise_each_arm_over_seeds():
    runs = [_run("a", s, 0.4 + 0.01 * s) for s in (0, 1, 2)] + [_run("b", 0, 0.3, budget=False)]
    summary, rows = arm_rows(runs, ["b", "a", "missing"])
    assert list(summary) == ["b", "a"] and summary["a"]["i2t"] == pytest.approx([0.4, 0.41, 0.42])
    assert summary["a"]["kept_epochs"] == [3, 4, 5] and summary["a"]["epoch_seconds_mean"] == 15.0
    assert rows[1] == ("| a | 3 | 0.4100±0.0100 | 0.5100±0.0100 | 0.2050±0.0050 | [3, 4, 5] | "
                       "cap [200], ran 10–12, stopped early 2/3 | 15 | [1] | 1.5, 2.5, 3.5 |")
    assert rows[0].startswith("| b | 1 | 0.3000 (1 seed) |") and "| — |" in rows[0]  # no budget record: a dash


def test_clean_renames_old_spellings_only(tmp_path):
    old = {"loadavg_start": [1, 2, 3], "loadavg_end": [4, 5, 6], "machine": {}, "model_selection": "x",
           "git": {"commit": "abc", "dirty_src": True}, "seed": 0}
    assert clean(old) == {"load_before": [1, 2, 3], "load_after": [4, 5, 6], "seed": 0, "commit": "abc", "dirty": True}
    summary, _ = arm_rows([_run("a", s, 0.4) for s in (0, 1)], ["a"])
    arms_plot(summary, "t")(tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0


def test_summary_markdown_states_the_schedules_the_table_and_each_timing_record():
    import json

    from distilhash.benchmark.arm_summary import HEADER, summary_markdown

    _, rows = arm_rows([_run("a", s, 0.4) for s in (0, 1)], ["a"])
    arms = {"trainable-long": {"epochs": 12}, "trainable-es": {"backbone": "trainable"}}
    timing = {"epoch_1thread": {"epoch_seconds": [5.0], "commit": "abc", "load_after": [1, 2, 3]}}
    text = summary_markdown("openclipart, t", "val only", arms, {"epochs": 4}, (100, 900), rows, timing)
    lines = text.split("\n")
    assert lines[0] == "# DCMQ 64 bits: trainable student encoders vs frozen teacher features (openclipart, t)"
    assert "arms: {'epochs': 4}; trainable-long: {'epochs': 12}; trainable-es: {'backbone': 'trainable'}" in lines[2]
    assert "split.query (100) vs split.retrieval (900)" in lines[3]
    assert lines[5:8] == [*HEADER, rows[0]]
    block = text.split("## epoch_1thread\n\n```\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(block) == {"epoch_seconds": [5.0], "load_after": [1, 2, 3]}  # only the timing keys, not the commit
