"""The SODA benchmark's summary of suite runs: mean ± sample std per cell, stages, templated vs bare prompts."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.benchmark.soda_summary import borrow, markdown, summarise, write_plot


def _run(label, bits, seed, v, suite="soda", status="ok"):
    rec = {"run_id": f"ds__{label}__{bits}b__s{seed}", "status": status, "suite": suite, "seed": seed, "teacher": "T",
           "method": {"label": label, "bits": bits},
           "dataset": {"name": "ds", "split_hash": "S", "split_sizes": {"query": 10}},
           "metrics": {d: {"map_all": v + (0.01 if d == "t2i" else 0), "map_at": {"1000": v / 2}} for d in ("i2t", "t2i")},
           "timing": {"fit_seconds": 1.0 + seed}, "provenance": {"commit": "abc", "load_before": [1.0, 2.0, 3.0]},
           "memory": {"peak_rss_mib": 100 + seed}}
    if label.startswith("soda"):
        rec["epoch_policy"] = {"train_seconds": {"stage1": 2.0, "stage2": 3.0}, "prompts": {"template": "a photo of"},
                               "stage1": {"kept_epoch": seed + 1, "epochs_run": 5}, "stage2": {"kept_epoch": 2, "epochs_run": 4}}
    if status != "ok":
        rec["error"] = "boom"
    return rec


def test_summary_cells_stages_and_the_paired_ablation(tmp_path):
    recs = [_run("soda", 64, s, 0.5 + 0.1 * s) for s in (0, 1, 2)] + [_run("soda-bare", 64, s, 0.45 + 0.1 * s) for s in (0, 1)]
    recs += [_run("float-teacher", None, 0, 0.7), _run("lsh", 64, 0, 0.2, status="failed")]
    summary = summarise(recs)
    soda = summary["table"]["soda"]["64"]
    assert soda["seeds"] == [0, 1, 2] and soda["i2t"]["map_all"]["values"] == pytest.approx([0.5, 0.6, 0.7])
    assert soda["i2t"]["map_all"]["std"] == pytest.approx(np.std([0.5, 0.6, 0.7], ddof=1))
    assert soda["kept_epochs"]["stage1"] == [1, 2, 3] and soda["stage_seconds"]["stage2"]["mean"] == 3.0
    assert "float" in summary["table"]["float-teacher"] and "lsh" not in summary["table"]
    ab = summary["ablation_templated_vs_bare"]["64"]["t2i"]
    assert ab["diff_per_seed"] == pytest.approx([0.05, 0.05]) and ab["templated_wins"] == 2 and ab["n_seeds"] == 2
    assert summary["failed_runs"] == [{"run_id": "ds__lsh__64b__s0", "error": "boom"}] and summary["n_runs_ok"] == 6
    assert summary["peak_rss_mib_max"] == 102 and summary["load_before_runs"] == {"min": 1.0, "max": 3.0}
    text = markdown({"suite": "soda", **summary})
    assert "| soda | 0.6000 ± 0.1000 |" in text and "| 64 | t2i |" in text and "`ds__lsh__64b__s0`: boom" in text
    assert "0.7000 (float)" in text
    write_plot(summary, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0


def test_borrow_fills_only_labels_without_an_ok_run(monkeypatch):
    import distilhash.benchmark.soda_summary as soda_summary

    theirs = [_run("lsh", 64, 0, 0.3, suite="full"), _run("soda", 64, 0, 0.9, suite="full"),
              {**_run("itq", 64, 0, 0.4, suite="full"), "teacher": "other teacher"}]
    monkeypatch.setattr(soda_summary, "load_records", lambda suite, results: theirs)
    mine = [_run("soda", 64, 0, 0.5), _run("lsh", 64, 0, 0.2, status="failed")]
    out = borrow(mine, "full", "results")
    assert sorted((r["method"]["label"], r["suite"], r["status"]) for r in out) == [("lsh", "full", "ok"), ("soda", "soda", "ok")]
