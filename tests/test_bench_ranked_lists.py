"""Ranked row lists scored and timed (distilhash.benchmark.ranked_lists)."""

from __future__ import annotations

import numpy as np

from distilhash.benchmark.ranked_lists import ap_lists, ivf_candidates, precision_at, quality, recall, timed_search


def test_average_precision_of_ranked_lists_trec_style():
    rel = np.array([[True, False, True, False], [False, False, False, True]])
    ranked = [np.array([0, 1, 2, 3]), np.array([0, 1])]  # query 1 never reaches its relevant item
    # query 0: hits at ranks 1 and 3 -> (1/1 + 2/3) / 2; query 1: 0 (unretrieved counts as a miss)
    assert np.isclose(ap_lists(ranked, rel, None), ((1 + 2 / 3) / 2 + 0) / 2)
    # AP@2: query 0 has one hit in the first 2 -> 1.0; query 1 none -> 0
    assert np.isclose(ap_lists(ranked, rel, 2), 0.5)
    assert np.isclose(precision_at(ranked, rel, 2), (1 / 2 + 0) / 2)
    q = quality(ranked, rel)
    assert list(q) == ["map_all", "map@100", "map@1000", "p@10", "p@100"] and np.isclose(q["p@10"], (2 / 10 + 0) / 2)


def test_recall_against_a_reference_top_k():
    ref = [(None, np.array([1, 2, 3])), (None, np.array([4, 5]))]
    got = [(None, np.array([3, 9, 1, 2])), (None, np.array([7]))]
    assert np.isclose(recall(got, ref, 3), (2 / 3 + 0) / 2)  # only the first k of got count


def test_timed_search_and_ivf_candidates_on_a_small_pq_searcher():
    from distilhash.index import ivf  # noqa: F401 - registers the searcher
    from distilhash.index.pq import PQ_SEARCHERS

    rng = np.random.default_rng(0)
    cb = rng.normal(size=(4, 16, 4)).astype(np.float32)
    codes = rng.integers(0, 16, (2000, 4), dtype=np.uint8)
    q = rng.normal(size=(5, 16)).astype(np.float32)
    exact = PQ_SEARCHERS.create("native", cb, "l2")
    exact.add(codes)
    res, sec = timed_search(exact, q, 10)
    assert len(res) == 5 and all(len(r) == 10 for _, r in res) and sec > 0
    s = PQ_SEARCHERS.create("ivf", cb, "l2", nlist=8, seed=0)
    s.add(codes)
    every = ivf_candidates(s, q, 8)  # every list probed: every row, ranked like the exact scan
    assert all(sorted(c.tolist()) == list(range(2000)) for c in every)
    assert all(np.array_equal(c[:10], r) for c, (_, r) in zip(every, res))
    one = ivf_candidates(s, q, 1)
    assert all(0 < len(c) < 2000 for c in one)
