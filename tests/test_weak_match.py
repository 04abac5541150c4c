"""The calibrated weak-match note (query_encoders/weak_match.py): its signals, the threshold rule, storage,
and the service flagging nonsense but not real words."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.errors import DataError
from distilhash.pipeline.weak_match import random_nonsense, scrambled_words
from distilhash.query_encoders.weak_match import CaptionReference, CharTrigrams, threshold_at

pytest.importorskip("fastapi")

from serve_fixtures import WORDS, make_weak_match, make_world  # noqa: E402

CAPTIONS = ["a red apple on a table", "a black cat sleeping", "the flag of france", "a sailing boat on the sea",
            "an alarm clock", "a bunch of flowers in a vase", "a cup of coffee", "a bird with wings"] * 5


def test_letters_model_prefers_words_to_random_letters():
    chars = CharTrigrams.fit(CAPTIONS)
    assert chars.logprob("a red cat") > chars.logprob("qwxz blorf") + 1.0
    assert chars.logprob("the sea") > max(chars.logprob(t) for t in random_nonsense(20, 1))
    back = CharTrigrams.from_dict(chars.to_dict())
    assert back.logprob("a bird") == pytest.approx(chars.logprob("a bird"))


def test_letters_score_is_the_mean_log_probability_of_each_trigram():
    """The table lookup gives exactly the per-character formula of the class docstring (float equality)."""
    import math

    chars = CharTrigrams.fit(CAPTIONS)
    for text in ["a red cat", "qwxz blorf", "Ünïcödé café, 2 CATS!", "zz", "x", "", "42", *random_nonsense(30, 3)]:
        s = "  " + " ".join("".join(c if "a" <= c <= "z" else " " for c in text.lower()).split()) + " "
        if len(s) <= 3:
            want = math.log(1 / 27)
        else:
            want = float(np.mean([math.log((chars.tri.get(s[i - 2:i + 1], 0) + chars.k) / (chars.bi.get(s[i - 2:i], 0) + 27 * chars.k))
                                  for i in range(2, len(s))]))
        assert chars.logprob(text) == want, text


def test_nonsense_generators_are_seeded():
    assert scrambled_words(["red apple"], 3) == scrambled_words(["red apple"], 3)
    assert sorted(scrambled_words(["red apple"], 3)[0].split()[1]) == sorted("apple")
    assert random_nonsense(5, 1) == random_nonsense(5, 1) != random_nonsense(5, 2)


def test_threshold_rule_flags_at_most_the_share_asked_for():
    scores = np.arange(100, dtype=float)
    thr = threshold_at(scores, 0.04)
    assert np.mean(scores < thr) <= 0.04
    with pytest.raises(DataError):
        threshold_at(np.array([]), 0.04)


def test_reference_round_trip_and_refusals(tmp_path):
    world = make_world(tmp_path / "w")
    where = make_weak_match(world, tmp_path / "wm")
    ref = CaptionReference.load(where)
    assert ref.width == len(WORDS) and ref.threshold is not None
    from serve_fixtures import ServeToyTeacher

    t = ServeToyTeacher()
    real, junk = ref.summaries(["boat", "zzqx blorf"], t.encode_texts(["boat", "zzqx blorf"]))
    assert not real["weak"] and junk["weak"] and real["score"] > junk["score"]
    with pytest.raises(DataError, match="width"):
        ref.signals(["boat"], np.ones((1, 3), np.float32))
    with pytest.raises(DataError, match="cannot be read"):
        CaptionReference.load(tmp_path / "nowhere")


def test_service_uses_the_calibration_and_says_so(tmp_path):
    from distilhash.serve.engine import SearchService, ServiceConfig

    world = make_world(tmp_path / "w")
    where = make_weak_match(world, tmp_path / "wm")
    svc = SearchService([world["image_index"], world["text_index"]], config=ServiceConfig(weak_match_dir=str(where)))
    try:
        good, bad = svc.search_text("boat", 5), svc.search_text("zzqx blorf", 5)
        assert good["match"]["rule"] == "caption-letters" and not good["match"]["weak"]
        assert bad["match"]["weak"] and bad["match"]["likeness"]["score"] < bad["match"]["likeness"]["threshold"]
        assert any(n.startswith("weak match: the words do not read like") for n in bad["notes"])
        assert "typical" in good["match"]  # the typical-distance figures are kept next to it
    finally:
        svc.close()
    plain = SearchService([world["image_index"]])  # no calibration next to the model: the old note only
    try:
        assert "likeness" not in plain.search_text("boat", 5)["match"]
    finally:
        plain.close()
