"""The stage rankers behind the DCMQ open-vocabulary diagnoses: reconstruction, scores, stage names."""

import numpy as np
import pytest

from distilhash.benchmark.open_vocab.stages import STAGES, StageRankers, float_encoded, pq_reconstruct, score_ranking


def test_pq_reconstruct_picks_each_subspace_codeword():
    books = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)  # M=2, K=3, d=2
    codes = np.array([[0, 2], [1, 0]])
    out = pq_reconstruct(codes, books)
    assert out.shape == (2, 4)
    np.testing.assert_array_equal(out[0], np.concatenate([books[0][0], books[1][2]]))
    np.testing.assert_array_equal(out[1], np.concatenate([books[0][1], books[1][0]]))


def test_score_ranking_perfect_and_reversed():
    rng = np.random.default_rng(0)
    db = rng.normal(size=(20, 8)).astype(np.float32)
    db /= np.linalg.norm(db, axis=1, keepdims=True)
    q = db[:5].copy()
    rel = np.zeros((5, 20), bool)
    rel[np.arange(5), np.arange(5)] = True
    s = score_ranking(float_encoded(q), float_encoded(db), rel)
    assert s["p_at_1"] == pytest.approx(1.0) and s["map_all"] == pytest.approx(1.0)
    assert s["p_at_10"] == pytest.approx(0.1)
    worse = score_ranking(float_encoded(-q), float_encoded(db), rel)
    assert worse["map_all"] < 0.5


def test_unknown_stage_is_refused_by_name():
    with pytest.raises(ValueError, match="codes, ADC"):
        StageRankers(model=None).encode("codes", "text", np.zeros((1, 2), np.float32))
    feats = np.array([[3.0, 4.0]], np.float32)
    enc = StageRankers(model=None).encode(STAGES[0], "image", feats)
    np.testing.assert_allclose(enc.data, [[0.6, 0.8]], rtol=1e-6)


def test_l2_scores_and_the_pq_reference_quantizer():
    from distilhash.benchmark.open_vocab.quantizers import QUANTIZERS, l2_scores

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    rel = np.zeros((5, 300), bool)
    rel[np.arange(5), np.arange(5)] = True
    assert l2_scores(x[:5], x, rel) == pytest.approx((0.1, 1.0))  # each query finds itself first
    recon = QUANTIZERS["pq 8x256"](x, 0)(x)
    assert recon.shape == x.shape and ((recon - x) ** 2).sum() < (x ** 2).sum()
