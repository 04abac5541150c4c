"""The static query text encoder: the ridge map, distillation (tiny tower) + fit + folder, caching by
fingerprint, agreement with model2vec's own encoder, and how QueryEncoder chooses its text encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("model2vec")
pytest.importorskip("transformers")

from static_fixtures import TAGS, captions, make_tiny_tower  # noqa: E402


def test_ridge_map_recovers_a_linear_map_and_picks_a_small_alpha_without_noise():
    from distilhash.query_encoders.static_text_fit import fit_ridge_map

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12))
    w_true, b_true = rng.normal(size=(12, 6)), rng.normal(size=6)
    w, b, rep = fit_ridge_map(x, x @ w_true + b_true, alphas=(1e-6, 1e-2, 1.0))
    assert rep["alpha_relative"] == 1e-6 and rep["loo_cosine_mean"] > 0.999
    assert np.allclose(w, w_true, atol=1e-3) and np.allclose(b, b_true, atol=1e-3)
    # few noisy samples for many features: the penalty wins the leave-one-out choice
    x = rng.normal(size=(40, 30))
    y = 0.1 * x @ rng.normal(size=(30, 6)) + 3 * rng.normal(size=6) + rng.normal(size=(40, 6))
    _, _, rep = fit_ridge_map(x, y, alphas=(1e-6, 1.0))
    assert rep["alpha_relative"] == 1.0 and rep["loo_cosine_mean"] > rep["alpha_trials"][0]["loo_cosine_mean"] + 0.1


@pytest.fixture(scope="module")
def tower(tmp_path_factory):
    return make_tiny_tower(tmp_path_factory.mktemp("tower") / "tiny")


def _targets(texts: list[str], width: int = 16, seed: int = 1) -> np.ndarray:
    """A bag-of-tags 'teacher' (unit rows [n, width])."""
    r = np.random.default_rng(seed).normal(size=(len(TAGS) + 1, width))
    y = np.array([[t.split().count(w) for w in [*TAGS, "scene"]] for t in texts], float) @ r
    return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)


def _fit_texts(n: int = 200, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return captions((rng.random((n, len(TAGS))) < 0.3).astype(np.uint8))


def test_fit_writes_a_folder_that_encodes_like_model2vec_then_maps(tower, tmp_path):
    from model2vec import StaticModel

    from distilhash.query_encoders.static_text import load_static_text
    from distilhash.query_encoders.static_text_fit import StaticTextConfig, fit_static_text

    texts = _fit_texts()
    enc = fit_static_text(tower, texts, _targets(texts), tmp_path / "st", config=StaticTextConfig(pca_dims=16),
                          cache_dir=tmp_path / "cache", teacher_fingerprint="t0")
    meta = json.loads((tmp_path / "st" / "encoder.json").read_text())
    assert meta["fingerprint"] == enc.fingerprint and meta["teacher_fingerprint"] == "t0"
    assert meta["report"]["n_fit"] == 200 and enc.table.shape[1] == 16 and enc.width == 16
    # the folder is a model2vec model: our numpy path gives its embeddings
    ref = StaticModel.from_pretrained(tmp_path / "st", force_download=False)
    probe = ["tag1 tag3 scene", "a red cat with the dogs", "TAG2 Scene!"]
    assert np.allclose(enc.static_features(probe), ref.encode(probe), atol=1e-3)
    feats = enc.encode(probe)
    assert feats.shape == (3, 16) and np.allclose(np.linalg.norm(feats, axis=1), 1, atol=1e-5)
    # texts it never saw, made of known subwords, land near their targets (no vocabulary gap, no fallback)
    held = _fit_texts(50, seed=7)
    cos = (enc.encode(held) * _targets(held)).sum(1)
    assert cos.mean() > 0.8, cos.mean()
    assert np.array_equal(load_static_text(tmp_path / "st").encode(probe), feats)


def test_a_second_fit_with_the_same_fingerprint_does_no_work_and_new_captions_refit(tower, tmp_path, monkeypatch):
    import distilhash.query_encoders.static_text_fit as fit_mod

    texts = _fit_texts()
    kw = {"config": fit_mod.StaticTextConfig(pca_dims=16), "cache_dir": tmp_path / "cache"}
    first = fit_mod.fit_static_text(tower, texts, _targets(texts), tmp_path / "st", **kw)
    cached = sorted((tmp_path / "cache").iterdir())
    assert len(cached) == 1 and cached[0].name.startswith(f"model2vec-{tower.fingerprint}-{tower.vocab}-")

    def no_distill(*a, **k):
        raise AssertionError("distilled again")

    monkeypatch.setattr("model2vec.distill.distill", no_distill)
    again = fit_mod.fit_static_text(tower, texts, _targets(texts), tmp_path / "st", **kw)
    assert again.fingerprint == first.fingerprint
    other = fit_mod.fit_static_text(tower, texts[:150], _targets(texts[:150]), tmp_path / "st", **kw)  # reuses the distillation
    assert other.fingerprint != first.fingerprint and other.meta["report"]["n_fit"] == 150


def _tuning(texts: list[str], score):
    from distilhash.query_encoders.static_text_tune import TuneData

    val = _fit_texts(60, seed=3)
    return TuneData(texts, _targets(texts), val, score, "test score")


def test_tuning_is_kept_when_it_raises_the_val_score_and_moves_captions_towards_their_targets(tower, tmp_path):
    from distilhash.query_encoders.static_text_fit import StaticTextConfig, fit_static_text

    texts, val = _fit_texts(), _fit_texts(60, seed=3)
    cos_val = lambda f: float((f * _targets(val)).sum(1).mean())  # noqa: E731
    kw = {"cache_dir": tmp_path / "cache"}
    plain = fit_static_text(tower, texts, _targets(texts), tmp_path / "plain", config=StaticTextConfig(pca_dims=16, tune_epochs=0), **kw)
    tuned = fit_static_text(tower, texts, _targets(texts), tmp_path / "tuned", tuning=_tuning(texts, cos_val),
                            config=StaticTextConfig(pca_dims=16, tune_epochs=8, tune_lr=3e-3, tune_batch=32), **kw)
    rep = tuned.meta["report"]["tuning"]
    assert rep["kept"] and rep["epoch"] == int(np.argmax(rep["val_scores"])) > 0 and len(rep["val_scores"]) == 9
    assert not np.array_equal(tuned.table, plain.table) and tuned.table.shape == plain.table.shape
    from model2vec import StaticModel  # the tuned folder is still a model2vec model, and our reader gives its embeddings

    probe = ["tag1 tag3 scene", "a red cat with the dogs"]
    ref = StaticModel.from_pretrained(tmp_path / "tuned", force_download=False).encode(probe)
    assert np.allclose(tuned.static_features(probe), ref, atol=1e-3)
    # the scores it recorded are the encoder's: the written folder reproduces the chosen epoch's score
    assert cos_val(tuned.encode(val)) == pytest.approx(max(rep["val_scores"]), abs=1e-4)
    assert rep["val_scores"][rep["epoch"]] > rep["val_scores"][0]
    held = _fit_texts(50, seed=11)  # captions neither trained on nor scored
    assert (tuned.encode(held) * _targets(held)).sum(1).mean() > (plain.encode(held) * _targets(held)).sum(1).mean()
    assert tuned.fingerprint != plain.fingerprint


def test_tuning_that_does_not_beat_the_untuned_encoder_on_val_is_dropped(tower, tmp_path):
    from distilhash.query_encoders.static_text_fit import StaticTextConfig, fit_static_text

    texts = _fit_texts()
    calls = iter(range(100))
    falling = lambda f: -float(next(calls))  # noqa: E731  every epoch scores below the one before: epoch 0 wins
    kw = {"cache_dir": tmp_path / "cache"}
    plain = fit_static_text(tower, texts, _targets(texts), tmp_path / "plain", config=StaticTextConfig(pca_dims=16, tune_epochs=0), **kw)
    enc = fit_static_text(tower, texts, _targets(texts), tmp_path / "st", tuning=_tuning(texts, falling),
                          config=StaticTextConfig(pca_dims=16, tune_epochs=3), **kw)
    rep = enc.meta["report"]["tuning"]
    assert rep["epoch"] == 0 and not rep["kept"] and rep["val_scores"] == [0.0, -1.0, -2.0, -3.0]
    assert np.array_equal(enc.table, plain.table) and np.array_equal(enc.weights, plain.weights)
    assert np.array_equal(enc.bias, plain.bias)


def test_bad_targets_are_refused(tower, tmp_path):
    from distilhash.errors import FeatureError
    from distilhash.query_encoders.static_text_fit import StaticTextConfig, fit_static_text

    with pytest.raises(FeatureError, match="knows none of the captions' tokens"):  # every token [UNK]: no features
        fit_static_text(tower, ["zebra okapi", "quux"], np.eye(2, 4), tmp_path / "st", config=StaticTextConfig(pca_dims=0),
                        cache_dir=tmp_path / "cache")
    with pytest.raises(FeatureError, match="3 fit texts but targets of shape"):
        fit_static_text(tower, ["a", "b", "c"], np.zeros((2, 4)), tmp_path / "st", cache_dir=tmp_path)
    with pytest.raises(FeatureError, match="NaN"):
        fit_static_text(tower, ["a"], np.full((1, 4), np.nan), tmp_path / "st", cache_dir=tmp_path)
    texts = _fit_texts(40)
    bad = _tuning(texts, lambda f: 0.0)
    bad.fit_targets = bad.fit_targets[:, :5]
    with pytest.raises(FeatureError, match="tuning: 40 fit texts but targets of shape"):
        fit_static_text(tower, texts, _targets(texts), tmp_path / "st", tuning=bad,
                        config=StaticTextConfig(pca_dims=0, tune_epochs=1), cache_dir=tmp_path / "cache")


def test_a_missing_or_broken_folder_is_named(tmp_path):
    from distilhash.errors import DataError
    from distilhash.query_encoders.static_text import load_static_text

    with pytest.raises(DataError, match="encoder.json missing.*query-encoder fit"):
        load_static_text(tmp_path)


def test_text_towers_name_the_teachers_that_have_one():
    from distilhash.errors import ConfigError
    from distilhash.query_encoders.text_towers import text_tower_of

    with pytest.raises(ConfigError, match="lite0-minilm, lite0-prior, minilm-lit"):
        text_tower_of("hf:openai/clip-vit-base-patch32")
    # the demo's teacher (lite0-prior over lite0-minilm heads) encodes texts with MiniLM, as lite0-minilm does
    assert text_tower_of("lite0-prior:openclipart-224") == text_tower_of("lite0-minilm:openclipart")
