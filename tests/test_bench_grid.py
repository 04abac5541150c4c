"""The bench scripts' run grid: stored runs resume, failures are kept apart, cells are mean ± sample std."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.benchmark.grid import Job, arm_bars, bits_errorbars, bits_table, cell_text, run_grid, seed_cells


def _record(job: Job) -> dict:
    v = 0.1 * job.seed + job.bits / 1000
    return {"label": job.label, "bits": job.bits, "seed": job.seed, "map_all": {"i2t": v, "t2i": 2 * v}}


def test_run_grid_stores_each_run_once_and_resumes(tmp_path):
    calls: list[Job] = []

    def run(job):
        calls.append(job)
        return _record(job)

    store = lambda j: tmp_path / f"{j.label}__{j.bits}__s{j.seed}.json"  # noqa: E731
    jobs = [Job("a", "lsh", {}, 16, 0), Job("a", "lsh", {"x": 1}, 16, 0), Job("b", "itq", {}, 16, 0), Job("c", "pq", {}, 8, 1)]
    ok, failed = run_grid(jobs, store, run, skip=["c"])
    assert [(j.label, j.bits, j.seed) for j in calls] == [("a", 16, 0), ("b", 16, 0)]  # the repeat and the skip: not run
    assert failed == [] and json.loads(store(jobs[0]).read_text()) == ok[0] == _record(jobs[0])
    calls.clear()
    again, _ = run_grid(jobs, store, run)
    assert [j.label for j in calls] == ["c"] and again[:2] == ok  # the stored two are read back, not re-run
    calls.clear()
    run_grid(jobs[:1], store, run, force=True)
    assert len(calls) == 1


def test_run_grid_keeps_a_failure_apart_and_goes_on(tmp_path):
    def run(job):
        if job.label == "bad":
            raise ValueError("no such thing")
        return _record(job)

    logged: list[str] = []
    ok, failed = run_grid([Job("bad", "x"), Job("good", "y")], lambda j: tmp_path / f"{j.label}.json", run, log=logged.append)
    assert [r["label"] for r in ok] == ["good"] and not (tmp_path / "bad.json").exists()
    assert failed == [{"label": "bad", "bits": 64, "seed": 0, "failed": "ValueError('no such thing')"}]
    assert "FAILED bad" in logged[0]
    only, none = run_grid([Job("bad", "x"), Job("good", "y")], lambda j: tmp_path / f"{j.label}.json", run, stored_only=True)
    assert [r["label"] for r in only] == ["good"] and none == []


def test_seed_cells_are_mean_and_sample_std_per_direction():
    recs = [_record(Job("a", "m", {}, 32, s)) for s in (0, 1, 2)] + [_record(Job("f", "m", {}, 64, 0))]
    cells = seed_cells(recs, extra=lambda runs: {"seeds": [r["seed"] for r in runs]})
    a = cells["a"]["32"]
    assert a["map_all"]["i2t"]["mean"] == pytest.approx(0.132) and a["map_all"]["i2t"]["n"] == 3
    assert a["map_all"]["t2i"]["std"] == pytest.approx(np.std([0.064, 0.264, 0.464], ddof=1))
    assert a["seeds"] == [0, 1, 2]
    assert cells["f"]["64"]["map_all"]["i2t"]["std"] is None  # one run: no spread
    assert seed_cells(recs[3:], one_run_std=0.0)["f"]["64"]["map_all"]["i2t"]["std"] == 0.0
    assert cell_text(a["map_all"], digits=2) == "0.13±0.10 / 0.26±0.20"
    assert cell_text(cells["f"]["64"]["map_all"], digits=3) == "0.064 / 0.128"


def test_bits_table_spreads_a_float_row_and_leaves_gaps():
    recs = [_record(Job("m", "m", {}, b, 0)) for b in (16, 32)] + [_record(Job("float", "f", {}, 64, 0))]
    lines = bits_table(seed_cells(recs, one_run_std=0.0), ["m", "float", "absent"], [16, 32, 64])
    assert lines[0] == "| method | 16 bits | 32 bits | 64 bits |" and len(lines) == 4
    assert lines[2] == "| m | 0.0160±0.0000 / 0.0320±0.0000 | 0.0320±0.0000 / 0.0640±0.0000 |  |"
    assert lines[3].count("0.0640±0.0000 / 0.1280±0.0000") == 3


def test_plots_draw_one_series_per_label(tmp_path):
    from distilhash.benchmark.figures import figure

    recs = [_record(Job(lab, "m", {}, b, s)) for lab in ("a", "b") for b in (16, 32) for s in (0, 1)]
    recs.append(_record(Job("float", "f", {}, 64, 0)))
    cells = seed_cells(recs)
    with figure(tmp_path / "p.png", 1, 2) as (fig, (ax, bx)):
        bits_errorbars(ax, cells, ["a", "b", "missing"], [16, 32], "i2t", flat=(("float", "--"),))
        arm_bars(bx, {"a": {"i2t": [0.5, 0.6], "t2i": [0.4, 0.5]}, "b": {"i2t": [0.7], "t2i": [0.2]}})
        assert len(ax.containers) == 2 and len(ax.lines) >= 1  # two error-bar series + the float line
        assert len(bx.patches) == 4 and bx.get_ylim()[0] == pytest.approx(0.18)
    assert (tmp_path / "p.png").stat().st_size > 0


def test_fit_score_figures_and_encode_rates():
    from distilhash.benchmark.fit_score import encode_rates, fit_and_score
    from distilhash.methods.base import create_method
    from distilhash.training.synthetic import synthetic_features

    fs, split = synthetic_features(n=300, n_labels=6, width=16, n_query=40, n_train=220, n_val=40, seed=3)
    run = fit_and_score(create_method("itq", n_bits=16, seed=0), fs, split, curves=False, top_n=(50,))
    figs = run.figures(50)
    assert set(figs) == {"map_all", "map_at_50", "precision_at_50"}
    assert figs["map_at_50"]["t2i"] == run.reports["t2i"].map_at[50] and figs["map_all"] == run.map_all()
    rates = encode_rates(run.method, fs, split, n_query=5)
    assert set(rates) == {f"{m}_{k}" for m in ("image", "text") for k in ("database_items_per_s", "query_ms_per_item")}
    assert all(v > 0 for v in rates.values())
