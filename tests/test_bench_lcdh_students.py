"""The LCDH image-student grid's report: cells over seeds from the stored runs, tables, curves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.benchmark.lcdh_students import markdown, plot_curves, speed_markdown, summarize
from distilhash.errors import ConfigError

STUDENTS = {"small-cnn": {}, "lite0": {"image_net": "lite0"}}


def _run(student, bits, seed, v):
    return {"student": student, "bits": bits, "seed": seed, "teacher_spec": "T", "teacher": {"kept_epoch": 3},
            "split_hash": "S", "split_sizes": {"query": 5}, "command": "bench/lcdh_lite0.py x", "selection": "val",
            "overrides": {"chunk_size": 2, **STUDENTS[student]},
            "final": {"i2t": {"map_all": v}, "t2i": {"map_all": v + 0.1}}, "mean_over_chunks": {"i2t": v / 2, "t2i": v},
            "absorb_seconds": {"mean": 1.0 + seed}, "fit_seconds": 10.0, "parameters": {"student_image": 1000},
            "image_init": None, "provenance": {"load_after": [2.0, 2.0, 2.0], "commit": "abc"},
            "chunks": [{"stored": 2, "i2t": v / 2, "t2i": v / 3}, {"stored": 4, "i2t": v, "t2i": v}]}


def test_summarize_markdown_and_curves(tmp_path):
    (tmp_path / "runs").mkdir()
    with pytest.raises(ConfigError, match="no runs"):
        summarize(tmp_path, "ds", STUDENTS)
    for student, base in (("small-cnn", 0.2), ("lite0", 0.4)):
        for seed in (0, 1, 2):
            rec = _run(student, 64, seed, base + 0.01 * seed)
            (tmp_path / "runs" / f"ds__{student}__64b__s{seed}.json").write_text(json.dumps(rec))
    (tmp_path / "runs" / "ds__lite0__16b__s0.json").write_text(json.dumps(_run("lite0", 16, 0, 0.3)))
    (tmp_path / "runs" / "other__lite0__16b__s0.json").write_text(json.dumps(_run("lite0", 16, 0, 0.9)))
    s = summarize(tmp_path, "ds", STUDENTS)
    cell = s["cells"]["lite0"]["64"]
    assert cell["seeds"] == [0, 1, 2] and cell["i2t"]["mean"] == pytest.approx(0.41)
    assert cell["t2i"]["std"] == pytest.approx(np.std([0.5, 0.51, 0.52], ddof=1)) and cell["absorb_seconds_mean"] == 2.0
    assert s["cells"]["lite0"]["16"]["i2t"] == {"mean": 0.3, "std": 0.0, "n": 1}  # one seed: 0.0, n says so
    assert s["n_runs"] == 7 and s["common_options"] == {"chunk_size": 2} and s["speed"] is None
    runs = s.pop("_runs")
    text = markdown(s)
    assert "| lite0 | 0.3000 ± 0.0000 [1] | 0.4100 ± 0.0100 |" in text
    assert "| small-cnn | — | 0.2100 ± 0.0100 |" in text
    plot_curves({**s, "_runs": runs}, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 0


def test_speed_markdown_rows():
    sp = {"bits": 64, "rounds": 3, "command": "c", "note": "n", "load_per_round": [[1.0, 1, 1], [3.0, 1, 1]],
          "best_images_per_s": {"teacher": 100.0, "student": 1500.0}, "median_images_per_s": {"teacher": 90.0, "student": 1400.0},
          "speedup_vs_teacher": {"student": 15.0}}
    text = speed_markdown(sp)
    assert "load average per round 1.0-3.0" in text
    assert "| student | 1,500 | 1,400 | 15.0x |" in text and "| teacher | 100 | 90 | — |" in text
