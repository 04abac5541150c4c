"""The weak-match note on a small collection: its contrast threshold is set from the index's own captions.

A 30-item collection in two tight groups (like an own folder of a dozen device icons and some
photos) is served with a toy teacher and 64-bit sign codes. Each item's caption finds its own item
first, yet the best hit's contrast is about 2.0 or less for any query, since the sample is the whole
collection (serve/match.py): the fixed rule (weak below 2.0) flagged about half of the answers whose
right item is first. The calibrated rule must flag at most the promised share of the captions it
was set on and few of the right-first queries it was not set on, keep the fixed rule for an index
larger than its sample, and say on the page how the threshold was chosen.
"""

from __future__ import annotations

import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from distilhash.codes import Encoded, pack_bits
from distilhash.config_dataclass import ConfigData
from distilhash.methods.base import METHODS, MethodBase
from distilhash.serve.match import WEAK_CONTRAST, contrast_threshold
from distilhash.teachers.base import TeacherBase
from distilhash.teachers.registry import TEACHERS

pytest.importorskip("fastapi")

N, WIDTH = 30, 64
_rng = np.random.default_rng(0)
_BASES = _rng.standard_normal((2, WIDTH))
ITEMS = np.stack([_BASES[i % 2] + 0.5 * _rng.standard_normal(WIDTH) for i in range(N)]).astype(np.float32)
TYPED = (ITEMS + 0.15 * _rng.standard_normal(ITEMS.shape)).astype(np.float32)  # "typed k": near item k, not its caption


class GroupsTeacher(TeacherBase):
    """``"item k"`` -> item k's vector; ``"typed k"`` -> a vector near it; any other text -> a random vector."""

    name = "groups-toy"
    width = WIDTH

    def __init__(self, arg=None, **_):
        pass

    def encode_texts(self, texts, batch_size=256, progress=False):
        out = []
        for t in texts:
            kind, _, k = t.partition(" ")
            if kind in ("item", "typed") and k.isdigit():
                out.append((ITEMS if kind == "item" else TYPED)[int(k)])
            else:
                out.append(np.random.default_rng(zlib.crc32(t.encode())).standard_normal(WIDTH).astype(np.float32))
        return np.stack(out)


@dataclass
class _Config(ConfigData):
    n_bits: int = WIDTH


class GroupsSign(MethodBase):
    """sign(features) as 64-bit codes."""

    name = "groups-sign"
    config_class = _Config

    def __init__(self, **config):
        super().__init__(**config)
        self.teacher_spec_, self.feature_width_ = "groups-toy", WIDTH

    def encode(self, modality, features, role="database"):
        return Encoded("binary", pack_bits(np.asarray(features) > 0), WIDTH)

    def state_tensors(self):
        return {}

    def set_state(self, tensors, meta, directory):
        pass


if "groups-toy" not in TEACHERS:
    TEACHERS.register("groups-toy")(GroupsTeacher)
if "groups-sign" not in METHODS:
    METHODS.register("groups-sign")(GroupsSign)


def _toy_index(root: Path, modality: str, metadata: list[dict]) -> Path:
    """``root/ix``: the N toy ITEMS as a ``modality`` index of GroupsSign codes (model in ``root/model``)."""
    from distilhash.index import create_index

    model = root / "model"
    model.mkdir()
    GroupsSign().save(model)
    d = root / "ix"
    with create_index(d, kind="binary", n_bits=WIDTH, model_dir=model, teacher="groups-toy", extra={"modality": modality}) as idx:
        idx.add([f"p{k:02d}" for k in range(N)], GroupsSign().encode(modality, ITEMS), metadata)
    return d


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    return _toy_index(tmp_path_factory.mktemp("groups"), "image",
                      [{"caption": f"item {k}", "labels": ["device" if k % 2 else "photo"]} for k in range(N)])


def _answers(index_dir: Path, queries: list[str], **config) -> tuple[dict, list[dict]]:
    from distilhash.serve.config import ServiceConfig
    from distilhash.serve.engine import SearchService

    svc = SearchService([index_dir], config=ServiceConfig(**config))
    try:
        return svc.targets["image"].reference.calibration, [svc.search_text(q, k=3) for q in queries]
    finally:
        svc.close()


def test_threshold_rule():
    assert contrast_threshold([1.0, 1.5]) is None  # too few right-first captions: the fixed rule stays
    assert contrast_threshold([3.0, 4.0, 5.0, 6.0, 7.0]) == WEAK_CONTRAST  # never above the fixed threshold
    c = np.linspace(1.0, 2.9, 20)
    t = contrast_threshold(c)
    assert t == pytest.approx(c[1]) and np.mean(c < t) <= 0.10  # 10 % of them fall below it


def test_small_collection_right_first_answers_are_not_flagged(index_dir):
    captions = [f"item {k}" for k in range(N)]
    typed = [f"typed {k}" for k in range(N)]
    calibration, answers = _answers(index_dir, captions + typed)
    assert calibration["rule"] == "own captions" and calibration["items"] == N == calibration["captions"]
    threshold = calibration["threshold"]
    assert threshold < WEAK_CONTRAST  # a 30-item collection cannot reach the fixed 2.0 reliably

    def right_first(some):
        return [a for k, a in enumerate(some) if a["results"][0]["id"] == f"p{k:02d}"]

    own, near = right_first(answers[:N]), right_first(answers[N:])
    assert len(own) >= 0.8 * N and len(near) >= 0.8 * N
    # the captions it was set on: at most the promised 10 % (+ ties) flagged
    assert np.mean([a["match"]["weak"] for a in own]) <= 0.15
    # right-first queries it was not set on (near, not equal, to a caption): the fixed rule flagged most of
    # them (0.7 here), the calibrated one under a third
    fixed_flags = np.mean([a["match"]["contrast"] < WEAK_CONTRAST for a in near])
    flags = np.mean([a["match"]["weak"] for a in near])
    assert fixed_flags >= 0.5 and flags <= 0.3 and flags <= fixed_flags / 2
    a = near[0]
    assert a["match"]["threshold"] == pytest.approx(threshold, abs=0.01) and a["match"]["threshold_rule"] == "own captions"
    weak = [a for a in answers if a["match"]["weak"]]
    assert all("calibrated on this collection's own captions" in " ".join(a["notes"]) for a in weak)
    assert all(f"median over all {N} items" in " ".join(a["notes"]) for a in weak) and a["match"]["sample_is_collection"]


def test_an_index_larger_than_its_sample_keeps_the_fixed_rule(index_dir):
    calibration, answers = _answers(index_dir, ["typed 3"], match_sample=10)
    assert calibration["rule"] == "fixed" and calibration["threshold"] == WEAK_CONTRAST
    m = answers[0]["match"]
    assert m["threshold"] == WEAK_CONTRAST and m["threshold_rule"] == "fixed" and m["weak"] == (m["contrast"] < WEAK_CONTRAST)


def test_items_added_past_the_sample_bring_back_the_fixed_rule(index_dir, tmp_path):
    """The calibrated threshold is of a sample that is the whole collection: once adds grow the index past it, the
    best hit may be an item outside the sample and the fixed rule's premise holds again."""
    from distilhash.index import open_index
    from distilhash.query_encoders.query_encoder import query_encoder_for
    from distilhash.serve.match import MatchReference, calibrate_on_captions

    d = tmp_path / "ix"
    shutil.copytree(index_dir, d)
    with open_index(d, writable=True) as idx:
        ref = MatchReference(idx, N)
        calibration = calibrate_on_captions(ref, idx, query_encoder_for(idx))
        assert calibration["rule"] == "own captions" and ref.threshold < WEAK_CONTRAST
        query = GroupsSign().encode("image", TYPED[:1])
        before = ref.summaries(query, [0.0])[0]
        assert before["threshold_rule"] == "own captions" and before["sample_is_collection"]
        idx.add(["extra"], GroupsSign().encode("image", TYPED[1:2]), [{"caption": "typed 1"}])
        after = ref.summaries(query, [0.0])[0]
    assert not after["sample_is_collection"]
    assert after["threshold"] == WEAK_CONTRAST and after["threshold_rule"] == "fixed"
    assert after["weak"] == (after["contrast"] < WEAK_CONTRAST)



def test_text_indexes_keep_the_fixed_rule(tmp_path):
    """On a text index each caption finds itself: calibrating there would set a threshold from a trivial search."""
    from distilhash.serve.config import ServiceConfig
    from distilhash.serve.engine import SearchService

    d = _toy_index(tmp_path, "text", [{"caption": f"item {k}"} for k in range(N)])
    svc = SearchService([d], config=ServiceConfig())
    try:
        calibration = svc.targets["text"].reference.calibration
    finally:
        svc.close()
    assert calibration["rule"] == "fixed" and "picture indexes" in calibration["skipped"]


def test_a_tower_that_fails_while_calibrating_keeps_the_fixed_rule(index_dir):
    """Any failure reading the captions at start is recorded and the service still starts (the fixed rule holds)."""
    from distilhash.index import open_index
    from distilhash.serve.match import MatchReference, calibrate_on_captions

    class Broken:
        def encode_texts(self, texts):
            raise OSError("weights file unreadable")

    with open_index(index_dir) as idx:
        ref = MatchReference(idx, N)
        calibration = calibrate_on_captions(ref, idx, Broken())
    assert calibration["rule"] == "fixed" and "OSError" in calibration["skipped"] and ref.threshold == WEAK_CONTRAST


def test_weak_is_decided_on_the_shown_figures(index_dir):
    """An answer never shows a contrast equal to its threshold while calling it weak (both rounded as shown)."""
    from distilhash.index import open_index
    from distilhash.serve.match import MatchReference

    with open_index(index_dir) as idx:
        ref = MatchReference(idx, N)
        query = GroupsSign().encode("image", TYPED[:4])
        dist = ref.distances(query)
        for row, m in zip(dist, ref.summaries(query, [float(r.min()) for r in dist])):
            ref.threshold = m["contrast"] + 0.004  # shown as the same figure at 2 decimals
            again = ref.summaries(query, [float(row.min())])[0]
            assert again["weak"] == (again["contrast"] < again["threshold"])


CHROMIUM = os.environ.get("DISTILHASH_CHROMIUM", "/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)), reason=f"chromium not found at {CHROMIUM}")
def test_page_says_how_the_threshold_was_chosen(index_dir):
    sync_api = pytest.importorskip("playwright.sync_api")
    from serve_fixtures import ServerThread

    from distilhash.serve.app import create_app

    _, answers = _answers(index_dir, [f"typed {k}" for k in range(N)])
    # a right-first answer the fixed rule would have flagged (contrast below 2.0) and the calibrated one does not
    pick = next(a for k, a in enumerate(answers) if a["results"][0]["id"] == f"p{k:02d}"
                and a["match"]["contrast"] < WEAK_CONTRAST and not a["match"]["weak"])
    with ServerThread(create_app([index_dir])) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"], headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(url + "/")
            page.wait_for_function("document.getElementById('model').textContent.includes('groups-sign')")
            page.fill("#q", pick["query"])
            page.press("#q", "Enter")
            page.wait_for_selector("#results .card")
            box = page.locator("#match")
            text = box.inner_text()
            assert text.startswith("Match:") and "set from this collection's own captions" in text
            assert f"median of all {N} items" in text  # the sample is the collection, not "random items"
            # the contrast as precise as the threshold beside it: one decimal read "stands out by 1.1 (weak below 1.05)"
            assert f"stands out by {pick['match']['contrast']:.2f} standard deviations" in text
            assert "weak" not in (box.get_attribute("class") or "")
            assert page.locator("#results .card").first.get_attribute("data-id") == pick["results"][0]["id"]
        finally:
            browser.close()


def test_an_index_without_captions_keeps_the_fixed_rule_and_says_why(tmp_path):
    d = _toy_index(tmp_path, "image", [{} for _ in range(N)])
    calibration, answers = _answers(d, ["typed 1"])
    assert calibration["rule"] == "fixed" and "no captions" in calibration["skipped"]
    assert answers[0]["match"]["threshold"] == WEAK_CONTRAST


def test_start_line_says_how_the_threshold_was_set():
    from distilhash.serve.match import calibration_line

    assert calibration_line("image", None) is None
    assert calibration_line("image", {"rule": "fixed", "threshold": 2.0}) is None  # a sample of a larger index
    own = calibration_line("image", {"rule": "own captions", "threshold": 1.72, "captions": 29, "right_first": 20,
                                     "items": 29, "seconds": 3.0})
    assert own.startswith("image index of 29 items: weak-match threshold 1.72,") and "20 find their own item first" in own
    few = calibration_line("text", {"rule": "fixed", "threshold": 2.0, "captions": 4, "right_first": 2, "items": 4, "seconds": 0.1})
    assert "threshold 2 (fixed: fewer than 5 captions find their own item first)" in few
    skipped = calibration_line("image", {"rule": "fixed", "threshold": 2.0, "skipped": "captions could not be searched: x"})
    assert "fixed; captions could not be searched" in skipped
