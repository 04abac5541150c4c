"""The service load benchmarks' common part (benchmark/serve_bench.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from distilhash.benchmark.serve_bench import (add_served_index_args, latency_summary, merge_worker_stats, query_pool,
                                              wait_for_quiet, zipf_weights)


def _parser(**kw) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_served_index_args(p, **{"dataset": "d", "teacher": "t", "out_name": "bench", "machine_note": "note",
                                "max_requests": 7, **kw})
    return p


def test_arguments_and_their_defaults():
    a = _parser().parse_args(["--model", "m", "--index-option", "nprobe=4", "--index-option", "x=y"])
    assert a.model == Path("m") and a.dataset == "d" and a.teacher == "t" and a.out_name == "bench"
    assert a.max_requests == 7 and a.machine_note == "note" and a.wait_load is None
    assert a.index_option == ["nprobe=4", "x=y"] and a.n == 1_000_000 and a.k == 10
    with pytest.raises(SystemExit):
        _parser().parse_args([])  # --model is required


def test_query_pool_keeps_the_first_distinct_captions_in_order():
    texts = ["a", "b", "a", "c", "b", "d"]
    assert query_pool(texts, [2, 0, 1, 4, 3, 5], 3) == ["a", "b", "c"]
    assert query_pool(texts, [5, 3], 10) == ["d", "c"]


def test_wait_for_quiet_polls_until_the_load_drops():
    loads = iter([5.0, 4.0, 1.0, 1.0])
    slept: list[float] = []
    waited = wait_for_quiet(2.0, max_s=100, poll_s=5, load=lambda: next(loads), sleep=slept.append)
    assert slept == [5, 5] and waited == pytest.approx(10, abs=1)


def test_wait_for_quiet_gives_up_after_max_and_skips_without_threshold():
    slept: list[float] = []
    waited = wait_for_quiet(1.0, max_s=12, poll_s=5, load=lambda: 9.0, sleep=slept.append)
    assert len(slept) == 3 and waited >= 12
    assert wait_for_quiet(None, max_s=12, load=lambda: 9.0, sleep=slept.append) == 0.0 and len(slept) == 3


def test_latency_summary():
    assert latency_summary([]) == {"count": 0}
    s = latency_summary(list(range(1, 101)))
    assert s["count"] == 100 and s["max_ms"] == 100 and s["p50_ms"] == pytest.approx(50.5) and s["p99_ms"] == pytest.approx(99.01)


def _stats(text_queries: int, p50: float, texts: int) -> dict:
    return {"latency_ms": {"text_query": {"count": text_queries, "p50_ms": p50}, "search": {"count": text_queries}},
            "text_batches": {"batches": 1, "texts": texts}, "search_batches": None, "text_cache": {"hits": 1, "misses": 2},
            "indexes": {"image": {"count": 9}}}


def test_merge_worker_stats_sums_counts_and_keeps_the_busiest_percentiles():
    one = _stats(3, 1.0, 3)
    assert merge_worker_stats([one]) is one
    merged = merge_worker_stats([_stats(3, 1.0, 3), _stats(10, 7.0, 10)])
    assert merged["latency_ms"]["text_query"] == {"count": 13, "p50_ms": 7.0}
    assert merged["latency_ms"]["search"]["count"] == 13
    assert merged["text_batches"] == {"batches": 2, "texts": 13}
    assert merged["search_batches"] == {"batches": 0, "queries": 0}
    assert merged["text_cache"] == {"hits": 2, "misses": 4} and merged["indexes"] == {"image": {"count": 9}}


def test_zipf_weights():
    w = zipf_weights(4, 1.0)
    assert w.sum() == pytest.approx(1.0) and np.all(np.diff(w) < 0)
    assert w[0] / w[1] == pytest.approx(2.0)


def test_prepare_served_builds_the_replica_index_once_and_draws_the_pool(tiny_prepared, tmp_path):
    from distilhash.benchmark.serve_bench import prepare_served
    from distilhash.index import open_index
    from distilhash.methods.base import create_method
    from distilhash.pipeline.inputs import load_features_and_split

    teacher, split = tiny_prepared
    ds, _, feats, _ = load_features_and_split("tiny", teacher)
    method = create_method("lsh", n_bits=16, seed=0)
    method.fit(feats, split)
    method.save(tmp_path / "model")
    args = _parser().parse_args(["--model", str(tmp_path / "model"), "--dataset", "tiny", "--teacher", teacher, "--n", "500",
                                 "--pool", "5", "--work", str(tmp_path / "work")])
    readied: list = []
    inputs = lambda: load_features_and_split("tiny", teacher)[:3]  # noqa: E731
    served = prepare_served(args, inputs, readied.append)
    assert readied == [served.index] and served.build["built"] and served.build["count"] == 500
    assert served.build["n_real"] == len(split.retrieval)
    assert sorted(served.query_rows) == sorted(int(r) for r in split.query)
    assert served.pool == query_pool(served.texts, served.query_rows, 5) and len(served.pool) <= 5
    with open_index(served.index) as idx:
        assert len(idx) == 500
    again = prepare_served(args, inputs, readied.append)  # reused, not rebuilt
    assert not again.build["built"] and again.pool == served.pool


def test_stats_figures_from_the_service_stats():
    from distilhash.benchmark.serve_bench import stats_figures

    stats = {"text_batches": {"batches": 4, "texts": 10}, "search_batches": {"batches": 0, "queries": 0},
             "text_cache": {"hits": 3, "misses": 1}, "latency_ms": {"static_text": {"count": 9}}}
    assert stats_figures(stats) == {"mean_text_batch": 2.5, "mean_search_batch": None, "cache_hit_rate": 0.75,
                                    "answered_by": {"static": 9, "teacher": 0}}
    stats["text_cache"] = {"hits": 0, "misses": 0}
    assert stats_figures(stats)["cache_hit_rate"] is None


def test_overlap_with_exact_is_full_when_every_list_is_probed_and_lower_with_one(tmp_path):
    from distilhash.benchmark.serve_bench import overlap_with_exact
    from distilhash.codes import Encoded
    from distilhash.index import IndexOptions, create_index

    rng = np.random.default_rng(0)
    cb = rng.normal(size=(4, 16, 4)).astype(np.float32)
    codes = rng.integers(0, 16, (3000, 4), dtype=np.uint8)
    with create_index(tmp_path / "ix", kind="pq", codebooks=cb, options=IndexOptions(bulk_threshold=1)) as idx:
        idx.add([f"i{i}" for i in range(3000)], Encoded("pq", codes, 16, cb, "l2"))
    q = rng.normal(size=(40, 16)).astype(np.float32)
    full = overlap_with_exact(tmp_path / "ix", q, "ivf", ["nlist=16", "nprobe=16", "seed=0"], 10)
    assert full["queries"] == 40 and full["k"] == 10 and full["options"] == {"nlist": 16, "nprobe": 16, "seed": 0}
    assert full["overlap_at_k_mean"] >= 0.99
    one = overlap_with_exact(tmp_path / "ix", q, "ivf", ["nlist=16", "nprobe=1", "seed=0"], 10)
    assert one["overlap_at_k_mean"] < full["overlap_at_k_mean"] and 0 <= one["overlap_at_k_min"] <= one["overlap_at_k_mean"]
