"""SODA: two-stage hashing through label prompts, on small synthetic feature sets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.data.split import Split, SplitSpec
from distilhash.errors import ConfigError, FeatureError
from distilhash.methods.base import create_method, load_method
from distilhash.teachers.features import FeatureSet

FAST = {"hidden": 64, "stage1.epochs": 6, "stage2.epochs": 6, "stage1.batch_size": 64,
        "stage2.batch_size": 64, "stage1.lr": 1e-2, "stage2.lr": 1e-2, "progress": False}


def synthetic(n: int = 400, n_labels: int = 12, width: int = 24, noise: float = 0.6, seed: int = 0):
    """Features whose image/text/label-prompt rows are noisy projections of the item's labels."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n_labels)) < 0.08).astype(np.uint8)
    labels[np.arange(n), rng.integers(0, n_labels, n)] = 1

    def view(scale: float) -> np.ndarray:
        proj = rng.normal(size=(n_labels, width))
        x = labels @ proj + scale * rng.normal(size=(n, width))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    feats = FeatureSet(image=view(noise), text=view(noise), labels=labels, ids=[f"i{k}" for k in range(n)],
                       label_text=view(0.05), manifest={"teacher": "fake", "dataset": "synthetic"})
    idx = rng.permutation(n)
    n_q, n_val = n // 10, n // 10
    query, retrieval = np.sort(idx[:n_q]), np.sort(idx[n_q:])
    train = retrieval
    val = np.sort(rng.choice(train, n_val, replace=False))
    split = Split(query=query, retrieval=retrieval, train=train, val=val,
                  spec=SplitSpec(n_q, len(train), len(retrieval), n_val, seed), dataset_hash="synthetic")
    return feats, split


@pytest.fixture(scope="module")
def data():
    return synthetic()


@pytest.fixture(scope="module")
def fitted(data):
    feats, split = data
    return create_method("soda", n_bits=16, **FAST).fit(feats, split)


def _map(q, d, yq, yd):
    from distilhash.methods.soda.selection import hamming_map
    from distilhash.codes import unpack_bits

    return hamming_map(2.0 * unpack_bits(q.data, q.n_bits) - 1, 2.0 * unpack_bits(d.data, d.n_bits) - 1, yq, yd)


def test_codes_are_packed_binary_and_cross_modal_retrieval_beats_chance(data, fitted):
    feats, split = data
    img = fitted.encode("image", feats.image[split.query], "query")
    txt = fitted.encode("text", feats.text[split.retrieval], "database")
    assert img.kind == "binary" and img.n_bits == 16 and img.data.shape == (len(split.query), 2)
    assert txt.data.dtype == np.uint8 and txt.data.shape == (len(split.retrieval), 2)
    yq, yd = feats.labels[split.query], feats.labels[split.retrieval]
    chance = float(((yq @ yd.T) > 0).mean())
    i2t = _map(img, txt, yq, yd)
    t2i = _map(fitted.encode("text", feats.text[split.query]), fitted.encode("image", feats.image[split.retrieval]), yq, yd)
    assert i2t > chance + 0.1 and t2i > chance + 0.1, (i2t, t2i, chance)


def test_fit_info_records_kept_epochs_per_stage(fitted):
    info = fitted.fit_info_
    for stage in ("stage1", "stage2"):
        s = info[stage]
        assert 1 <= s["kept_epoch"] <= s["epochs_run"] <= 6
        vals = [h["val"] for h in s["history"]]
        kept = next(h for h in s["history"] if h["epoch"] == s["kept_epoch"])
        assert kept["val"] == pytest.approx(s["best_val_score"], abs=1e-5)
        assert s["best_val_score"] >= max(vals) - 1e-4  # best up to the loop's min_delta
        assert s["stop_reason"]
    assert info["stage1"]["select_on"] == "i2i" and info["stage2"]["select_on"] == "cross"
    assert set(info["stage1"]["history"][0]) >= {"lik_cross", "align", "quant", "total"}
    assert set(info["stage2"]["history"][0]) >= {"lik", "align", "quant", "total"}


def test_image_codes_come_from_stage1_and_stage2_leaves_them_fixed(data):
    """Stage 2 only trains the text head: a model whose stage 2 runs longer has the same image codes."""
    feats, split = data
    a = create_method("soda", n_bits=16, **{**FAST, "stage2.epochs": 1}).fit(feats, split)
    b = create_method("soda", n_bits=16, **{**FAST, "stage2.epochs": 4, "stage2.patience": 10}).fit(feats, split)
    np.testing.assert_array_equal(a.encode("image", feats.image).data, b.encode("image", feats.image).data)
    assert not np.array_equal(a.encode("text", feats.text).data, b.encode("text", feats.text).data)


def test_query_rows_never_influence_training(data):
    """Replacing every query row's features and labels leaves the fitted model unchanged."""
    feats, split = data
    rng = np.random.default_rng(5)
    other = FeatureSet(image=feats.image.copy(), text=feats.text.copy(), labels=feats.labels.copy(), ids=feats.ids,
                       label_text=feats.label_text.copy(), manifest=feats.manifest)
    q = split.query
    for arr in (other.image, other.text, other.label_text):
        arr[q] = rng.normal(size=arr[q].shape).astype(np.float32)
    other.labels[q] = 1 - other.labels[q]
    cfg = {**FAST, "stage1.epochs": 2, "stage2.epochs": 2}
    a = create_method("soda", n_bits=16, **cfg).fit(feats, split)
    b = create_method("soda", n_bits=16, **cfg).fit(other, split)
    for mod in ("image", "text"):
        x = getattr(feats, mod)[split.retrieval]
        np.testing.assert_array_equal(a.encode(mod, x).data, b.encode(mod, x).data)


def test_save_load_roundtrip_gives_identical_codes(tmp_path, data, fitted):
    feats, _ = data
    fitted.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "method.json").read_text())
    assert meta["method"] == "soda" and meta["n_bits"] == 16 and meta["feature_width"] == feats.width
    info = json.loads((tmp_path / "m" / "fit_info.json").read_text())
    assert info["stage1"]["kept_epoch"] == fitted.fit_info_["stage1"]["kept_epoch"]
    back = load_method(tmp_path / "m")
    assert back.config_dict() == fitted.config_dict()
    for mod in ("image", "text"):
        x = getattr(feats, mod)
        np.testing.assert_array_equal(back.encode(mod, x).data, fitted.encode(mod, x).data)


def test_bad_config_and_inputs_get_clear_errors(data, fitted):
    feats, split = data
    with pytest.raises(ConfigError, match="unknown option"):
        create_method("soda", n_bitz=16)
    with pytest.raises(ConfigError, match="s2_align_target"):
        create_method("soda", s2_align_target="caption")
    with pytest.raises(ConfigError, match="select_on"):
        create_method("soda", **{"stage1.select_on": "t2i"})
    with pytest.raises(ConfigError, match="not fitted"):
        create_method("soda").encode("image", feats.image)
    with pytest.raises(FeatureError, match=r"\[n, 24\]"):
        fitted.encode("image", np.zeros((3, 7), np.float32))
    with pytest.raises(ConfigError, match="modality"):
        fitted.encode("audio", feats.image)
    with pytest.raises(FeatureError, match="label-prompt features"):
        create_method("soda", **FAST).fit(feats, split, label_prompts=np.zeros((5, 24), np.float32))


class _FakeTeacher:
    """Encodes a text as a deterministic random unit vector; counts the texts it saw."""

    name, width = "fake", 24

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode_texts(self, texts, batch_size: int = 256, progress: bool = False) -> np.ndarray:
        self.seen.extend(texts)
        out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=self.width) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def test_prompt_templates_are_rendered_encoded_once_and_cached(tmp_path, monkeypatch, data):
    from distilhash.teachers import label_prompts as L
    from distilhash.teachers import registry

    class P:  # the extract stage writes, the method side reads
        @staticmethod
        def prompt_features(feats, template, *, cache_dir=None, label_names=None, progress=False):
            return L.extract_label_prompts(feats, template, cache_dir=cache_dir, label_names=label_names, progress=progress)

    feats, _ = data
    teacher = _FakeTeacher()
    monkeypatch.setattr(registry, "create_teacher", lambda spec: teacher)
    names = [f"lab{j}" for j in range(feats.labels.shape[1])]
    arr, prov = P.prompt_features(feats, "bare", cache_dir=tmp_path, label_names=names, progress=False)
    assert arr.shape == feats.image.shape and prov["source"] == "encoded now"
    n_distinct = len({tuple(r) for r in feats.labels})
    assert len(teacher.seen) == n_distinct  # each distinct prompt encoded once
    assert all(not s.startswith("a photo") for s in teacher.seen)
    same = [i for i in range(len(feats)) if (feats.labels[i] == feats.labels[0]).all()]
    np.testing.assert_array_equal(arr[same], np.repeat(arr[:1], len(same), 0))
    again, prov2 = P.prompt_features(feats, "bare", cache_dir=tmp_path, label_names=names, progress=False)
    assert prov2["source"] == "prompt cache" and len(teacher.seen) == n_distinct
    np.testing.assert_array_equal(arr, again)
    photo, _ = P.prompt_features(feats, "photo", cache_dir=tmp_path, label_names=names, progress=False)
    assert not np.allclose(photo, arr)
    default, prov3 = P.prompt_features(feats, "default")
    assert default is feats.label_text and prov3["source"] == "feature cache label_text"
    feats.manifest["template"] = "a photo of {}"  # the cache's own template is not encoded again
    try:
        same_as_cache, prov4 = P.prompt_features(feats, "photo", cache_dir=tmp_path, label_names=names, progress=False)
    finally:
        del feats.manifest["template"]
    assert same_as_cache is feats.label_text and prov4["source"] == "feature cache label_text"
    with pytest.raises(FeatureError, match="label names"):
        P.prompt_features(feats, "emoji", cache_dir=tmp_path, label_names=names[:2], progress=False)
    # the method side only reads: an extracted template is found, another one is a clear error
    read, prov5 = L.cached_label_prompts(feats, "bare", cache_dir=tmp_path)
    np.testing.assert_array_equal(read, arr)
    with pytest.raises(FeatureError, match="--label-template emoji"):
        L.cached_label_prompts(feats, "emoji", cache_dir=tmp_path)


def test_soda_reads_prompts_from_the_cache_and_never_creates_a_teacher(tmp_path, monkeypatch, data):
    from distilhash.teachers import registry

    feats, split = data
    monkeypatch.setattr(registry, "create_teacher", lambda spec: pytest.fail("soda.fit created a teacher"))
    with pytest.raises(FeatureError, match="teacher extract"):
        create_method("soda", **FAST, prompt_template="bare").fit(feats, split, cache_dir=tmp_path)


def test_likelihood_loss_prefers_codes_that_agree_with_labels():
    import torch

    from distilhash.losses.pairwise_likelihood import pairwise_logistic_nll

    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    good = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    bad = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    for w in ("none", "balanced"):
        assert pairwise_logistic_nll(good, good, s, 4.0, w) < pairwise_logistic_nll(bad, bad, s, 4.0, w)


def test_fast_validation_map_matches_the_shared_reference():
    from distilhash.methods.soda.selection import hamming_map
    from distilhash.training.validation import map_all_from_distances

    rng = np.random.default_rng(3)
    q, d = np.sign(rng.normal(size=(37, 8))), np.sign(rng.normal(size=(211, 8)))  # 8 bits: many ties
    yq, yd = (rng.random((37, 5)) < 0.2).astype(np.uint8), (rng.random((211, 5)) < 0.2).astype(np.uint8)
    ref = map_all_from_distances((8 - q @ d.T) / 2, yq, yd)
    assert hamming_map(q, d, yq, yd, chunk=10) == pytest.approx(ref, abs=1e-8)


def test_train_and_encode_commands_run_soda(tiny_prepared, tmp_path):
    """`distilhash train soda` on a tiny prepared dataset + feature cache, then `distilhash encode`."""
    from typer.testing import CliRunner

    from distilhash.codes_file import load_encoded
    from distilhash.cli.main import app

    teacher, _ = tiny_prepared

    runner = CliRunner()
    sets = [a for k, v in {"hidden": 32, "stage1.epochs": 3, "stage2.epochs": 3, "stage1.batch_size": 32,
                           "stage2.batch_size": 32}.items() for a in ("--set", f"{k}={v}")]
    res = runner.invoke(app, ["train", "soda", "--dataset", "tiny", "--teacher", teacher, "--bits", "16", "--seed", "2",
                              "--out", str(tmp_path / "m"), "--no-progress", *sets])
    assert res.exit_code == 0, res.output
    record = json.loads((tmp_path / "m" / "train.json").read_text())
    assert record["config"]["stage1"]["epochs"] == 3 and record["config"]["hidden"] == 32 and record["seed"] == 2
    assert set(record["epoch_policy"]["kept_epoch"]) == {"stage1", "stage2"}
    res = runner.invoke(app, ["encode", str(tmp_path / "m"), "--dataset", "tiny", "--teacher", teacher,
                              "--part", "query", "--out", str(tmp_path / "q.npz")])
    assert res.exit_code == 0, res.output
    codes, _ = load_encoded(tmp_path / "q.npz")
    assert codes["image"].kind == "binary" and codes["text"].data.shape == (40, 2)


def test_extract_stage_stores_extra_prompt_templates_that_soda_reads(tiny_prepared, tmp_path, monkeypatch):
    """`teacher extract --label-template bare` encodes the bare prompts once; soda fits on them, no teacher."""
    from typer.testing import CliRunner

    from distilhash.cli.main import app
    from distilhash.teachers import registry
    from distilhash.teachers.cache import load_features

    teacher, split = tiny_prepared
    fake, real = _FakeTeacher(), registry.create_teacher
    fake.width = 16  # the width of the tiny cache

    def create(spec, **kw):  # the cached features, plus a text tower for the new prompts
        t = real(spec, **kw)
        t.encode_texts = fake.encode_texts
        return t

    monkeypatch.setattr(registry, "create_teacher", create)
    cache = tmp_path / "cache"  # not the default place: the loaded features know where they live
    res = CliRunner().invoke(app, ["teacher", "extract", "--dataset", "tiny", "--teacher", teacher, "--out", str(cache),
                                   "--label-template", "bare"])
    assert res.exit_code == 0, res.output
    assert fake.seen and all(not p.startswith("a photo") for p in fake.seen), res.output
    assert (cache / "label_prompts" / "bare.npy").is_file()
    feats = load_features(cache)
    monkeypatch.setattr(registry, "create_teacher", lambda spec, **kw: pytest.fail("soda.fit created a teacher"))
    m = create_method("soda", **FAST, prompt_template="bare").fit(feats, split)
    assert m.fit_info_["prompts"]["source"] == "prompt cache" and m.fit_info_["prompts"]["template"] == "{}"
