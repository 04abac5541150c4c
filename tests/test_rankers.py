"""Rankers: distances for each code kind against direct formulas, stable and chunked rankings."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.codes import Encoded, pack_bits
from distilhash.errors import FeatureError
from distilhash.eval import rankers
from distilhash.eval.rankers import distances, iter_distances, rank, stable_topk
from metric_reference import ref_hamming, ref_order


@pytest.mark.parametrize("n_bits", [1, 7, 8, 13, 64, 100])
def test_hamming_matches_bit_count(n_bits):
    rng = np.random.default_rng(n_bits)
    qb = rng.integers(0, 2, (5, n_bits))
    db = rng.integers(0, 2, (9, n_bits))
    d = distances(Encoded("binary", pack_bits(qb), n_bits), Encoded("binary", pack_bits(db), n_bits))
    assert d.dtype == np.int32
    np.testing.assert_array_equal(d, ref_hamming(qb, db))


def test_hamming_ignores_padding_bits():
    bits = np.array([[1, 0, 1]])
    clean = pack_bits(bits)
    dirty = clean | np.uint8(0b00011111)  # garbage in the 5 padding bits
    d = distances(Encoded("binary", clean, 3), Encoded("binary", dirty, 3))
    assert d.tolist() == [[0]]


def test_popcount_lookup_table_fallback(monkeypatch):
    x = np.arange(256, dtype=np.uint8)
    expected = np.array([bin(i).count("1") for i in range(256)])
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    np.testing.assert_array_equal(rankers._popcount(x), expected)
    qb = np.random.default_rng(0).integers(0, 2, (3, 20))
    d = distances(Encoded("binary", pack_bits(qb), 20), Encoded("binary", pack_bits(qb[::-1]), 20))
    np.testing.assert_array_equal(d, ref_hamming(qb, qb[::-1]))


def test_float_is_one_minus_cosine():
    rng = np.random.default_rng(0)
    q, x = rng.normal(size=(4, 6)), rng.normal(size=(7, 6)) * 3.0
    d = distances(Encoded("float", q.astype(np.float32), 192), Encoded("float", x.astype(np.float32), 192))
    cos = (q @ x.T) / np.linalg.norm(q, axis=1)[:, None] / np.linalg.norm(x, axis=1)[None]
    np.testing.assert_allclose(d, 1 - cos, atol=1e-5)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_pq_adc_equals_distance_to_decoded_item(metric):
    rng = np.random.default_rng(1)
    m, k, sub = 3, 4, 2
    cb = rng.normal(size=(m, k, sub)).astype(np.float32)
    codes = rng.integers(0, k, (10, m)).astype(np.uint8)
    q = rng.normal(size=(5, m * sub)).astype(np.float32)
    decoded = np.stack([np.concatenate([cb[j, c[j]] for j in range(m)]) for c in codes])
    db = Encoded("pq", codes, m * 2, cb, metric)
    d = distances(Encoded("float", q, 32 * m * sub), db)
    if metric == "l2":
        expected = ((q[:, None, :] - decoded[None]) ** 2).sum(-1)
    else:
        expected = -(q @ decoded.T)
    np.testing.assert_allclose(d, expected, rtol=1e-5, atol=1e-5)
    # pq queries are decoded, then scored the same way
    qcodes = codes[:3]
    dq = distances(Encoded("pq", qcodes, m * 2, cb, metric), db)
    dq_ref = distances(Encoded("float", decoded[:3], 32 * m * sub), db)
    np.testing.assert_allclose(dq, dq_ref, rtol=1e-6, atol=1e-6)


def test_errors_name_the_problem():
    b8 = Encoded("binary", np.zeros((2, 1), np.uint8), 8)
    b16 = Encoded("binary", np.zeros((2, 2), np.uint8), 16)
    f = Encoded("float", np.ones((2, 3), np.float32), 96)
    with pytest.raises(FeatureError, match="8 bits but the database has 16"):
        distances(b8, b16)
    with pytest.raises(FeatureError, match="cannot rank binary queries against a float database"):
        distances(b8, f)
    with pytest.raises(FeatureError, match="width 3 but the database has 4"):
        distances(f, Encoded("float", np.ones((2, 4), np.float32), 128))
    with pytest.raises(FeatureError, match="NaN"):
        distances(Encoded("float", np.full((1, 3), np.nan, np.float32), 96), f)
    cb = np.zeros((2, 4, 2), np.float32)
    with pytest.raises(FeatureError, match="M\\*d"):
        distances(f, Encoded("pq", np.zeros((3, 2), np.uint8), 4, cb))
    with pytest.raises(FeatureError, match="K=4"):
        distances(Encoded("float", np.ones((1, 4), np.float32), 128), Encoded("pq", np.full((3, 2), 9, np.uint8), 4, cb))


def test_stable_topk_under_massive_ties():
    rng = np.random.default_rng(2)
    dist = rng.integers(0, 3, (20, 50)).astype(np.uint16)
    for k in (1, 5, 12, 13, 49, 50, 80):
        top = stable_topk(dist, k)
        for i in range(len(dist)):
            assert top[i].tolist() == ref_order(dist[i])[: min(k, 50)]
    fdist = rng.integers(0, 3, (20, 50)).astype(np.float32) / 7
    np.testing.assert_array_equal(stable_topk(fdist, 4), np.argsort(fdist, axis=1, kind="stable")[:, :4])


def test_rank_chunked_equals_unchunked():
    rng = np.random.default_rng(3)
    q = Encoded("binary", pack_bits(rng.integers(0, 2, (37, 6))), 6)
    db = Encoded("binary", pack_bits(rng.integers(0, 2, (90, 6))), 6)
    full = rank(q, db)
    assert full.shape == (37, 90) and full.dtype == np.int64
    np.testing.assert_array_equal(rank(q, db, chunk_size=5), full)
    np.testing.assert_array_equal(rank(q, db, k=10, chunk_bytes=1), full[:, :10])
    d = distances(q, db)
    np.testing.assert_array_equal(full, np.argsort(d, axis=1, kind="stable"))
    chunks = list(iter_distances(q, db, chunk_size=8))
    assert [c[0] for c in chunks] == list(range(0, 37, 8))
    np.testing.assert_array_equal(np.concatenate([c[2] for c in chunks]), d)
