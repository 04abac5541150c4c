"""Baselines on teacher features: quantizers (LSH, ITQ, PQ, k-means) and registered methods."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.training.synthetic import synthetic_features
from distilhash.codes import Encoded, unpack_bits
from distilhash.errors import ConfigError, FeatureError
from distilhash.eval.metrics import evaluate, evaluate_method
from distilhash.eval.rankers import distances
from distilhash.methods.base import create_method, load_method
from distilhash.quantizers.itq import ITQ
from distilhash.quantizers.kmeans import kmeans
from distilhash.quantizers.lsh import SignRandomProjection
from distilhash.quantizers.pq import ProductQuantizer

BASELINES = ["float-teacher", "lsh", "itq", "pq"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The machine is shared: keep torch to one thread (small MLPs gain nothing from more)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def synth():
    return synthetic_features(n=1500, n_labels=10, width=64, seed=0, model="low-rank", n_query=200, n_train=600, n_val=100)


def _map(method, feats, split, part="query") -> float:
    r = evaluate_method(method, feats, split, part=part, top_n=(), curves=False)
    return 0.5 * (r["i2t"].map_all + r["t2i"].map_all)


# ----------------------------------------------------------------------------- quantizers
def test_sign_random_projection_estimates_angle():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 200, 32))
    srp = SignRandomProjection(4096, center=False, seed=1).fit(a)
    disagree = (srp.encode(a) != srp.encode(b)).mean(axis=1)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    angle = np.arccos(np.clip(cos, -1, 1)) / np.pi
    assert np.abs(disagree - angle).max() < 0.05


def test_itq_rotation_is_orthogonal_and_loss_does_not_increase():
    x = np.random.default_rng(0).standard_normal((400, 20)).astype(np.float32)
    itq = ITQ(8, n_iter=30, seed=0).fit(x)
    r = itq.rotation_.astype(np.float64)
    assert np.allclose(r @ r.T, np.eye(8), atol=1e-5)
    h = np.asarray(itq.loss_history_)
    assert np.all(np.diff(h) <= 1e-6 * h[:-1])
    assert h[-1] < h[0]
    with pytest.raises(ConfigError, match="n_bits <= feature width"):
        ITQ(32).fit(x)


def test_kmeans_mse_falls_and_uses_every_cluster():
    x = np.random.default_rng(0).standard_normal((2000, 6)).astype(np.float32)
    c, hist = kmeans(x, 32, n_iter=15, seed=0)
    assert c.shape == (32, 6)
    assert all(b <= a + 1e-6 for a, b in zip(hist, hist[1:]))
    from distilhash.quantizers.kmeans import assign

    assert len(np.unique(assign(x, c)[0])) == 32


def test_pq_decode_error_falls_with_M():
    x = np.random.default_rng(0).standard_normal((1500, 32)).astype(np.float32)
    errors = []
    for M in (1, 2, 4, 8):
        pq = ProductQuantizer(32, M=M, nbits=5, n_iter=10, seed=0).fit(x)
        codes = pq.encode(x)
        assert codes.shape == (1500, M) and codes.dtype == np.uint8 and pq.code_size == (M * 5 + 7) // 8
        errors.append(float(((pq.decode(codes) - x) ** 2).sum(1).mean()))
    assert all(b < a for a, b in zip(errors, errors[1:])), errors


def test_pq_pads_when_M_does_not_divide_width_and_adc_matches_decode():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((600, 10)).astype(np.float32)
    q = rng.standard_normal((5, 10)).astype(np.float32)
    pq = ProductQuantizer(10, M=4, nbits=4, n_iter=8).fit(x)
    assert pq.dsub == 3 and pq.pad(q).shape == (5, 12)
    codes = pq.encode(x[:50])
    brute = ((q[:, None, :] - pq.decode(codes)[None]) ** 2).sum(-1)
    tables = pq.compute_distance_tables(q)
    adc = tables[:, np.arange(4)[None, :], codes.astype(int)].sum(-1)
    assert np.allclose(adc, brute, atol=1e-4)
    # the same number from the shared ranker on Encoded items
    got = distances(Encoded("float", pq.pad(q), 384), Encoded("pq", codes, 16, codebooks=pq.centroids_))
    assert np.allclose(got, brute, atol=1e-4)


# ----------------------------------------------------------------------------- methods
def test_itq_beats_lsh_on_structured_data(synth):
    feats, split = synth
    itq = _map(create_method("itq", n_bits=16, seed=0).fit(feats, split), feats, split)
    lsh = np.mean([_map(create_method("lsh", n_bits=16, seed=s).fit(feats, split), feats, split) for s in range(3)])
    assert itq > lsh + 0.02, (itq, lsh)


def test_codes_are_the_promised_kinds_and_sizes(synth):
    feats, split = synth
    q = feats.image[:7]
    for name, bits in (("lsh", 32), ("itq", 32)):
        m = create_method(name, n_bits=bits).fit(feats, split)
        for role in ("query", "database"):
            e = m.encode("image", q, role)
            assert e.kind == "binary" and e.n_bits == bits and e.data.shape == (7, bits // 8)
    pq = create_method("pq", n_bits=32).fit(feats, split)
    assert pq.encode("text", q, "database").kind == "pq" and pq.encode("text", q, "database").data.shape == (7, 4)
    assert pq.encode("image", q, "query").kind == "float"
    ft = create_method("float-teacher", n_bits=64).fit(feats, split)
    e = ft.encode("text", q, "query")
    assert e.kind == "float" and np.allclose(np.linalg.norm(e.data, axis=1), 1, atol=1e-5) and ft.n_bits == 32 * 64


def test_cross_modal_fit_uses_both_modalities(synth):
    """Joint centring subtracts the mean of image and text training rows together."""
    feats, split = synth
    m = create_method("lsh", n_bits=16, center="joint").fit(feats, split)
    want = np.concatenate([feats.image[split.fit], feats.text[split.fit]]).mean(0)
    assert np.allclose(m.means_[0], want, atol=1e-5) and np.allclose(m.means_[1], want, atol=1e-5)
    per = create_method("lsh", n_bits=16, center="modality").fit(feats, split)
    assert np.allclose(per.means_[1], feats.text[split.fit].mean(0), atol=1e-5)


@pytest.mark.parametrize("name", BASELINES + ["dcmh"])
def test_fit_never_reads_query_rows_and_reports_policy(synth, name):
    feats, split = synth
    poisoned = feats.take(np.arange(len(feats)))
    for arr in (poisoned.image, poisoned.text):
        arr[split.query] = np.nan
    cfg = {"max_epochs": 3, "hidden": [64]} if name == "dcmh" else {}
    m = create_method(name, n_bits=16, **cfg).fit(poisoned, split)
    clean = m.encode("image", feats.image[split.retrieval[:50]], "database")
    assert np.isfinite(clean.data.astype(np.float64)).all()
    assert "epoch_policy" in m.fit_info_
    if name == "dcmh":
        kept, hist = m.fit_info_["kept_epoch"], m.fit_info_["history"]
        best = max(h["val_map_mean"] for h in hist)
        assert hist[kept - 1]["val_map_mean"] == best and "val" in m.fit_info_["criterion"]


@pytest.mark.parametrize("name", BASELINES + ["dcmh"])
def test_save_load_roundtrip_gives_identical_codes(synth, tmp_path, name):
    feats, split = synth
    cfg = {"max_epochs": 2, "hidden": [32]} if name == "dcmh" else {}
    m = create_method(name, n_bits=16, seed=3, **cfg).fit(feats, split)
    m.save(tmp_path / name)
    back = load_method(tmp_path / name)
    assert back.name == name and back.config_dict() == m.config_dict()
    for modality in ("image", "text"):
        for role in ("query", "database"):
            a = m.encode(modality, feats.image[:20] if modality == "image" else feats.text[:20], role)
            b = back.encode(modality, feats.image[:20] if modality == "image" else feats.text[:20], role)
            assert a.kind == b.kind and np.array_equal(a.data, b.data)


def test_dcmh_beats_random_codes_on_a_learnable_task(synth):
    feats, split = synth
    m = create_method("dcmh", n_bits=32, max_epochs=25, hidden=[128], anchors=200, seed=0).fit(feats, split)
    got = _map(m, feats, split)
    rng = np.random.default_rng(0)
    rand = {mod: Encoded("binary", np.packbits(rng.random((len(feats), 32)) > 0.5, axis=1), 32) for mod in ("image", "text")}
    labels = feats.labels
    chance = evaluate(rand["image"].take(split.query), rand["text"].take(split.retrieval), labels[split.query],
                      labels[split.retrieval], top_n=(), curves=False).map_all
    assert got > chance + 0.15, (got, chance)
    assert 1 <= m.fit_info_["kept_epoch"] <= m.fit_info_["epochs_run"] <= 25
    bits = unpack_bits(m.encode("text", feats.text[split.retrieval], "database").data, 32)
    assert 0.1 < bits.mean() < 0.9  # bit balance keeps codes from collapsing


def test_config_errors_name_the_valid_keys():
    with pytest.raises(ConfigError, match="valid keys"):
        create_method("itq", n_bits=16, bogus=1)
    with pytest.raises(ConfigError, match="multiple of"):
        create_method("pq", n_bits=20)
    with pytest.raises(ConfigError, match="center"):
        create_method("lsh", center="median")
    with pytest.raises(ConfigError, match="not fitted"):
        create_method("lsh").encode("image", np.zeros((1, 4), np.float32))


def test_wrong_feature_width_is_a_feature_error(synth):
    feats, split = synth
    m = create_method("itq", n_bits=16).fit(feats, split)
    with pytest.raises(FeatureError, match="expected \\[n, 64\\]"):
        m.encode("image", np.zeros((3, 10), np.float32))


def test_dcmh_balanced_pairs_remove_the_constant_code_optimum():
    """With 8% similar pairs, 'one code per modality' (image v, text -v) scores the entropy H(p) under
    the plain mean, better than any uninformative guess; balanced weights price it at log 2 or worse."""
    import math

    import torch

    from distilhash.methods.dcmh import dcmh_loss

    n, L, p = 200, 128, 0.084
    g = torch.Generator().manual_seed(0)
    s = (torch.rand(n, n, generator=g) < p).float()
    p_hat = float(s.mean())
    # the degenerate solution: constant codes of magnitude r, Theta = -r^2 L / 2 = logit(p)
    r = math.sqrt(-2 * math.log(p_hat / (1 - p_hat)) / L)
    v = torch.ones(L) * r
    out, other = v.expand(n, L), (-v).expand(n, L)
    b = torch.sign(out)
    entropy = -(p_hat * math.log(p_hat) + (1 - p_hat) * math.log(1 - p_hat))
    plain = dcmh_loss(out, other, s, b, out.sum(0), n, 0.0, 0.0, "none")["nll"]
    balanced = dcmh_loss(out, other, s, b, out.sum(0), n, 0.0, 0.0, "balanced")["nll"]
    assert float(plain) == pytest.approx(entropy, rel=1e-4)
    assert float(balanced) >= math.log(2) - 1e-6


def test_dcmh_rejects_an_unknown_pair_weighting():
    with pytest.raises(ConfigError, match="pair_weighting"):
        create_method("dcmh", pair_weighting="positive-only")


def test_random_ranking_measures_chance_and_is_reproducible(synth):
    feats, split = synth
    rnd = create_method("random", seed=1).fit(feats, split)
    teacher = create_method("float-teacher").fit(feats, split)
    q = rnd.encode("image", feats.image[split.query], "query")
    assert np.array_equal(q.data, rnd.encode("image", feats.image[split.query], "query").data)
    assert not np.array_equal(q.data, create_method("random", seed=2).fit(feats, split).encode(
        "image", feats.image[split.query], "query").data)
    chance = {d: r.map_all for d, r in evaluate_method(rnd, feats, split).items()}
    good = {d: r.map_all for d, r in evaluate_method(teacher, feats, split).items()}
    ql, dl = feats.labels[split.query], feats.labels[split.retrieval]
    expected = float(((ql @ dl.T) > 0).mean())  # the mean fraction of relevant items = a random ranking's mAP
    for d in chance:
        assert abs(chance[d] - expected) < 0.05 and good[d] > chance[d] + 0.1


def test_pq_says_when_a_small_collection_has_fewer_rows_than_centroids():
    """30 pictures (24 fit items, 48 stacked rows) cannot fill K=256 centroids: the fit says so and what fits."""
    feats, split = synthetic_features(n=30, n_labels=4, width=32, seed=0, n_query=3, n_train=27, n_val=3)
    small = create_method("pq", n_bits=64).fit(feats, split)
    rows = 2 * len(split.fit)
    (note,) = small.fit_info_["notes"]
    assert f"{rows} training rows" in note and "K=256" in note and "--set nbits_per_code=4, K=16" in note
    assert small.fit_info_["final_subspace_mse_sum"] < 1e-6  # the codebooks copy the rows: nothing left to fit
    assert "notes" not in create_method("pq", n_bits=64, nbits_per_code=4).fit(feats, split).fit_info_


def test_pq_fitted_on_enough_rows_has_no_note(synth):
    feats, split = synth
    assert "notes" not in create_method("pq", n_bits=32).fit(feats, split).fit_info_


@pytest.mark.parametrize("name", BASELINES + ["random"])
def test_declared_indexable_matches_the_database_codes(synth, name):
    """`indexable` (what `train` and `index build` rely on) is what the database codes really are."""
    feats, split = synth
    method = create_method(name, n_bits=32).fit(feats, split)
    codes = method.encode("image", feats.image[:5], "database")
    assert method.capabilities.indexable == codes.kind.indexable
    assert method.capabilities.indexable == (name not in ("float-teacher", "random"))
