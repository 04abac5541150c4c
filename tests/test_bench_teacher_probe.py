"""How informative a teacher is: cosine retrieval, zero-shot prompts, label probes, throughput, and the report."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from distilhash.benchmark.teacher_probe import label_oracle, markdown, plot, retrieval, throughput, zero_shot


def _labelled(n=60, c=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, c), np.uint8)
    labels[np.arange(n), rng.integers(0, c, n)] = 1
    return labels


def test_retrieval_of_label_features_is_perfect_and_random_is_not():
    y = _labelled()
    perfect = retrieval(y[:20].astype(np.float32), y[20:].astype(np.float32), y[:20], y[20:])
    assert perfect["map_all"] == pytest.approx(1.0) and perfect["n_queries"] == 20 and perfect["n_without_relevant"] == 0
    rng = np.random.default_rng(1)
    noise = retrieval(rng.normal(size=(20, 8)), rng.normal(size=(40, 8)), y[:20], y[20:])
    assert noise["map_all"] < 0.6 and noise["_report"].precision_curve is not None


def test_zero_shot_counts_the_best_prompt_and_its_chance():
    labels = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], np.uint8)
    prompts = np.eye(3, dtype=np.float32)
    images = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0.5, 1]], np.float32)  # items 0 and 1 right, 2 and 3 wrong
    zs = zero_shot(images, prompts, labels)
    assert zs["top1_accuracy"] == 0.5 and zs["top1_chance"] == pytest.approx(1 / 3)
    assert zs["class_map"] == pytest.approx((1 + 1 + 1 / 3 + 1 / 3) / 4) and zs["recall_at_5"] == 1.0
    assert 0 < zs["class_map_random"] < 1


def test_label_oracle_probes_read_the_labels():
    y = _labelled(n=120)
    rng = np.random.default_rng(2)
    feats = SimpleNamespace(image=(y @ rng.normal(size=(4, 16)) + 0.1 * rng.normal(size=(120, 16))).astype(np.float32),
                            text=(y @ rng.normal(size=(4, 16))).astype(np.float32), labels=y)
    split = SimpleNamespace(fit=np.arange(0, 80), query=np.arange(80, 100), retrieval=np.arange(100, 120))
    pairs = label_oracle(feats, split)
    q, db = pairs["label-oracle i2t (probes fit with labels)"]
    assert q.shape == (20, 4) and db.shape == (20, 4)
    assert retrieval(q, db, y[80:100], y[100:])["map_all"] > 0.9


def test_throughput_times_a_fresh_teacher_without_its_text_cache(monkeypatch):
    import distilhash.teachers.registry as registry

    made = {}

    class Fake:
        image_size = 8

        def encode_images(self, pixels, batch_size=64):
            assert pixels.shape[1] == 8
            return np.zeros((len(pixels), 2), np.float32)

        def encode_texts(self, texts, batch_size=256):
            return np.zeros((len(texts), 2), np.float32)

    def create(spec, **options):
        made.update(spec=spec, options=options)
        return Fake()

    monkeypatch.setattr(registry, "create_teacher", create)
    ds = SimpleNamespace(images=SimpleNamespace(array=lambda idx, size: np.zeros((len(idx), size, size, 3), np.uint8)),
                         texts=[f"t{i}" for i in range(10)], __len__=lambda: 10)
    ds = type("DS", (), {"images": ds.images, "texts": ds.texts, "__len__": lambda self: 10})()
    s = throughput("minilm-lit", ds, n=50, threads=1)
    assert made == {"spec": "minilm-lit", "options": {"text_cache_dir": None}}
    assert s["n"] == 10 and s["images_per_s"] > 0 and s["texts_per_s"] > 0 and len(s["load_before"]) == 3


def test_markdown_and_plot(tmp_path):
    y = _labelled()
    res = {"i2t": retrieval(y[:20].astype(np.float32), y[20:].astype(np.float32), y[:20], y[20:]),
           "t2i": retrieval(y[:20].astype(np.float32), y[20:].astype(np.float32), y[:20], y[20:]),
           "random ranking": retrieval(np.random.default_rng(0).normal(size=(20, 4)), np.random.default_rng(1).normal(size=(40, 4)),
                                       y[:20], y[20:])}
    reports = {k: r.pop("_report") for k, r in res.items()}
    speed = {"images_per_s": 10.0, "texts_per_s": 20.0, "n": 5, "threads": 1, "load_before": [1, 1, 1], "load_after": [2, 2, 2]}
    out = {"provenance": {"dataset": "ds", "split_hash": "S"}, "teacher": "T", "split_sizes": {"query": 20, "retrieval": 40},
           "retrieval": res, "chance_expected_map": 0.25, "informative (i2t and t2i >= 3x random)": True,
           "zero_shot": None, "image_tower_speed_1_thread": None, "throughput": speed}
    text = markdown(out)
    rnd = res["random ranking"]["map_all"]
    assert f"| i2t | 1.0000 | 1.0000 | 0.2500 | {1 / rnd:.2f} |" in text and "i2t 4.00x" in text
    assert "10.0 images/s, 20.0 texts/s" in text and "Zero-shot" not in text
    plot(reports, out, tmp_path / "q.png")
    assert (tmp_path / "q.png").stat().st_size > 0


def test_retrieval_pairs_name_every_float_retrieval_of_the_report(monkeypatch):
    import distilhash.benchmark.teacher_probe as tp

    rng = np.random.default_rng(0)
    F = SimpleNamespace(image=rng.normal(size=(30, 4)), text=rng.normal(size=(30, 4)), label_text=None, manifest={})
    split = SimpleNamespace(query=np.arange(5), retrieval=np.arange(5, 30))
    pairs = tp.retrieval_pairs(F, split, "minilm-lit")
    assert list(pairs) == ["i2t", "t2i", "t2t (MiniLM alone)", "i2i", "random ranking"]
    q, db = pairs["t2i"]
    assert np.array_equal(q, F.text[:5]) and np.array_equal(db, F.image[5:])
    rq, rdb = pairs["random ranking"]
    assert rq.shape == (5, 64) and rdb.shape == (25, 64) and np.allclose(np.linalg.norm(rdb, axis=1), 1.0)
    assert np.array_equal(rq, tp.retrieval_pairs(F, split, "minilm-lit")["random ranking"][0])  # seeded
    monkeypatch.setattr(tp, "tower_references", lambda ds, split, manifest: {"towers": (F.text[:5], F.text[5:])})
    monkeypatch.setattr(tp, "label_oracle", lambda feats, split: {"oracle": (F.image[:5], F.image[5:])})
    F.label_text = rng.normal(size=(30, 4))
    lite0 = tp.retrieval_pairs(F, split, "lite0-minilm:openclipart", ds=object())
    assert list(lite0) == ["i2t", "t2i", "random ranking", "i2label-prompt", "i2i (teacher space)", "t2t (teacher space)",
                           "towers", "oracle"]
    assert "t2t" in tp.retrieval_pairs(F, split, "lite0-prior:x")  # other teachers: the plain names
