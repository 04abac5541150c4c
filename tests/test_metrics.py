"""Metrics against the slow reference on hand-made and random cases."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.codes import Encoded, pack_bits
from distilhash.errors import DataError
from distilhash.eval.metrics import evaluate, relevance
from metric_reference import brute_expected, ap_from_rels, close, ref_relevant, ref_scores


def _float_codes(x: np.ndarray) -> Encoded:
    return Encoded("float", np.asarray(x, np.float32), 32 * x.shape[1])


def _binary(bits: np.ndarray) -> Encoded:
    return Encoded("binary", pack_bits(np.asarray(bits)), bits.shape[1])


def _check_against_reference(q, db, dist, ql, dl, top_n):
    rep = evaluate(q, db, ql, dl, top_n=top_n, per_query=True)
    ref = ref_scores(dist, ref_relevant(ql, dl), list(top_n))
    np.testing.assert_allclose(rep.per_query_ap, ref["ap"], atol=1e-12)
    assert close(rep.map_all, float(np.mean(ref["ap"])))
    for j, n in enumerate(top_n):
        assert close(rep.map_at[n], float(np.mean([r[j] for r in ref["ap_at"]])))
        assert close(rep.precision_at[n], float(np.mean([r[j] for r in ref["p_at"]])))
        assert close(rep.recall_at[n], float(np.mean([r[j] for r in ref["r_at"]])))
        assert close(rep.map_variants["first_k_relevant"][n], float(np.mean([r[j] for r in ref["fk"]])))
        assert close(rep.map_variants["min_denominator"][n], float(np.mean([r[j] for r in ref["md"]])))
    assert rep.n_without_relevant == sum(1 for r in ref["n_rel"] if r == 0)
    return rep


def test_hand_made_massive_ties_and_no_relevant():
    # 2-bit codes: 4 distinct codes for 12 items -> massive ties; label 2 shared by nobody
    db_bits = np.array([[0, 0], [1, 1], [0, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 0], [1, 1], [0, 1], [0, 0], [1, 1]])
    q_bits = np.array([[0, 0], [1, 1], [0, 1]])
    dl = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0],
                   [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0]])
    ql = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    dist = (q_bits[:, None, :] != db_bits[None]).sum(-1)
    rep = _check_against_reference(_binary(q_bits), _binary(db_bits), dist, ql, dl, (1, 3, 5, 12, 50))
    assert rep.n_without_relevant == 1
    assert rep.per_query_ap[1] == 0.0
    # the query 0 ranking by (distance, index): distance 0 items 0,2,5,7,10 first
    rels = [bool(dl[j, 0]) for j in [0, 2, 5, 7, 10]]
    assert rels == [True, True, False, True, True]


def test_random_float_against_reference():
    rng = np.random.default_rng(1)
    q, x = rng.normal(size=(7, 4)), rng.normal(size=(40, 4))
    ql = (rng.random((7, 3)) < 0.3).astype(np.uint8)
    dl = (rng.random((40, 3)) < 0.4).astype(np.uint8)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    dist = 1 - (qn @ xn.T).astype(np.float32)
    rep = evaluate(_float_codes(q), _float_codes(x), ql, dl, top_n=(5, 20), per_query=True)
    ref = ref_scores(dist, ref_relevant(ql, dl), [5, 20])
    np.testing.assert_allclose(rep.per_query_ap, ref["ap"], atol=1e-9)


def test_tie_aware_matches_brute_force_on_tiny_case():
    dist_row = np.array([[1, 0, 1, 1, 0, 2, 1]])
    bits_db = np.array([[0, 0, 0, 0], [0, 0, 0, 0]])  # unused shape helper
    del bits_db
    rel_row = [True, False, True, False, True, True, False]
    # realise the distances as 2-bit Hamming codes: query 00; item codes by distance
    code = {0: [0, 0], 1: [1, 0], 2: [1, 1]}
    db = np.array([code[int(d)] for d in dist_row[0]])
    dl = np.array([[1] if r else [0] for r in rel_row])
    rep = evaluate(_binary(np.array([[0, 0]])), _binary(db), np.array([[1]]), dl, top_n=(1, 2, 3, 4, 6), tie_aware=True)
    assert close(rep.map_all, brute_expected(dist_row[0], rel_row, ap_from_rels))
    for n in (1, 2, 3, 4, 6):
        assert close(rep.map_at[n], brute_expected(dist_row[0], rel_row, lambda r, n=n: ap_from_rels(r, n)))
        assert close(rep.precision_at[n], brute_expected(dist_row[0], rel_row, lambda r, n=n: sum(r[:n]) / n))


def test_relevance_is_shared_label():
    ql = np.array([[1, 0, 1], [0, 0, 0]])
    dl = np.array([[0, 0, 1], [0, 1, 0], [1, 1, 1]])
    assert relevance(ql, dl).tolist() == [[True, False, True], [False, False, False]]


def test_bad_labels_raise():
    x = _float_codes(np.eye(3))
    with pytest.raises(DataError, match="query labels"):
        evaluate(x, x, np.ones((2, 2)), np.ones((3, 2)))
    with pytest.raises(DataError, match="classes"):
        evaluate(x, x, np.ones((3, 2)), np.ones((3, 4)))
    with pytest.raises(DataError, match="database labels contain negative"):
        evaluate(x, x, np.ones((3, 2)), -np.ones((3, 2)))


@pytest.mark.parametrize("kind", ["binary", "float"])
def test_moderate_size_chunked_equals_unchunked(kind):
    rng = np.random.default_rng(7)
    nq, nd = 150, 4000
    ql = (rng.random((nq, 6)) < 0.2).astype(np.uint8)
    dl = (rng.random((nd, 6)) < 0.2).astype(np.uint8)
    if kind == "binary":
        q, db = _binary(rng.integers(0, 2, (nq, 12))), _binary(rng.integers(0, 2, (nd, 12)))
    else:
        q, db = _float_codes(rng.normal(size=(nq, 8))), _float_codes(rng.normal(size=(nd, 8)))
    for tie_aware in (False, True):
        whole = evaluate(q, db, ql, dl, tie_aware=tie_aware, per_query=True, chunk_size=nq)
        parts = evaluate(q, db, ql, dl, tie_aware=tie_aware, per_query=True, memory_bytes=40 * nd * 13)
        np.testing.assert_array_equal(whole.per_query_ap, parts.per_query_ap)
        assert whole.map_at == parts.map_at and whole.precision_at == parts.precision_at
        np.testing.assert_array_equal(whole.pr_curve[0], parts.pr_curve[0])
        np.testing.assert_array_equal(whole.precision_curve[1], parts.precision_curve[1])
