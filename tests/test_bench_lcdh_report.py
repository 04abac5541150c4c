"""The LCDH benchmark's tables and plots: one result's rows beside the compared methods, and cells over seeds."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.benchmark.lcdh_report import markdown, plot, seed_cells, seeds_markdown, seeds_plot


def _run(bits, seed, v, stop="patience"):
    return {"bits": bits, "seed": seed, "config": {"chunk_size": 2, "teacher_epochs": 40},
            "final": {"i2t": {"map_all": v}, "t2i": {"map_all": v + 0.1}}, "mean_over_chunks": {"i2t": v / 2, "t2i": v},
            "absorb_seconds": {"mean": 1.0, "median": 1.0, "max": 2.0, "per_chunk": [1.0, 2.0, 0.5]},
            "chunks": [{"stored": 2, "i2t": 0.1, "t2i": 0.2}, {"stored": 4, "i2t": 0.2, "t2i": 0.3}, {"stored": 5, "i2t": v, "t2i": v}],
            "teacher": {"kept_epoch": 3, "stop_reason": stop, "epochs_run": 5}, "fit_seconds": 12.0, "image_init": None,
            "compare": {"lsh": {"i2t": 0.1, "t2i": 0.2}, "itq": {"error": "boom"}, "dcmq": {"i2t": 0.5, "t2i": 0.6}}}


def test_markdown_and_plot_of_one_result(tmp_path):
    result = {"provenance": {"dataset": "ds", "split_hash": "S"}, "teacher": "T", "seed": 0, "peak_memory_mib": 100.0,
              "overrides": {"lam": 2}, "runs": [_run(16, 0, 0.3), _run(32, 0, 0.4)], "speed": None}
    text = markdown(result, "x", compare=("lsh", "itq", "pq"))
    assert "| 16 | 0.3000 | 0.4000 | 0.1500 / 0.3000 | 0.100 / 0.200 | error | — |" in text
    assert "| 32 | 1.5 | 1.0 | 1.0 | 2.0 | 3 (patience) | 12 |" in text  # the full chunks (2 items each): 1.0 and 2.0 s
    assert '`{"lam": 2}`' in text and "`x.json`" in text
    plot(result, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 0


def test_seed_cells_table_and_plot(tmp_path):
    runs = [_run(64, s, 0.2 + 0.1 * s, stop="epoch budget (40) exhausted" if s == 2 else "patience") for s in (2, 0, 1)]
    runs.append(_run(16, 0, 0.1))
    cells = seed_cells(runs)
    assert list(cells) == [16, 64] and cells[64]["seeds"] == [0, 1, 2]
    assert cells[64]["i2t_mean"] == pytest.approx(0.3) and cells[64]["t2i_std"] == pytest.approx(np.std([0.3, 0.4, 0.5], ddof=1))
    assert cells[16]["i2t_std"] is None and cells[64]["teacher_epochs_cap"] == [40]
    text = seeds_markdown(cells, ["a", "b"], {"dataset": "ds", "split_hash": "S"}, "T")
    assert "| 64 | 0.300 ± 0.100 (n=3) | 0.400 ± 0.100 (n=3) | [0, 1, 2] | cap [40], ran [5], 2/3 |" in text
    assert "| 16 | 0.100 (n=1) |" in text
    seeds_plot(cells, "ds")(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0


def test_merged_parts_keep_every_run_and_the_first_speed():
    from distilhash.benchmark.lcdh_report import merged

    a = {"teacher": "T", "runs": [_run(64, 0, 0.3)], "speed": None, "wall_seconds": 5.0, "peak_memory_mib": 10.0,
         "provenance": {"name": "a"}}
    b = {"teacher": "T", "runs": [_run(16, 0, 0.2), _run(32, 0, 0.25)], "speed": {"x": 1}, "speed_bits": 16,
         "wall_seconds": 9.0, "peak_memory_mib": 8.0, "provenance": {"name": "b"}}
    out = merged([a, b], ["a", "b"], {"name": "m"})
    assert [r["bits"] for r in out["runs"]] == [16, 32, 64] and out["speed"] == {"x": 1} and out["speed_bits"] == 16
    assert (out["wall_seconds"], out["peak_memory_mib"], out["merged_from"]) == (9.0, 10.0, ["a", "b"])
    assert out["provenance"] == {"name": "m"} and out["parts_provenance"] == {"a": {"name": "a"}, "b": {"name": "b"}}
    assert a["runs"] == [_run(64, 0, 0.3)]  # the parts are not changed
