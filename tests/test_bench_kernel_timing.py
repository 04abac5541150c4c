"""The scan-speed harness: best-of timing, interleaved arms, synthetic PQ data, the FAISS references."""

from __future__ import annotations

import time

import numpy as np
import pytest

from distilhash.benchmark.kernel_timing import (best_of, faiss_binary_flat, faiss_pq, faiss_rows, interleaved, ns_per_code,
                                                same_results, synthetic_pq)


def test_best_of_keeps_the_fastest_run_and_the_last_result():
    calls = []
    sleeps = [0.03, 0.0, 0.02]

    def fn():
        time.sleep(sleeps[len(calls)])
        calls.append(1)
        return len(calls)

    wall, cpu, result = best_of(fn, repeat=3)
    assert len(calls) == 3 and result == 3
    assert wall < 0.015  # the second, sleepless run
    assert 0 <= cpu <= wall + 0.01


def test_best_of_runs_at_least_once():
    assert best_of(lambda: "x", repeat=0).result == "x"


def test_interleaved_warms_each_arm_then_alternates_the_order():
    order: list[str] = []
    arms = {name: (lambda n=name: order.append(n)) for name in ("a", "b", "c")}
    times = interleaved(arms, repeat=3)
    assert order == ["a", "b", "c", "a", "b", "c", "c", "b", "a", "a", "b", "c"]
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(w >= 0 and c >= 0 for v in times.values() for w, c in v)


def test_ns_per_code():
    assert ns_per_code(2.0, 4, 500_000_000) == pytest.approx(1.0)


def test_synthetic_pq_shapes_and_layouts():
    rng = np.random.default_rng(0)
    d4 = synthetic_pq(100, 3, rng, bits=4)
    assert d4.codebooks.shape == (16, 16, 4) and d4.codes.shape == (100, 16) and d4.queries.shape == (3, 64)
    assert d4.codes.max() < 16 and d4.m == 16 and d4.d == 64
    d8 = synthetic_pq(50, 2, rng, bits=8, m=4, d_sub=2)
    assert d8.codebooks.shape == (4, 256, 2) and d8.codes.dtype == np.uint8 and d8.queries.dtype == np.float32
    with pytest.raises(ValueError, match="bits"):
        synthetic_pq(10, 1, rng, bits=6)


def test_same_results_and_faiss_rows():
    a = [(np.array([1, 2], np.int32), np.array([5, 7]))]
    assert same_results(a, [(np.array([1, 2], np.int32), np.array([5, 7]))])
    assert not same_results(a, [(np.array([1, 2], np.int32), np.array([5, 8]))])
    assert not same_results(a, a + a)
    rows = faiss_rows(np.array([[3.0, 4.0, 0.0]]), np.array([[9, 2, -1]]))
    assert rows[0][0].tolist() == [3, 4] and rows[0][1].tolist() == [9, 2] and rows[0][1].dtype == np.int64


def _exact_adc_topk(codebooks, codes, q, k):
    m = codebooks.shape[0]
    sub = q.reshape(m, -1)
    tables = ((codebooks - sub[:, None, :]) ** 2).sum(-1)  # (m, K)
    d = tables[np.arange(m), codes].sum(1)
    return np.argsort(d, kind="stable")[:k]


def test_faiss_pq_holds_our_codebooks_and_codes():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    data = synthetic_pq(300, 4, rng, bits=8, m=4, d_sub=2)
    idx, label = faiss_pq(data.codebooks, data.codes)
    assert label == "FAISS IndexPQ" and idx.ntotal == 300
    _, rows = idx.search(data.queries, 5)
    for i, q in enumerate(data.queries):
        assert set(rows[i].tolist()) == set(_exact_adc_topk(data.codebooks, data.codes, q, 5).tolist())
    with pytest.raises(ValueError, match="4-bit"):
        faiss_pq(data.codebooks, data.codes, fast_scan=True)
    d4 = synthetic_pq(64, 1, rng, bits=4)
    fs, label = faiss_pq(d4.codebooks, d4.codes, fast_scan=True)
    assert label == "FAISS IndexPQFastScan" and fs.ntotal == 64


def test_faiss_binary_flat_finds_hamming_neighbours():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    db = rng.integers(0, 256, (200, 8), dtype=np.uint8)
    for heap in (True, False):
        dist, rows = faiss_binary_flat(db, heap).search(db[:3], 1)
        assert rows[:, 0].tolist() == [0, 1, 2] and dist[:, 0].tolist() == [0, 0, 0]


def test_one_query_per_call_sends_each_query_alone_and_times_every_call():
    from distilhash.benchmark.kernel_timing import one_query_per_call

    seen = []

    def search(q):
        seen.append(q.shape)
        return [int(q[0, 0]) * 10]

    out, secs = one_query_per_call(search, np.arange(6).reshape(3, 2))
    assert out == [0, 20, 40] and seen == [(1, 2)] * 3 and len(secs) == 3 and all(s >= 0 for s in secs)


def test_rotating_calls_rotate_the_order_and_drop_the_warm_queries():
    from distilhash.benchmark.kernel_timing import rotating_calls

    order: list[tuple[str, int]] = []
    calls = {name: (lambda q, name=name: order.append((name, q)) or f"{name}{q}") for name in ("a", "b", "c")}
    out = rotating_calls(calls, list(range(10)), count=4, warm=2)
    assert [n for n, _ in order[:6]] == ["a", "b", "c", "b", "c", "a"]  # query 0 starts with a, query 1 with b
    assert len(order) == 18  # the first 6 queries (2 warm + 4 kept), 3 calls each
    for name in calls:
        ms, answers = out[name]
        assert answers == [f"{name}{q}" for q in range(2, 6)] and ms.shape == (4,) and (ms >= 0).all()


def test_percentiles_over_runs_mean_and_sample_std():
    from distilhash.benchmark.kernel_timing import percentiles_over_runs

    r = percentiles_over_runs([[1.0] * 99 + [100.0], [3.0] * 100])
    assert r["p50_runs"] == [1.0, 3.0] and r["p50_ms"] == 2.0 and abs(r["p50_std"] - 2 ** 0.5) < 1e-12
    assert r["p99_runs"][1] == 3.0 and r["p99_runs"][0] > 1.0
    assert percentiles_over_runs([[5.0, 5.0]])["p50_std"] == 0.0


def test_batch_calls_answer_every_query_in_calls_of_the_batch_and_keep_the_fastest():
    from distilhash.benchmark.kernel_timing import BatchCalls

    seen: list[int] = []
    calls = BatchCalls(lambda q: seen.append(len(q)), np.zeros((10, 4)), batch=4)
    calls()
    assert seen == [4, 4, 2] and 0 <= calls.best_call < float("inf")


def test_with_threads_adds_a_split_arm_per_thread_count_and_restores_one_thread():
    pytest.importorskip("faiss")
    from distilhash.benchmark.kernel_timing import with_threads

    arms = with_threads({"ours (x)": lambda q: "o", "FAISS y": lambda q: "f"}, [1, 2, 3])
    assert list(arms) == ["ours (x)", "FAISS y", "ours (x), 2 threads", "FAISS y, 2 threads", "ours (x), 3 threads", "FAISS y, 3 threads"]
    assert arms["ours (x), 2 threads"](None) == "o" and arms["FAISS y, 3 threads"](None) == "f"


def test_arm_figures_best_wall_std_cpu_and_shares_of_the_limit():
    from distilhash.benchmark.kernel_timing import arm_figures

    r = arm_figures([(2.0, 1.5), (1.0, 1.0)], nq=10, n=100, limit_ns=0.5e9 / 1000, split_ns={"2": 0.25e9 / 1000})
    assert r["ns_per_code"] == 1e9 * 1.0 / 1000 and r["ns_per_code_all"] == [2e6, 1e6]
    assert r["cpu_ns_per_code"] == 1e6 and r["qps"] == 10.0 and r["share_of_limit"] == 0.5 and r["share_of_split_limit"] == {"2": 0.25}
    assert abs(r["ns_per_code_std"] - np.std([2e6, 1e6], ddof=1)) < 1e-6


def test_read_bandwidth_reports_a_positive_rate_per_reader_and_split():
    from distilhash.benchmark.kernel_timing import read_bandwidth

    bw = read_bandwidth(1 << 20, repeat=1, threads=[1, 2])
    assert bw["bytes"] == 1 << 20 and set(bw["gb_per_s"]) == {"count_nonzero", "sum_u64"}
    assert bw["best_gb_per_s"] == max(bw["gb_per_s"].values()) > 0 and set(bw["split_gb_per_s"]) == {"2"}
