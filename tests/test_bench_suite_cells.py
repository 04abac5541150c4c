"""Two suites compared cell by cell: stored runs grouped by cell, spreads as text, the less leaky and teacher re-run tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distilhash.benchmark import less_leaky_report, teacher_rerun_report
from distilhash.benchmark.suite_cells import cell_name, map_values, runs_by_cell, spread_text
from distilhash.eval.spread import mean_std

PNG = b"\x89PNG\r\n\x1a\n"


def _run(label: str, bits: int | None, seed: int, i2t: float, t2i: float, split: str = "s0", p10: float | None = None) -> dict:
    rec = {"status": "ok", "spec": {"label": label, "bits": bits, "seed": seed}, "teacher": "t",
           "metrics": {"i2t": {"map_all": i2t}, "t2i": {"map_all": t2i}},
           "dataset": {"split_hash": split, "dataset_hash": "d", "split_sizes": {"query": 100, "retrieval": 1000}},
           "provenance": {"commit": "c1", "dirty": False, "load_before": [1.5, 1, 1], "load_after": [2.5, 1, 1]},
           "budget": {"unit": "epoch", "cap": 50, "epochs_run": 10 + seed, "kept_epoch": 8, "stopped_early": True},
           "teacher_identity": {"fingerprint": f"fp-{split}"}, "chance": {"map_all_random_ranking": 0.1}}
    if p10 is not None:
        rec["open_vocab"] = {"domains": {d: {"method": {"p_at": p10}} for d in ("openclipart", "emoji")}}
    return rec


def _suite(root: Path, name: str, runs: list[dict], nested: str | None = None) -> None:
    folder = root / "bench" / "results" / name
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    for i, r in enumerate(runs):
        where = folder / "sub" if nested and r["spec"]["label"] == nested else folder
        (where / f"{i:03d}.json").write_text(json.dumps(r))
    (folder / "failed.json").write_text(json.dumps({"status": "failed", "spec": runs[0]["spec"]}))


def test_runs_are_grouped_by_cell_and_spreads_written_as_text(tmp_path):
    _suite(tmp_path, "a", [_run("dcmq", 64, s, 0.5 + s / 100, 0.4) for s in range(3)] + [_run("x/y", None, 0, 0.2, 0.2)],
           nested="x/y")
    cells = runs_by_cell("a", tmp_path)
    assert sorted(cells) == [("dcmq", 64)]  # the failed record is left out; subfolders only when nested
    assert map_values(cells["dcmq", 64], "i2t") == [0.5, 0.51, 0.52]
    assert sorted(runs_by_cell("a", tmp_path, key=cell_name, nested=True)) == ["dcmq 64 bits", "x/y"]
    assert spread_text(mean_std([0.5, 0.51, 0.52])) == "0.510 ± 0.010"
    assert spread_text(mean_std([0.5, 0.52])) == "0.510 ± 0.014 (n=2)"
    assert spread_text(mean_std([0.5]), n_expected=1) == "0.500"
    assert spread_text(None) == spread_text(mean_std([])) == "—"


def test_less_leaky_headline_puts_both_captions_side_by_side_over_the_random_ranking(tmp_path):
    tags = [_run(m, b, s, v, v) for s in range(3) for m, b, v in (("dcmq", 64, 0.6), ("float-teacher", None, 0.7), ("random", None, 0.1))]
    desc = [_run(m, b, s, v, v) for s in range(3) for m, b, v in (("dcmq", 64, 0.3), ("random", None, 0.1))]
    _suite(tmp_path, "tags", tags)
    _suite(tmp_path, "desc", desc)
    result, text, draw = less_leaky_report.headline("tags", "desc", root=tmp_path)
    assert [r["method"] for r in result["rows"]] == ["float-teacher", "dcmq 64 bits", "random"]  # ORDER, not alphabetical
    assert result["chance"] == pytest.approx({"i2t": 0.1, "t2i": 0.1})
    assert "| dcmq 64 bits | 0.600 ± 0.000 (6.0x) | 0.600 ± 0.000 (6.0x) | 0.300 ± 0.000 (3.0x) | 0.300 ± 0.000 (3.0x) | cap 50, ran 10–12, kept 8; stopped early 3/3 |" in text
    assert "| float-teacher | 0.700 ± 0.000 (7.0x) | 0.700 ± 0.000 (7.0x) | — | — | — |" in text
    assert result["teacher_over_splits"] is None and "Load average (1 min) while the title + description runs ran: 1.5–2.5." in text
    assert less_leaky_report.first_runs(["desc"], tmp_path)[0]["spec"]["label"] == "dcmq"
    draw(tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG


def test_less_leaky_cells_over_splits_pool_every_split(tmp_path):
    for i, name in enumerate(("desc", "desc1")):
        _suite(tmp_path, name, [_run(m, b, s, v + i / 10, v, split=f"s{i}") for s in range(3)
                                for m, b, v in (("dcmq", 64, 0.3), ("float-teacher", None, 0.5), ("random", None, 0.1))])
    _suite(tmp_path, "tags", [_run("dcmq", 64, s, 0.6, 0.6) for s in range(3)])
    result, text, _ = less_leaky_report.headline("tags", "desc", splits=["desc1"], root=tmp_path)
    over = result["teacher_over_splits"]
    assert [r["suite"] for r in over["per_split"]] == ["desc", "desc1"]
    assert over["summary"]["i2t"]["mean"] == pytest.approx(0.55)
    cell = next(r for r in result["cells_over_splits"]["rows"] if r["method"] == "dcmq 64 bits")
    assert cell["runs"] == 6 and cell["splits"] == ["s0", "s1"] and cell["title+tags i2t"] is None
    assert cell["title+description i2t"]["split_means"] == pytest.approx([0.3, 0.4])
    assert "## Every cell run on all 3 grouped splits" in text and "| dcmq 64 bits | 0.350 ± 0.055 (n=6) (2.3x) |" in text


def test_teacher_rerun_rows_orders_and_shares_of_the_teacher(tmp_path):
    base = [_run(m, b, s, v, v) for s in range(3) for m, b, v in (("dcmq", 64, 0.5), ("lsh", 64, 0.3), ("float-teacher", None, 0.6))]
    new = [_run(m, b, s, v, v, p10=p) for s in range(3)
           for m, b, v, p in (("dcmq", 64, 0.4, 0.2), ("lsh", 64, 0.45, 0.1), ("float-teacher", None, 0.7, 0.4), ("itq", 64, 0.2, 0.05))]
    _suite(tmp_path, "base", base)
    _suite(tmp_path, "new", new)
    rows = teacher_rerun_report.cells(runs_by_cell("base", tmp_path), runs_by_cell("new", tmp_path))
    assert [(r["label"], r["bits"]) for r in rows] == [("float-teacher", None), ("dcmq", 64), ("itq", 64), ("lsh", 64)]
    itq = rows[2]
    assert itq["base i2t"] is None and itq["base budget"] == "—" and itq["new i2t"]["mean"] == pytest.approx(0.2)
    orders = teacher_rerun_report.method_orders(rows)
    assert orders["64 bits i2t"] == {"base": ["dcmq", "lsh"], "new": ["lsh", "dcmq"]}  # itq: base side not measured
    p10 = teacher_rerun_report.teacher_p10(rows)
    assert p10 == pytest.approx({"openclipart": 0.4, "emoji": 0.4})
    text = teacher_rerun_report.markdown("base", "new", rows, orders, p10)
    assert "| dcmq | 64 | 0.500 ± 0.000 | 0.400 ± 0.000 | 0.500 ± 0.000 | 0.400 ± 0.000 | 0.200 ± 0.000 (0.50x) |" in text
    assert "| 64 bits i2t | dcmq > lsh | lsh > dcmq | no |" in text
    teacher_rerun_report.plot(rows)(tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG
