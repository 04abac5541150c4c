"""The offline teacher: MiniLM text tower (matches sentence-transformers), LiT fit, loading."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.data import ArrayImageStore, CrossModalDataset
from distilhash.teachers.registry import TeacherLoadError, create_teacher

COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 20)}
PLACES = {"top left": (0, 0), "top right": (0, 1), "bottom left": (1, 0), "bottom right": (1, 1)}


def shapes_corpus(n: int = 256, size: int = 16, seed: int = 0) -> CrossModalDataset:
    """Coloured squares in one of four quadrants, captioned "a red square in the top left"."""
    rng = np.random.default_rng(seed)
    pix = np.full((n, size, size, 3), 128, np.uint8)
    texts, h = [], size // 2
    for i in range(n):
        c, p = list(COLORS)[rng.integers(4)], list(PLACES)[rng.integers(4)]
        r, q = PLACES[p]
        pix[i, r * h + 1:r * h + h - 1, q * h + 1:q * h + h - 1] = COLORS[c]
        texts.append(f"a {c} square in the {p}")
    return CrossModalDataset(name="shapes", ids=[f"s{i}" for i in range(n)], texts=texts,
                             labels=np.zeros((n, 0), np.uint8), label_names=[], images=ArrayImageStore(pix))


@pytest.fixture(scope="module")
def text_encoder():
    from distilhash.teachers.minilm_text import MiniLMTextEncoder

    return MiniLMTextEncoder()


def test_minilm_text_tower_matches_sentence_transformers(text_encoder):
    st = pytest.importorskip("sentence_transformers")
    from distilhash.teachers.minilm_text import default_minilm_path

    texts = ["a smiling cat face and a rocket", "sun", "a smiling cat face and a rocket", "an emoji scene: " * 5]
    ref = st.SentenceTransformer(str(default_minilm_path()), device="cpu", local_files_only=True).encode(
        texts, normalize_embeddings=True)
    ours = text_encoder.encode(texts, batch_size=2)
    assert ours.shape == (4, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    np.testing.assert_array_equal(ours[0], ours[2])
    assert float(ours[0] @ ours[1]) < 0.9  # different sentences, different embeddings


def test_lit_fit_learns_saves_and_loads(tmp_path, text_encoder):
    from distilhash.teachers.image_tower import ImageTowerConfig
    from distilhash.teachers.lit_fit import LiTConfig, fit_lit

    cfg = LiTConfig(n_items=256, n_val=48, epochs=6, batch_size=32, warmup_steps=5, lr=3e-3, threads=1,
                    max_minutes=None, tower=ImageTowerConfig(image_size=16, channels=[8, 16], dropout=0.0))
    info = fit_lit(cfg, tmp_path / "lit", corpus=shapes_corpus(), text_encoder=text_encoder, progress=False,
                   cache_dir=tmp_path / "cache")
    hist = info["history"]
    assert len(hist) == 6 and hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert info["kept_epoch"] == int(np.argmin([h["val_loss"] for h in hist]))
    assert (tmp_path / "lit" / "image_tower.safetensors").is_file()
    saved = json.loads((tmp_path / "lit" / "config.json").read_text())
    assert saved["tower"]["channels"] == [8, 16] and saved["fit"]["epochs"] == 6
    assert list((tmp_path / "cache").glob("text-*.npy"))  # corpus captions were embedded once and cached

    t = create_teacher(f"minilm-lit:{tmp_path / 'lit'}")
    assert t.width == 384 and t.name == f"minilm-lit:{tmp_path / 'lit'}"
    test = shapes_corpus(40, seed=1)
    zi = t.encode_images(test.images.pixels, batch_size=7)
    np.testing.assert_allclose(zi, t.encode_images(test.images.pixels, batch_size=40), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(zi, axis=1), 1, atol=1e-5)
    # the tower learned something: an image's own caption beats a random caption on average
    zt = t.encode_texts(test.texts)
    sims = zi @ zt.T
    same = np.array([[a == b for b in test.texts] for a in test.texts])
    assert sims[same].mean() > sims[~same].mean() + 0.02


def test_lit_fit_stops_inside_an_epoch_when_the_time_budget_runs_out(tmp_path, text_encoder):
    from distilhash.teachers.image_tower import ImageTowerConfig
    from distilhash.teachers.lit_fit import LiTConfig, fit_lit

    cfg = LiTConfig(n_items=256, n_val=48, epochs=500, batch_size=32, warmup_steps=5, lr=3e-3, threads=1,
                    max_minutes=0.03, tower=ImageTowerConfig(image_size=16, channels=[8, 16], dropout=0.0))
    info = fit_lit(cfg, tmp_path / "lit", corpus=shapes_corpus(), text_encoder=text_encoder, progress=False,
                   cache_dir=tmp_path / "cache")
    assert info["stopped_by_time_budget"] is True
    assert 1 <= len(info["history"]) < 500
    assert info["kept_epoch"] == int(np.argmin([h["val_loss"] for h in info["history"]]))
    assert (tmp_path / "lit" / "image_tower.safetensors").is_file()


def test_missing_lit_teacher_dir_says_how_to_fit(tmp_path):
    with pytest.raises(TeacherLoadError, match="distilhash teacher fit"):
        create_teacher(f"minilm-lit:{tmp_path / 'nothing'}")


def test_bundled_teacher_loads_when_present():
    from distilhash.teachers.minilm_lit import BUNDLED_DIR

    if not (BUNDLED_DIR / "image_tower.safetensors").is_file():
        pytest.skip(f"no bundled teacher in {BUNDLED_DIR}")
    t = create_teacher("minilm-lit")
    z = t.encode_images(np.zeros((2, 64, 64, 3), np.uint8))
    assert z.shape == (2, 384) and np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    info = t.info()
    assert info["width"] == 384 and info["image_tower_parameters"] > 0


@pytest.mark.slow
def test_cli_fit_on_the_pretraining_corpus_then_extract(tmp_path):
    """The real route, scaled down: `distilhash teacher fit` on emoji-pretrain, then a feature cache."""
    from typer.testing import CliRunner

    from distilhash.cli.teacher import app
    from distilhash.data.dataset import save_dataset
    from distilhash.data.sources import create_source_dataset
    from distilhash.data.split import SplitSpec, make_split
    from distilhash.data.store import SPLIT_FILE
    from distilhash.teachers.cache import load_features

    runner = CliRunner()
    res = runner.invoke(app, ["fit", "--out", str(tmp_path / "lit"), "--threads", "1", "--no-progress",
                              "--set", "n_items=300", "--set", "n_val=50", "--set", "epochs=1", "--set", "batch_size=50",
                              "--set", "warmup_steps=2", "--set", "tower.channels=[8,16]"])
    assert res.exit_code == 0, res.output
    assert "kept epoch 0" in res.output
    ds = create_source_dataset("emoji-scenes", n_items=120, progress=False)
    d = save_dataset(ds, tmp_path / "bench")
    make_split(120, SplitSpec(n_query=20, n_train=60, n_val=10), ds.content_hash()).save(d / SPLIT_FILE)
    res = runner.invoke(app, ["extract", "--dataset", str(d), "--teacher", f"minilm-lit:{tmp_path / 'lit'}",
                              "--out", str(tmp_path / "feats"), "--threads", "1"])
    assert res.exit_code == 0, res.output
    fs = load_features(tmp_path / "feats")
    assert fs.image.shape == (120, 384) and fs.class_text.shape == (ds.num_labels, 384)
    res = runner.invoke(app, ["fit", "--set", "nope=1"])
    assert res.exit_code != 0
