"""Short caption views (a title's content words and two-word phrases) and the weighted view draw of a teacher fit."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.teachers.lite0_fit import draw_views, view_cdf
from distilhash.teachers.short_views import content_words, short_views, view_table


@pytest.mark.parametrize("title, views", [
    ("Red Apple (2004)", ["red", "apple", "red apple"]),
    ("Cani e gatti , Cat and dog", ["cani", "gatti", "cat", "dog"]),  # short words, punctuation, "and" break phrases
    ("Clip art of a horse", ["horse"]),                                 # file words and function words dropped
    ("alarm_clock 3", ["alarm", "clock", "alarm clock"]),
    ("", []),
    ("a b 42", []),
])
def test_short_views_are_content_words_then_phrases(title, views):
    assert short_views(title) == views


def test_a_title_gives_at_most_max_views_each_once():
    title = "Rubber Duck (Open Bill) rubber duck"
    assert content_words(title) == [["rubber", "duck"], ["open", "bill"], ["rubber", "duck"]]
    assert short_views(title) == ["rubber", "duck", "open", "bill", "rubber duck", "open bill"]
    assert short_views(title, max_views=3) == ["rubber", "duck", "open"]


def test_view_table_weights_a_third_each_and_nothing_for_missing_views():
    columns, w = view_table(2, [["apple", "red"], [], ["dog"]])
    assert columns == [["apple", "", "dog"], ["red", "", ""]]
    assert w.shape == (4, 3)
    np.testing.assert_allclose(w.sum(0), 1.0, atol=1e-6)
    np.testing.assert_allclose(w[:, 0], [1 / 3, 1 / 3, 1 / 6, 1 / 6], atol=1e-6)
    np.testing.assert_allclose(w[:, 1], [0.5, 0.5, 0, 0], atol=1e-6)  # no short view: caption or title, as before
    np.testing.assert_allclose(w[:, 2], [1 / 3, 1 / 3, 1 / 3, 0], atol=1e-6)


def test_views_are_drawn_with_their_weights_and_never_with_weight_zero():
    import torch

    w = np.array([[0.5, 0.0, 1 / 3], [0.25, 0.0, 1 / 3], [0.25, 1.0, 1 / 3], [0.0, 0.0, 0.0]], dtype=np.float32)
    cum = view_cdf(w)
    rng = np.random.default_rng(0)
    idx = torch.tensor([0, 1, 2] * 20000)
    k = draw_views(cum, idx, rng).numpy().reshape(-1, 3)
    for i in range(3):
        freq = np.bincount(k[:, i], minlength=4) / len(k)
        np.testing.assert_allclose(freq, w[:, i], atol=0.01)
        assert (freq[w[:, i] == 0] == 0).all()


def test_short_views_join_the_fit_captions_with_weights(tmp_path):
    from distilhash.teachers.lite0_wide import _with_short_views

    class Words:  # a stand-in text tower: a fixed random unit vector per distinct text
        width = 8

        def fingerprint(self):
            return "words"

        def encode(self, texts, batch_size=256, progress=False):
            out = np.stack([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts]).astype(np.float32)
            return out / np.linalg.norm(out, axis=1, keepdims=True)

    enc = Words()
    v_fit = np.ones((2, 3, 8), dtype=np.float32)
    out, w = _with_short_views(v_fit, [["apple", "red"], [], ["dog"]], enc, tmp_path, progress=False)
    assert out.shape == (4, 3, 8) and w.shape == (4, 3)
    np.testing.assert_array_equal(out[:2], v_fit)
    np.testing.assert_allclose(out[2, 0], enc.encode(["apple"])[0], atol=1e-6)
    np.testing.assert_allclose(out[3, 0], enc.encode(["red"])[0], atol=1e-6)
    np.testing.assert_allclose(out[2, 2], enc.encode(["dog"])[0], atol=1e-6)
    assert not out[2:, 1].any() and not w[2:, 1].any()  # the pair without short views: zeros, never drawn


def test_short_views_for_a_source_the_fit_does_not_have_are_refused_by_name():
    """A misspelt source or a comma string would otherwise train no short views, silently."""
    from distilhash.errors import ConfigError
    from distilhash.teachers.lite0_wide import WideFitConfig

    assert WideFitConfig(caption_views=["title", "short"]).short_view_sources == ["openclipart-fit"]
    for bad in (["openclipart-fitt"], "openclipart-fit,emoji-fit"):
        with pytest.raises(ConfigError, match="short_view_sources=.*expected a list of pair sources"):
            WideFitConfig(caption_views=["title", "short"], short_view_sources=bad)
    WideFitConfig(sources=["emoji-fit"])  # no short views asked for: the default needs no openclipart-fit
