"""A sharded index against one index (bench/distributed_search.py shards) on tiny random codes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from distilhash.benchmark.scan_speed import bench_codes
from distilhash.benchmark.sharded_search import latency_ms, same_answers, sharded_vs_single


def test_latency_ms_gives_percentiles_in_milliseconds():
    lat = latency_ms([0.001] * 99 + [0.101])
    assert lat["p50_ms"] == pytest.approx(1.0) and lat["p99_ms"] == pytest.approx(2.0) and lat["mean_ms"] == pytest.approx(2.0)


def test_same_answers_compares_ids_distances_and_metadata():
    a = SimpleNamespace(ids=["x", "y"], distances=np.array([1, 2]), metadata=[{}, {"c": 1}])
    assert same_answers([a], [SimpleNamespace(**vars(a))])
    assert not same_answers([a], [SimpleNamespace(**{**vars(a), "distances": np.array([1, 3])})])
    assert not same_answers([a], [SimpleNamespace(**{**vars(a), "metadata": [{}, {}]})])
    with pytest.raises(ValueError):
        same_answers([a], [a, a])


def test_sharded_answers_equal_the_single_index_for_every_backend_fanout_and_k(tmp_path):
    db, q, _ = bench_codes("structured", 3000, 12, np.random.default_rng(0), centres=40)
    lines: list[str] = []
    out = sharded_vs_single(db, q, tmp_path, shards=3, backends=["native", "mih"], ks=[5, 20], log=lines.append)
    assert set(out["backends"]) == {"native", "mih"} and out["build_seconds_single"] > 0
    for row in out["backends"].values():
        assert sum(row["shard_counts"]) == 3000 and len(row["shard_counts"]) == 3
        assert row["disk_bytes_per_item"]["sharded"] > 0 and set(row["searcher_build_seconds"]) == {"single", "sharded"}
        for k in (5, 20):
            r = row[f"k{k}"]
            assert all(r[f"sharded_{f}"]["identical"] and r[f"sharded_{f}"]["batch_identical"] for f in ("threads", "serial"))
            assert 0 < r["one_shard_alone"]["items"] < 3000 and r["single"]["p99_ms"] >= r["single"]["p50_ms"]
    assert len(lines) == 1 + 2 * 2 and lines[0].startswith("built:")
