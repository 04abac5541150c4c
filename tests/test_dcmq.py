"""DCMQ and the float student on synthetic features: training, encoding, persistence, options."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from distilhash.errors import ConfigError, FeatureError
from distilhash.methods.base import create_method, load_method
from distilhash.training.synthetic import synthetic_features
from distilhash.training.validation import map_all_from_distances, retrieval_map

FAST = dict(epochs=8, eval_every=1, patience=0, embed_dim=32, hidden_dim=64, batch_size=64, progress=False,
            lr=3e-3, pq_tau=0.01)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic_features(n=700, n_labels=12, width=24, n_query=100, n_train=500, n_val=80)


@pytest.fixture(scope="module")
def fitted(data):
    fs, split = data
    return create_method("dcmq", n_bits=32, **FAST).fit(fs, split)


def _random_map(fs, split) -> float:
    rng = np.random.default_rng(0)
    d = rng.random((len(split.query), len(split.retrieval)))
    return map_all_from_distances(d, fs.labels[split.query], fs.labels[split.retrieval])


def test_dcmq_learns_better_than_random_and_encodes_pq(data, fitted):
    fs, split = data
    m = fitted
    scores = retrieval_map(m, fs, split.query, split.retrieval)
    assert scores["i2t"] > _random_map(fs, split) + 0.15 and scores["t2i"] > _random_map(fs, split) + 0.15
    db = m.encode("text", fs.text[split.retrieval], "database")
    q = m.encode("image", fs.image[split.query], "query")
    assert db.kind == "pq" and db.data.dtype == np.uint8 and db.data.shape == (len(split.retrieval), 4)
    assert db.codebooks.shape == (4, 256, 8) and db.n_bits == 32 and db.metric == "ip"
    assert q.kind == "float" and q.data.shape == (len(split.query), 32)
    # ADC (ip) equals the inner product with the decoded database item
    recon = np.concatenate([db.codebooks[k][db.data[:, k]] for k in range(4)], axis=1)
    from distilhash.training.validation import encoded_distances

    assert np.allclose(encoded_distances(q, db), -(q.data @ recon.T), atol=1e-4)


def test_fit_info_records_kept_epoch_terms_and_usage(fitted):
    info = fitted.fit_info_
    vals = {row["epoch"]: row["val"] for row in info["history"]}
    assert info["kept_epoch"] == max(vals, key=vals.get)
    assert "split.val" in info["kept_because"]
    row = info["history"][0]
    for term in ("cross_i2t", "cross_t2i", "intra_image", "intra_text", "quant_image", "quant_text", "total"):
        assert term in row
    usage = info["codeword_usage"]["image"]
    assert len(usage["perplexity"]) == 4 and 1.0 <= usage["mean_perplexity"] <= 256
    band = info["target_band"]
    assert band["target_max"] - band["target_min"] > band["raw_max"] - band["raw_min"]


def test_save_load_roundtrip_gives_identical_codes(data, fitted, tmp_path):
    fs, split = data
    fitted.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "method.json").read_text())
    assert meta["method"] == "dcmq" and meta["n_bits"] == 32 and meta["feature_width"] == 24
    again = load_method(tmp_path / "m")
    for role in ("database", "query"):
        a = fitted.encode("image", fs.image[:50], role)
        b = again.encode("image", fs.image[:50], role)
        assert np.array_equal(a.data, b.data)
    assert again.fit_info_["kept_epoch"] == fitted.fit_info_["kept_epoch"]


def test_float_student_encodes_floats_for_both_roles(data):
    fs, split = data
    m = create_method("float-student", **FAST).fit(fs, split)
    for role in ("query", "database"):
        e = m.encode("text", fs.text[:10], role)
        assert e.kind == "float" and e.data.shape == (10, 32)
        assert np.allclose(np.linalg.norm(e.data, axis=1), 1, atol=1e-5)
    assert "quant_image" not in m.fit_info_["history"][0]
    assert not m.capabilities.indexable and create_method("dcmq", **FAST).capabilities.indexable  # what index build relies on
    assert retrieval_map(m, fs, split.query, split.retrieval)["mean"] > _random_map(fs, split) + 0.15


@pytest.mark.parametrize("opts", [
    {"target": "cosine"}, {"target": "labels", "label_overlap": "cosine"}, {"pq_mode": "soft"},
    {"pq_mode": "hard-st"}, {"distill": "kl", "similarity": "l2", "pq_logits": "cosine"},
    {"npc_standardize": "global", "npc_scale": "tanh", "target_text": "caption"},
    {"target_text": "mix", "caption_weight": 0.3},
])
def test_ablation_options_train(data, opts):
    fs, split = data
    m = create_method("dcmq", n_bits=32, **{**FAST, "epochs": 1}, **opts).fit(fs, split)
    assert m.encode("image", fs.image[:5], "database").data.shape == (5, 4)
    assert np.isfinite(m.fit_info_["history"][0]["total"])


def test_mixed_targets_weigh_label_and_caption_cosines(data):
    """target_text=mix: raw targets are (1 - a) cos(u, label text) + a cos(u, caption); a = 0 / 1 are the two ends."""
    import torch

    fs, _ = data
    idx = np.arange(12)
    u = torch.as_tensor(fs.image[idx], dtype=torch.float32)

    def raw(**opts):
        m = create_method("dcmq", n_bits=32, **FAST, **opts)
        return m._raw_targets(u, m._target_text(fs, idx)).numpy()

    label, caption = raw(target_text="label"), raw(target_text="caption")
    assert not np.allclose(label, caption)
    assert np.allclose(raw(target_text="mix", caption_weight=0.3), 0.7 * label + 0.3 * caption, atol=1e-6)
    assert np.allclose(raw(target_text="mix", caption_weight=0.0), label, atol=1e-6)
    assert np.allclose(raw(target_text="mix", caption_weight=1.0), caption, atol=1e-6)
    with pytest.raises(ConfigError, match="caption_weight"):
        create_method("dcmq", caption_weight=1.5)


def test_training_is_seeded(data):
    fs, split = data
    a = create_method("dcmq", n_bits=32, seed=3, **{**FAST, "epochs": 1}).fit(fs, split)
    b = create_method("dcmq", n_bits=32, seed=3, **{**FAST, "epochs": 1}).fit(fs, split)
    assert np.array_equal(a.encode("text", fs.text[:40]).data, b.encode("text", fs.text[:40]).data)


def test_config_errors_are_named(data):
    fs, split = data
    with pytest.raises(ConfigError, match="unknown option"):
        create_method("dcmq", nonsense=1)
    with pytest.raises(ConfigError, match="pq_mode"):
        create_method("dcmq", pq_mode="fancy")
    with pytest.raises(ConfigError, match="backbone"):
        create_method("dcmq", backbone="imagenet")
    with pytest.raises(ConfigError, match="dcmq only"):
        create_method("float-student", backbone="trainable")
    with pytest.raises(ConfigError, match="multiple"):
        create_method("dcmq", n_bits=30)
    with pytest.raises(ConfigError, match="not fitted"):
        create_method("dcmq").encode("image", fs.image[:2])
    no_labels = type(fs)(image=fs.image, text=fs.text, labels=fs.labels, ids=fs.ids)
    with pytest.raises(FeatureError, match="label_text"):
        create_method("dcmq", n_bits=32, **FAST).fit(no_labels, split)
    unlabelled = type(fs)(image=fs.image, text=fs.text, labels=np.zeros((len(fs.ids), 0), np.uint8), ids=fs.ids)
    with pytest.raises(FeatureError, match="has no labels; use --set target_text=caption"):
        create_method("dcmq", n_bits=32, **FAST).fit(unlabelled, split)  # a folder prepared without labels
    create_method("dcmq", n_bits=32, **(FAST | {"epochs": 1, "target_text": "caption"})).fit(unlabelled, split)


def test_encode_rejects_wrong_width(fitted):
    with pytest.raises(FeatureError, match="expected \\[n, 24\\]"):
        fitted.encode("image", np.zeros((3, 10), np.float32))


def test_validation_distances_match_eval_rankers(data, fitted):
    rankers = pytest.importorskip("distilhash.eval.rankers")
    from distilhash.training.validation import encoded_distances

    fs, split = data
    q = fitted.encode("image", fs.image[:30], "query")
    for db in (fitted.encode("text", fs.text[:70], "database"), fitted.encode("text", fs.text[:70], "query")):
        assert np.allclose(encoded_distances(q, db), rankers.distances(q, db), atol=1e-4)
