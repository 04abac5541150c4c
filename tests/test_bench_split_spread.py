"""The same suite cells over several splits: cells in every suite only, split means, their spread, split facts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.benchmark.split_spread import load_runs, markdown, plot, split_facts, summarise


def _run(label, bits, seed, v, split_seed, chance=0.1):
    return {"schema": "distilhash.bench.run/1", "status": "ok", "seed": seed, "spec": {"label": label, "bits": bits, "seed": seed},
            "metrics": {"i2t": {"map_all": v}, "t2i": {"map_all": v + 0.1}},
            "dataset": {"split_hash": f"h{split_seed}", "split_seed": split_seed, "split_sizes": {"retrieval": 100}},
            "teacher_identity": {"fingerprint": f"fp{split_seed}"}, "chance": {"map_all_random_ranking": chance},
            "budget": {"cap": 200, "epochs_run": 20 + seed, "kept_epoch": 10, "stopped_early": True},
            "codes": {"i2t": {"database_bytes_per_item": 8}}}


def test_cells_over_splits_and_the_split_facts(tmp_path):
    by_suite = {}
    for split_seed, suite in enumerate(("a", "b")):
        runs = [_run("dcmq", 64, s, 0.4 + 0.1 * split_seed + 0.01 * s, split_seed) for s in (0, 1)]
        runs.append(_run("float-teacher", None, 0, 0.3, split_seed))
        if suite == "a":
            runs.append(_run("only-here", 64, 0, 0.9, split_seed))
        folder = tmp_path / "bench" / "results" / suite
        folder.mkdir(parents=True)
        for i, r in enumerate(runs):
            (folder / f"r{i}.json").write_text(json.dumps(r))
        (folder / "failed.json").write_text(json.dumps({**runs[0], "status": "failed"}))
        by_suite[suite] = load_runs(suite, tmp_path)
    assert [len(r) for r in by_suite.values()] == [4, 3]
    cells = summarise(by_suite)
    assert list(cells) == ["dcmq@64", "float-teacher@float"]  # a cell missing from a suite is left out
    c = cells["dcmq@64"]
    assert c["runs"] == 4 and c["i2t"]["split_means"] == pytest.approx([0.405, 0.505])
    assert c["i2t"]["std_over_splits"] == pytest.approx(np.std([0.405, 0.505], ddof=1))
    assert c["t2i"]["all_runs"]["mean"] == pytest.approx(0.555) and c["budget"] == "cap 200, ran 20–21, kept 10; stopped early 4/4"
    facts = split_facts(by_suite)
    assert facts[1]["split_seed"] == 1 and facts[1]["teacher_fingerprint"] == "fp1"
    assert facts[0]["teacher_i2t_x_chance"] == pytest.approx(3.0)
    text = markdown(cells, facts)
    assert "| dcmq | 64 | 4 | 0.455±0.058 / 0.555±0.058 | 0.405 0.505 | 0.505 0.605 | 0.071 / 0.071 | 8 |" in text
    assert "| 1 | `h1` | `fp1` | 0.1000 | 0.300 / 0.400 | 3.00 / 4.00 |" in text
    plot(cells, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0
