"""Teacher layer without heavy models: prompts, registry, precomputed features, the feature cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_tiny_dataset
from distilhash.data.dataset import save_dataset
from distilhash.data.split import SplitSpec, make_split
from distilhash.data.store import SPLIT_FILE
from distilhash.errors import ConfigError, FeatureError
from distilhash.targets.prompts import TEMPLATES, class_prompts, item_prompts, join_names, label_prompt
from distilhash.teachers.base import TeacherBase
from distilhash.teachers.cache import default_features_dir, extract_features, load_features
from distilhash.teachers.registry import create_teacher, list_teachers, parse_spec, teacher_slug


# ---------------------------------------------------------------- prompts
def test_label_prompt_joins_names_in_english():
    assert label_prompt(["cat-face", "animal-bird", "food-fruit"]) == "a photo of cat-face, animal-bird and food-fruit"
    assert label_prompt(["a", "b"]) == "a photo of a and b"
    assert label_prompt(["x"], "bare") == "x"
    assert label_prompt(["x"], "a drawing of {}") == "a drawing of x"
    assert join_names([]) != ""  # an item without labels still gets a sentence


def test_templates_are_data_and_bad_templates_fail():
    for name, tpl in TEMPLATES.items():
        assert tpl.count("{}") == 1
        assert label_prompt(["q"], name) == tpl.format("q")
    with pytest.raises(ConfigError, match="exactly one"):
        label_prompt(["x"], "no placeholder")


def test_item_and_class_prompts_follow_label_columns():
    labels = np.array([[1, 0, 1], [0, 1, 0]], np.uint8)
    assert item_prompts(labels, ["a", "b", "c"]) == ["a photo of a and c", "a photo of b"]
    assert class_prompts(["a", "b"], "bare") == ["a", "b"]
    with pytest.raises(ConfigError):
        item_prompts(labels, ["a", "b"])


# ---------------------------------------------------------------- registry
def test_registry_parses_specs_and_rejects_unknown_kinds():
    assert parse_spec("minilm-lit") == ("minilm-lit", None)
    assert parse_spec("features:/x/y.h5") == ("features", "/x/y.h5")
    assert {"minilm-lit", "hf", "openclip", "features"} <= set(list_teachers())
    with pytest.raises(ConfigError, match="valid kinds"):
        create_teacher("nope:thing")
    with pytest.raises(ConfigError):
        parse_spec("")


def test_slugs_are_directory_safe():
    assert teacher_slug("minilm-lit") == "minilm-lit"
    assert teacher_slug("minilm-lit:/a/b/minilm-lit") == "minilm-lit"
    assert teacher_slug("minilm-lit:/a/b/other") == "minilm-lit-other"
    assert teacher_slug("hf:openai/clip-vit-base-patch32") == "hf-openai-clip-vit-base-patch32"
    assert teacher_slug("features:/data/clip_feats.h5") == "features-clip_feats"
    assert default_features_dir("emoji-scenes", "minilm-lit").name == "emoji-scenes__minilm-lit"


# ---------------------------------------------------------------- precomputed features
def _feature_arrays(n=12, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return {"image": rng.normal(size=(n, d)).astype(np.float32), "text": rng.normal(size=(n, d)).astype(np.float32)}, \
        [f"item{i:04d}" for i in range(n)]


def _write(fmt, tmp_path, arrays, ids):
    if fmt == "dir":
        d = tmp_path / "feats"
        d.mkdir()
        for k, v in arrays.items():
            np.save(d / f"{k}.npy", v)
        (d / "ids.json").write_text(json.dumps(ids))
        return d
    if fmt == "npz":
        p = tmp_path / "f.npz"
        np.savez(p, ids=np.array(ids), **arrays)
        return p
    if fmt == "safetensors":
        from safetensors.numpy import save_file

        p = tmp_path / "f.safetensors"
        save_file(arrays, str(p), metadata={"ids": json.dumps(ids)})
        return p
    import h5py

    p = tmp_path / "f.h5"
    with h5py.File(p, "w") as f:
        for k, v in arrays.items():
            f[k] = v
        f["ids"] = np.array(ids, dtype="S")
    return p


@pytest.mark.parametrize("fmt", ["dir", "npz", "safetensors", "h5"])
def test_precomputed_features_every_format(fmt, tmp_path):
    arrays, ids = _feature_arrays()
    path = _write(fmt, tmp_path, arrays, ids)
    t = create_teacher(f"features:{path}", width=6, count=12)
    assert t.width == 6 and t.name == f"features:{path}"
    got = t.lookup("image", ["item0003", "item0000"])
    want = arrays["image"][[3, 0]]
    want = want / np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert got.dtype == np.float32
    assert t.normalized_rows == 24  # random rows were not unit-norm: counted, not hidden
    np.testing.assert_allclose(t.encode_texts(["item0001"]), t.lookup("text", ["item0001"]))


def test_precomputed_features_check_width_count_and_ids(tmp_path):
    arrays, ids = _feature_arrays()
    path = _write("npz", tmp_path, arrays, ids)
    with pytest.raises(FeatureError, match="width 6, expected 512"):
        create_teacher(f"features:{path}", width=512)
    with pytest.raises(FeatureError, match="holds 12 items, expected 10"):
        create_teacher(f"features:{path}", count=10)
    t = create_teacher(f"features:{path}")
    with pytest.raises(FeatureError, match="not in the feature file"):
        t.lookup("image", ["item0001", "ghost"])
    with pytest.raises(FeatureError, match="cannot encode new"):
        t.encode_images(np.zeros((1, 4, 4, 3), np.uint8))
    bad = dict(arrays, text=arrays["text"][:, :5])
    with pytest.raises(FeatureError, match="different widths"):
        create_teacher(f"features:{_write('safetensors', tmp_path, bad, ids)}")
    short = {"image": arrays["image"][:11], "text": arrays["text"][:11]}
    (tmp_path / "b").mkdir()
    with pytest.raises(FeatureError, match="11 rows but there are 12 ids"):
        create_teacher(f"features:{_write('h5', tmp_path / 'b', short, ids)}")
    np.save(tmp_path / "single.npy", arrays["image"])
    with pytest.raises(FeatureError, match="holds no ids"):
        create_teacher(f"features:{tmp_path / 'single.npy'}")
    with pytest.raises(FeatureError, match="not found"):
        create_teacher(f"features:{tmp_path / 'missing.h5'}")


# ---------------------------------------------------------------- feature cache
class HashTeacher(TeacherBase):
    """A deterministic toy teacher: texts by word hashing, images by pixel statistics."""

    name = "hash-teacher"
    width = 16
    fingerprint = "hash-v1"
    image_size = 8

    def __init__(self):
        self.calls = 0

    def encode_texts(self, texts, batch_size=256, progress=False):
        self.calls += 1
        out = np.zeros((len(texts), self.width), np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                out[i, sum(map(ord, w)) % self.width] += 1.0
        out[:, 0] += 0.5
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_images(self, images, batch_size=64, progress=False):
        self.calls += 1
        x = np.asarray(images, np.float32).reshape(len(images), -1)[:, : self.width] + 1.0
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def _prepared(tmp_path, n=60):
    ds = make_tiny_dataset(n=n)
    d = save_dataset(ds, tmp_path / "tiny")
    make_split(n, SplitSpec(n_query=n // 6, n_train=n // 2, n_val=n // 12, seed=0), ds.content_hash()).save(d / SPLIT_FILE)
    return ds, d


def test_extract_writes_aligned_unit_features_with_manifest(tmp_path):
    ds, d = _prepared(tmp_path)
    out = extract_features(d, HashTeacher(), tmp_path / "cache", batch_size=16, progress=False, chunk_size=25)
    fs = load_features(out)
    t = HashTeacher()
    assert fs.ids == ds.ids and len(fs) == 60 and fs.width == 16
    np.testing.assert_allclose(fs.text, t.encode_texts(ds.texts), rtol=1e-6)
    np.testing.assert_allclose(fs.image, t.encode_images(ds.images.array(np.arange(60), 8)), rtol=1e-6)
    np.testing.assert_allclose(fs.label_text, t.encode_texts(item_prompts(ds.labels, ds.label_names)), rtol=1e-6)
    np.testing.assert_allclose(fs.class_text, t.encode_texts(class_prompts(ds.label_names)), rtol=1e-6)
    np.testing.assert_array_equal(fs.labels, ds.labels)
    for arr in (fs.image, fs.text, fs.label_text, fs.class_text):
        assert arr.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    m = fs.manifest
    assert m["teacher"] == "hash-teacher" and m["dataset_hash"] == ds.content_hash() and m["count"] == 60
    assert m["split_hash"] and m["width"] == 16 and set(m["files"]) >= {"image.npy", "text.npy", "ids.json"}
    assert not (out / "progress.json").exists()


def test_extract_resumes_after_interruption_and_matches_a_fresh_run(tmp_path):
    _, d = _prepared(tmp_path)
    part = tmp_path / "partial"
    extract_features(d, HashTeacher(), part, progress=False, chunk_size=20, stop_after_chunks=4)
    with pytest.raises(FeatureError, match="interrupted"):
        load_features(part)
    state = json.loads((part / "progress.json").read_text())
    assert sum(state["done"].values()) == 80  # 4 chunks of 20 rows
    teacher = HashTeacher()
    extract_features(d, teacher, part, progress=False, chunk_size=20)
    assert teacher.calls < 9  # only the 5 remaining chunks + class prompts were encoded
    fresh = load_features(extract_features(d, HashTeacher(), tmp_path / "fresh", progress=False, chunk_size=60))
    resumed = load_features(part)
    for name in ("image", "text", "label_text", "class_text"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(fresh, name))


def test_cache_refuses_mismatch_and_detects_damage(tmp_path):
    _, d = _prepared(tmp_path)
    out = extract_features(d, HashTeacher(), tmp_path / "c", progress=False)
    teacher = HashTeacher()
    assert extract_features(d, teacher, out, progress=False) == out and teacher.calls == 0  # reused as is

    class Other(HashTeacher):
        name = "other-teacher"

    with pytest.raises(FeatureError, match="teacher: cache has 'hash-teacher', requested 'other-teacher'"):
        extract_features(d, Other(), out, progress=False)
    with pytest.raises(FeatureError, match="template"):
        extract_features(d, HashTeacher(), out, progress=False, template="bare")
    extract_features(d, Other(), out, progress=False, overwrite=True)
    assert load_features(out).manifest["teacher"] == "other-teacher"
    with pytest.raises(FeatureError, match="teacher is 'other-teacher', expected 'x'"):
        load_features(out, teacher="x")
    arr = np.load(out / "text.npy")
    arr[0, 0] += 0.1
    np.save(out / "text.npy", arr)
    with pytest.raises(FeatureError, match="checksum"):
        load_features(out)
    with pytest.raises(FeatureError, match="manifest.json is missing"):
        load_features(tmp_path / "nowhere")


def test_extract_with_precomputed_teacher_checks_ids(tmp_path):
    ds, d = _prepared(tmp_path, n=12)
    arrays, _ = _feature_arrays(n=12)
    path = _write("npz", tmp_path, arrays, ds.ids)
    fs = load_features(extract_features(d, f"features:{path}", tmp_path / "c", progress=False))
    assert fs.label_text is None and fs.class_text is None and fs.width == 6
    np.testing.assert_allclose(fs.image[2], arrays["image"][2] / np.linalg.norm(arrays["image"][2]), rtol=1e-5)
    (tmp_path / "b").mkdir()
    other = _write("npz", tmp_path / "b", arrays, [f"x{i}" for i in range(12)])
    with pytest.raises(FeatureError, match="not in the feature file"):
        extract_features(d, f"features:{other}", tmp_path / "c2", progress=False)


def test_cli_extract_and_info(tmp_path):
    from typer.testing import CliRunner

    from distilhash.cli.teacher import app

    ds, d = _prepared(tmp_path, n=12)
    arrays, _ = _feature_arrays(n=12)
    path = _write("dir", tmp_path, arrays, ds.ids)
    runner = CliRunner()
    res = runner.invoke(app, ["extract", "--dataset", str(d), "--teacher", f"features:{path}", "--out", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    assert "12 items, width 6" in res.output
    res = runner.invoke(app, ["info", str(tmp_path / "c")])
    assert res.exit_code == 0 and '"count": 12' in res.output
    res = runner.invoke(app, ["extract", "--dataset", str(d), "--teacher", "features:/no/such.h5"])
    assert res.exit_code == 1 and "not found" in res.output
