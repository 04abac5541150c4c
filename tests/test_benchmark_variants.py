"""Before/after variants of a benchmark (benchmark/variants.py): run order, source checks, environment, summary."""

from __future__ import annotations

import os

import pytest

from distilhash.benchmark.variants import Variant, interleaved, parse_variant, summarise


def test_rounds_alternate_the_order_of_the_variants():
    a, b = Variant("a"), Variant("b")
    assert [(r, v.label) for r, v in interleaved([a, b], 3)] == [(0, "a"), (0, "b"), (1, "b"), (1, "a"), (2, "a"), (2, "b")]
    assert [v.label for _, v in interleaved([a], 0)] == ["a"]


def test_a_variant_names_a_directory_holding_the_package(tmp_path):
    (tmp_path / "distilhash").mkdir()
    (tmp_path / "distilhash" / "__init__.py").write_text("")
    v = parse_variant(f"before={tmp_path}")
    assert v.label == "before" and v.src == tmp_path.resolve()
    assert v.env({"PYTHONPATH": "x"})["PYTHONPATH"] == os.pathsep.join([str(tmp_path.resolve()), "x"])
    assert Variant("here").env({"PYTHONPATH": "x"}) == {"PYTHONPATH": "x"}
    for bad in ("before", f"={tmp_path}", "before=", f"before={tmp_path / 'nowhere'}"):
        with pytest.raises(ValueError, match="--variant"):
            parse_variant(bad)


def test_summary_gives_mean_and_sample_std_per_key():
    runs = [{"s": "x", "v": 1.0}, {"s": "x", "v": 3.0}, {"s": "y", "v": 5.0}, {"s": "y", "v": None}]
    rows = summarise(runs, lambda r: r["s"], {"v": lambda r: r["v"]})
    assert rows[0] == {"key": "x", "n": 2, "v": {"mean": 2.0, "std": pytest.approx(1.4142, abs=1e-4)}}
    assert rows[1]["v"] == {"mean": 5.0, "std": None}
