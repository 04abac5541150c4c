"""The DCMQ benchmark's report: the goals read off the cells, the tables and the plot."""

from __future__ import annotations

import pytest

from distilhash.benchmark.dcmq_report import cell_extra, goals, markdown, plot
from distilhash.benchmark.grid import seed_cells


def _run(label, bits, seed, v, usage=False):
    rec = {"label": label, "bits": bits, "seed": seed, "train_seconds": 2.0 + seed,
           "map_all": {"i2t": v, "t2i": v + 0.01}, "map_at_1000": {"i2t": v / 2, "t2i": v / 2}}
    if usage:
        rec["codeword_usage"] = {m: {"mean_perplexity": 100.0 + seed, "total_dead": 4} for m in ("image", "text")}
    return rec


def _cells():
    runs = [_run("float-teacher", 64, s, 0.5) for s in (0, 1)] + [_run("float-student", 64, s, 0.62) for s in (0, 1)]
    runs += [_run("dcmq", b, s, 0.61 + 0.001 * b / 32 + 0.01 * s, usage=True) for b in (32, 64) for s in (0, 1)]
    runs += [_run("lsh", b, s, 0.3) for b in (32, 64) for s in (0, 1)] + [_run("itq", 32, 0, 0.7)]
    runs += [_run("dcmq/pq=soft", 64, s, 0.6, usage=True) for s in (0, 1)]
    return seed_cells(runs, ("map_all", "map_at_1000"), one_run_std=0.0, extra=cell_extra)


def test_cell_extra_and_goals():
    cells = _cells()
    assert cells["dcmq"]["64"]["train_seconds"] == {"mean": 2.5, "max": 3.0}
    assert cells["dcmq"]["64"]["usage"]["image"] == {"mean_perplexity": 100.5, "dead_codewords": 4.0}
    assert "usage" not in cells["lsh"]["32"]
    g = goals(cells, [32, 64])
    ratio = g["dcmq64_over_float_student"]
    assert ratio["i2t"] == pytest.approx(0.617 / 0.62) and ratio["met"] is True
    cases = g["dcmq_beats_baselines"]["cases"]
    assert cases["32/lsh/i2t"] and cases["64/float-teacher/t2i"] and not cases["32/itq/i2t"]
    assert "64/itq/i2t" not in cases and g["dcmq_beats_baselines"]["all"] is False


def test_markdown_and_plot(tmp_path):
    cells = _cells()
    meta = {"dataset": "ds", "features": "/x/feats", "threads": 1, "dcmq_overrides": ["n_codewords=16"],
            "encoding": {"image_query_ms_per_item": 0.1}}
    text = markdown(cells, goals(cells, [32, 64]), meta, {"split_hash": "S", "seeds": [0, 1]}, [32, 64])
    assert "overrides: n_codewords=16" in text and "| lsh | 0.3000±0.0000 / 0.3100±0.0000 | 0.3000±0.0000 / 0.3100±0.0000 |" in text
    assert "| dcmq/pq=soft | 0.6000±0.0000 | 0.6100±0.0000 | 100.5 / 100.5 | 4 / 4 | 2.5 |" in text
    assert "| lsh | 2.5 / 3.0 | 2.5 / 3.0 |" in text and "image_query_ms_per_item" in text
    plot(tmp_path / "d.png", cells, [32, 64])
    assert (tmp_path / "d.png").stat().st_size > 0
