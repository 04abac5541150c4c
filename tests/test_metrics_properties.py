"""Property-based tests of the metrics (hypothesis) against the slow reference."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from distilhash.codes import Encoded, pack_bits
from distilhash.eval.metrics import evaluate
from metric_reference import ap_from_rels, brute_expected, close, ref_relevant, ref_scores

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def problems(draw, max_nq=5, max_nd=12, max_bits=4, max_labels=3):
    """Random binary codes (few bits -> many ties) and random multi-hot labels."""
    nq = draw(st.integers(1, max_nq))
    nd = draw(st.integers(1, max_nd))
    n_bits = draw(st.integers(1, max_bits))
    n_labels = draw(st.integers(1, max_labels))
    seed = draw(st.integers(0, 2**32 - 1))
    p = draw(st.sampled_from([0.2, 0.5, 0.8]))
    rng = np.random.default_rng(seed)
    qb = rng.integers(0, 2, (nq, n_bits))
    db = rng.integers(0, 2, (nd, n_bits))
    ql = (rng.random((nq, n_labels)) < p).astype(np.uint8)
    dl = (rng.random((nd, n_labels)) < p).astype(np.uint8)
    return qb, db, ql, dl


def _enc(bits: np.ndarray) -> Encoded:
    return Encoded("binary", pack_bits(bits), bits.shape[1])


def _dist(qb, db):
    return (qb[:, None, :] != db[None]).sum(-1)


@SETTINGS
@given(problems(), st.lists(st.integers(1, 15), min_size=1, max_size=3, unique=True))
def test_matches_reference_and_is_in_unit_interval(prob, top_n):
    qb, db, ql, dl = prob
    rep = evaluate(_enc(qb), _enc(db), ql, dl, top_n=top_n, per_query=True)
    ref = ref_scores(_dist(qb, db), ref_relevant(ql, dl), sorted(top_n))
    np.testing.assert_allclose(rep.per_query_ap, ref["ap"], atol=1e-12)
    assert 0.0 <= rep.map_all <= 1.0
    for j, n in enumerate(sorted(top_n)):
        assert close(rep.map_at[n], float(np.mean([r[j] for r in ref["ap_at"]])))
        for score in (rep.map_at[n], rep.precision_at[n], rep.recall_at[n], *(v[n] for v in rep.map_variants.values())):
            assert 0.0 <= score <= 1.0 + 1e-12
        if n >= len(db):  # truncation at or beyond the database is no truncation
            assert close(rep.map_at[n], rep.map_all)
            assert close(rep.recall_at[n], float(np.mean([r > 0 for r in ref["n_rel"]])))
    assert rep.n_without_relevant == sum(r == 0 for r in ref["n_rel"])


@SETTINGS
@given(problems(max_nq=3, max_nd=7, max_bits=2), st.integers(1, 8))
def test_tie_aware_equals_mean_over_all_tie_orders(prob, n):
    qb, db, ql, dl = prob
    rep = evaluate(_enc(qb), _enc(db), ql, dl, top_n=(n,), tie_aware=True, per_query=True)
    dist = _dist(qb, db)
    rel = ref_relevant(ql, dl)
    for i in range(len(qb)):
        assert close(rep.per_query_ap[i], brute_expected(dist[i], rel[i], ap_from_rels))
    exp_at = np.mean([brute_expected(dist[i], rel[i], lambda r: ap_from_rels(r, n)) for i in range(len(qb))])
    assert close(rep.map_at[n], float(exp_at))
    exp_p = np.mean([brute_expected(dist[i], rel[i], lambda r: sum(r[:n]) / min(n, len(r))) for i in range(len(qb))])
    assert close(rep.precision_at[n], float(exp_p))


@SETTINGS
@given(problems(), st.integers(0, 2**32 - 1))
def test_permuting_database_with_labels(prob, seed):
    """Tie-free float distances: a consistent permutation of items and labels changes nothing.
    Tie-aware scores are invariant even with ties."""
    qb, db, ql, dl = prob
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(db))
    qf = rng.normal(size=(len(qb), 5)).astype(np.float32)
    xf = rng.normal(size=(len(db), 5)).astype(np.float32)
    f = lambda x: Encoded("float", x, 160)  # noqa: E731
    a = evaluate(f(qf), f(xf), ql, dl, top_n=(3, 10))
    b = evaluate(f(qf), f(xf[perm]), ql, dl[perm], top_n=(3, 10))
    assert close(a.map_all, b.map_all) and all(close(a.map_at[n], b.map_at[n]) for n in (3, 10))
    ta = evaluate(_enc(qb), _enc(db), ql, dl, top_n=(3, 10), tie_aware=True)
    tb = evaluate(_enc(qb), _enc(db[perm]), ql, dl[perm], top_n=(3, 10), tie_aware=True)
    assert close(ta.map_all, tb.map_all) and all(close(ta.map_at[n], tb.map_at[n]) for n in (3, 10))
    assert all(close(ta.precision_at[n], tb.precision_at[n]) for n in (3, 10))


@SETTINGS
@given(problems())
def test_perfect_ranking_scores_one(prob):
    """Each query gets a database where relevant items sit at distance 0 and the rest at 1."""
    _, _, ql, dl = prob
    for i in range(len(ql)):
        rel = (dl @ ql[i]) > 0
        db = (~rel).astype(np.uint8)[:, None]
        rep = evaluate(_enc(np.zeros((1, 1), np.uint8)), _enc(db), ql[i : i + 1], dl, top_n=(1, 5, 100))
        expected = 1.0 if rel.any() else 0.0
        assert rep.map_all == expected and rep.n_without_relevant == 1 - expected
        assert all(v == expected for v in rep.map_at.values())


@SETTINGS
@given(problems(max_nq=12, max_nd=30, max_bits=6), st.integers(1, 5), st.booleans())
def test_chunked_equals_unchunked(prob, chunk, tie_aware):
    qb, db, ql, dl = prob
    a = evaluate(_enc(qb), _enc(db), ql, dl, top_n=(1, 4, 20), tie_aware=tie_aware)
    b = evaluate(_enc(qb), _enc(db), ql, dl, top_n=(1, 4, 20), tie_aware=tie_aware, chunk_size=chunk)
    da, db_ = a.to_dict(), b.to_dict()
    for key in ("map_all", "map_at", "precision_at", "recall_at", "map_variants", "n_without_relevant"):
        assert da[key] == db_[key] or np.allclose(_flat(da[key]), _flat(db_[key]), atol=1e-12), key
    np.testing.assert_allclose(a.pr_curve[0], b.pr_curve[0], atol=1e-12)
    np.testing.assert_allclose(a.precision_curve[1], b.precision_curve[1], atol=1e-12)


def _flat(x):
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _flat(x[k])]
    return [x]


@st.composite
def pq_problems(draw):
    """Float queries against PQ codes from a tiny codebook: ADC distances with massive float ties."""
    nq = draw(st.integers(1, 3))
    nd = draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    metric = draw(st.sampled_from(["l2", "ip"]))
    rng = np.random.default_rng(seed)
    cb = rng.normal(size=(2, 2, 2)).astype(np.float32)  # M=2 subspaces, K=2 codewords
    codes = rng.integers(0, 2, (nd, 2)).astype(np.uint8)
    q = rng.normal(size=(nq, 4)).astype(np.float32)
    ql = (rng.random((nq, 2)) < 0.5).astype(np.uint8)
    dl = (rng.random((nd, 2)) < 0.5).astype(np.uint8)
    return Encoded("float", q, 128), Encoded("pq", codes, 2, cb, metric), ql, dl


@SETTINGS
@given(pq_problems(), st.integers(1, 8))
def test_float_ties_from_pq_codes(prob, n):
    from distilhash.eval.rankers import distances

    q, db, ql, dl = prob
    dist = distances(q, db)
    rel = ref_relevant(ql, dl)
    rep = evaluate(q, db, ql, dl, top_n=(n,), per_query=True)
    ref = ref_scores(dist, rel, [n])
    np.testing.assert_allclose(rep.per_query_ap, ref["ap"], atol=1e-12)
    assert close(rep.map_at[n], float(np.mean([r[0] for r in ref["ap_at"]])))
    ta = evaluate(q, db, ql, dl, top_n=(n,), tie_aware=True, per_query=True)
    for i in range(len(ql)):
        assert close(ta.per_query_ap[i], brute_expected(dist[i], rel[i], ap_from_rels))
    exp_at = np.mean([brute_expected(dist[i], rel[i], lambda r: ap_from_rels(r, n)) for i in range(len(ql))])
    assert close(ta.map_at[n], float(exp_at))


def test_few_float_ties_among_many_items():
    """A few duplicated PQ codes among many distinct ones (the sparse tie path) match the reference."""
    rng = np.random.default_rng(5)
    cb = rng.normal(size=(2, 256, 3)).astype(np.float32)
    codes = rng.integers(0, 256, (300, 2)).astype(np.uint8)
    codes[rng.choice(300, 12, replace=False)] = codes[:12]  # 12 duplicates -> a few tied pairs
    q = Encoded("float", rng.normal(size=(6, 6)).astype(np.float32), 192)
    db = Encoded("pq", codes, 16, cb, "l2")
    ql = (rng.random((6, 3)) < 0.4).astype(np.uint8)
    dl = (rng.random((300, 3)) < 0.4).astype(np.uint8)
    from distilhash.eval.rankers import distances

    dist = distances(q, db)
    assert any(len(np.unique(row)) < len(row) for row in dist)  # ties exist
    rep = evaluate(q, db, ql, dl, top_n=(10, 50), per_query=True)
    ref = ref_scores(dist, ref_relevant(ql, dl), [10, 50])
    np.testing.assert_allclose(rep.per_query_ap, ref["ap"], atol=1e-12)
    for j, n in enumerate((10, 50)):
        assert close(rep.map_at[n], float(np.mean([r[j] for r in ref["ap_at"]])))
