"""IVF searcher for PQ codes: exactness at full probe, recall at small probe, tombstones, adds, options."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.codes import Encoded
from distilhash.errors import ConfigError
from distilhash.index import IndexOptions, create_index, open_index
from distilhash.index import ivf  # noqa: F401  (registers "ivf")
from distilhash.index.pq import PQ_SEARCHERS, adc_distances, lookup_tables
from distilhash.index.topk import NO_TOMBSTONES, Tombstones

M, K, D = 8, 256, 4


def _clustered(metric: str, rng: np.random.Generator, n: int = 6000, n_centres: int = 40, nq: int = 50):
    """Codebooks [M, K, d], codes of n items quantised from clustered vectors, queries near centres."""
    cb = rng.normal(size=(M, K, D)).astype(np.float32)
    centres = rng.normal(size=(n_centres, M * D)).astype(np.float32) * 2
    x = centres[rng.integers(0, n_centres, n)] + 0.4 * rng.normal(size=(n, M * D)).astype(np.float32)
    codes = np.stack([((x[:, m * D : (m + 1) * D, None] - cb[m].T[None]) ** 2).sum(1).argmin(1) for m in range(M)], 1).astype(np.uint8)
    q = centres[rng.integers(0, n_centres, nq)] + 0.4 * rng.normal(size=(nq, M * D)).astype(np.float32)
    return cb, codes, q


def _exact(cb, metric, codes, q, k, dead=NO_TOMBSTONES):
    s = PQ_SEARCHERS.create("numpy", cb, metric)
    s.add(codes)
    return s.search(q, k, dead)


def _ivf(cb, metric, codes, **opt):
    s = PQ_SEARCHERS.create("ivf", cb, metric, **opt)
    s.add(codes)
    return s


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_full_probe_equals_exact(metric):
    rng = np.random.default_rng(0)
    cb, codes, q = _clustered(metric, rng)
    s = _ivf(cb, metric, codes, nlist=32, nprobe=32)
    for (d1, r1), (d2, r2) in zip(s.search(q, 20, NO_TOMBSTONES), _exact(cb, metric, codes, q, 20)):
        assert np.array_equal(r1, r2)
        assert np.array_equal(d1, d2)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_small_probe_recall_and_exact_distances(metric):
    rng = np.random.default_rng(1)
    cb, codes, q = _clustered(metric, rng)
    s = _ivf(cb, metric, codes, nlist=64, nprobe=8)
    tables = lookup_tables(q, cb, metric)
    hits = 0
    for i, ((d, r), (_, re)) in enumerate(zip(s.search(q, 10, NO_TOMBSTONES), _exact(cb, metric, codes, q, 10))):
        assert len(r) == 10
        assert np.array_equal(d, adc_distances(tables[i], codes[r], metric))  # exact ADC of the returned items
        assert np.all(np.diff(d) >= 0)
        hits += len(np.intersect1d(r, re))
    recall = hits / (10 * len(q))
    assert recall > 0.8, recall
    # probing fewer lists scans fewer codes than the whole set
    assert s.list_sizes().sum() == len(codes) and s.list_sizes().max() < len(codes) / 4


def test_tombstones_and_incremental_add():
    rng = np.random.default_rng(2)
    cb, codes, q = _clustered("l2", rng, n=4000)
    s = _ivf(cb, "l2", codes[:3000], nlist=16, nprobe=16)
    trained = s.centroids.copy()
    s.add(codes[3000:])
    assert np.array_equal(s.centroids, trained)  # later adds never retrain
    assert s.ntotal == 4000
    first = _exact(cb, "l2", codes, q, 5)
    dead_rows = np.unique(np.concatenate([r for _, r in first]))
    dead = Tombstones(dead_rows, len(codes))
    got = s.search(q, 5, dead)
    ref = _exact(cb, "l2", codes, q, 5, dead)
    for (d1, r1), (d2, r2) in zip(got, ref):
        assert not np.isin(r1, dead_rows).any()
        assert np.array_equal(r1, r2) and np.array_equal(d1, d2)


def test_k_larger_than_probed_lists_widens():
    rng = np.random.default_rng(3)
    cb, codes, q = _clustered("l2", rng, n=500)
    s = _ivf(cb, "l2", codes, nlist=50, nprobe=1)
    res = s.search(q[:5], 200, NO_TOMBSTONES)
    assert all(len(r) == 200 for _, r in res)
    assert s.stats["widened"] == 5
    res = s.search(q[:2], 1000, Tombstones(np.arange(10), 500))  # more than the live items
    assert all(len(r) == 490 and r.min() >= 10 for _, r in res)


def test_empty_and_bad_options():
    cb = np.random.default_rng(4).normal(size=(M, K, D)).astype(np.float32)
    s = PQ_SEARCHERS.create("ivf", cb, "l2")
    s.add(np.empty((0, M), np.uint8))
    assert s.search(np.zeros((2, M * D), np.float32), 3, NO_TOMBSTONES)[0][1].size == 0
    for bad in ({"nprobe": 0}, {"nlist": -3}, {"nlist": 2.5}, {"nprobe": "8"}, {"nprob": 4}, {"seed": -1}):
        with pytest.raises(ConfigError, match="ivf"):
            PQ_SEARCHERS.create("ivf", cb, "l2", **bad)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_through_open_index(tmp_path, metric):
    rng = np.random.default_rng(5)
    cb, codes, q = _clustered(metric, rng, n=3000)
    n = len(codes)
    with create_index(tmp_path / "ix", kind="pq", codebooks=cb, metric=metric) as idx:
        idx.add([f"p{i}" for i in range(n)], Encoded("pq", codes, 64, cb, metric), [{"i": i} for i in range(n)])
        idx.delete(["p1", "p2"])
    with open_index(tmp_path / "ix", options=IndexOptions(backend="numpy")) as ref:
        want = ref.search(q, 10)
    opts = IndexOptions(backend="ivf", searcher_options={"nlist": 20, "nprobe": 20})
    with open_index(tmp_path / "ix", options=opts) as ix:
        assert ix.backend == "ivf"
        got = ix.search(q, 10)
        assert ix.searcher().stats["nlist"] == 20
    assert [r.ids for r in got] == [r.ids for r in want]
    assert all(np.array_equal(a.distances, b.distances) for a, b in zip(got, want))
    with open_index(tmp_path / "ix") as auto:
        assert auto.backend != "ivf"
    with pytest.raises(ConfigError, match="nprobe"):
        with open_index(tmp_path / "ix", options=IndexOptions(backend="ivf", searcher_options={"nprobe": 0})) as bad:
            bad.search(q, 3)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_many_tied_duplicates_keep_row_order(metric):
    rng = np.random.default_rng(6)
    cb, codes, q = _clustered(metric, rng, n=60)
    dup = codes[rng.integers(0, 60, 3000)]  # ~50 identical copies per code: long boundary ties
    s = _ivf(cb, metric, dup, nlist=8, nprobe=8)
    for (d1, r1), (d2, r2) in zip(s.search(q, 10, NO_TOMBSTONES), _exact(cb, metric, dup, q, 10)):
        assert np.array_equal(r1, r2) and np.array_equal(d1, d2)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_batched_native_scan_equals_one_query_at_a_time(metric):
    """The batch path (one C call over every query's probed lists) returns what the per-query path does."""
    from distilhash.index import native

    if not native.available():
        pytest.skip("no C compiler: the batch path is not used")
    rng = np.random.default_rng(3)
    cb, codes, q = _clustered(metric, rng)
    codes = np.concatenate([codes, codes[:500]])  # exact duplicates: ties at the top-k boundary
    s = _ivf(cb, metric, codes, nlist=48, nprobe=6)
    batched = s.search(q, 15, NO_TOMBSTONES)
    tables, scores = lookup_tables(q, cb, metric), s._coarse_scores(q)
    for i, (d1, r1) in enumerate(batched):
        d2, r2 = s._search_one(tables[i], scores[i], 15, 6, NO_TOMBSTONES)
        assert np.array_equal(r1, r2) and np.array_equal(d1, d2)


@pytest.mark.parametrize("metric,tail_rows", [("l2", 64), ("ip", 64), ("ip", 4096)])
def test_writes_between_searches_keep_answers_exact(metric, tail_rows, monkeypatch):
    """A serving index's life: small adds with searches between them (new rows go to a tail
    grouping, merged into the main one past ``tail_rows``; 64: merged several times, 4096: never)
    and deletes (the batch path asks for k + deleted rows and drops them). Every answer equals the
    per-query path's and that of a searcher grouped from all codes in one go."""
    from distilhash.index import native

    monkeypatch.setattr(ivf, "_TAIL_ROWS", tail_rows)
    rng = np.random.default_rng(11)
    cb, codes, q = _clustered(metric, rng, n=5000)
    codes = np.concatenate([codes, codes[:300]])  # duplicates: ties at the top-k boundary
    s = _ivf(cb, metric, codes[:4000], nlist=40, nprobe=5)
    n, dead_rows = 4000, np.empty(0, np.int64)
    tables = lookup_tables(q, cb, metric)
    while n < len(codes):
        step = int(rng.integers(1, 150))
        s.add(codes[n : n + step])
        n = min(len(codes), n + step)
        dead_rows = np.union1d(dead_rows, rng.choice(n, 7, replace=False))
        dead = Tombstones(dead_rows, n)
        got = s.search(q, 12, dead)
        fresh = PQ_SEARCHERS.create("ivf", cb, metric, nlist=40, nprobe=5)  # the same lists, grouped from scratch
        fresh.centroids, fresh._codes, fresh._assign = s.centroids, codes[:n], s._assign.copy()
        scores = s._coarse_scores(q)
        for i, ((d1, r1), (d2, r2)) in enumerate(zip(got, fresh.search(q, 12, dead))):
            assert not np.isin(r1, dead_rows).any()
            assert np.array_equal(r1, r2) and np.array_equal(d1, d2)
            d3, r3 = s._search_one(tables[i], scores[i], 12, 5, dead)
            assert np.array_equal(r1, r3) and np.array_equal(d1, d3)
    rows = np.concatenate([r for _, r, _ in s._segments()])
    assert np.array_equal(np.sort(rows), np.arange(len(codes)))  # every row in exactly one grouping
    assert len(codes) - s._grouped_n <= max(tail_rows, len(codes) // 64)  # the tail never outgrows its bound
    if tail_rows == 4096:
        assert s._grouped_n < 4200 and s._tail is not None  # never merged: grouped once at the first search
    else:
        assert s._grouped_n > 5000  # merged several times
    assert np.array_equal(s.list_sizes(), np.bincount(s._assign, minlength=40))
    if native.available():
        assert s.stats["queries"] > 0
