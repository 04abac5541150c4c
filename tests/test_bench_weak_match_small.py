"""bench/weak_match_small.py: queries file, relevance rules, and the before/now judgement on a small served index."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from serve_fixtures import make_world  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("_bench_weak_match_small", ROOT / "bench" / "weak_match_small.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_queries_file_and_relevance(script, tmp_path):
    f = tmp_path / "q.txt"
    f.write_text("# header | ignored\na floppy disk | floppy.png (webcam.png also)\nqwxz | -\na horse | word:horse\nno bar here\n")
    assert script.read_queries(f) == {"a floppy disk": "floppy", "qwxz": None, "a horse": "word:horse"}
    assert script._right("floppy", [{"id": "floppy", "caption": "x"}]) and not script._right("floppy", [])
    assert script._right("word:horse", [{"id": "x", "caption": "Sea-horse drawing"}])
    assert not script._right("word:horse", [{"id": "x", "caption": "horses"}])  # the word, not a longer one


def test_judge_and_caption_separation_on_a_small_index(script, tmp_path):
    world = make_world(tmp_path / "w", n=24)
    caption = {i: t for i, t in zip(world["dataset"].ids, world["dataset"].texts)}
    first = next(i for i, t in caption.items() if t == "cat")
    out = script.judge(world["image_index"], {"cat": first, "zebra": None})
    assert out["items"] == 24 and out["calibration"]["rule"] == "own captions"
    rows = {r["query"]: r for r in out["queries"]}
    assert rows["zebra"]["group"] == "absent" and rows["cat"]["group"] in ("right first", "right not first")
    assert sum(s["n"] for s in out["summary"].values()) == 2
    assert rows["cat"]["weak_fixed"] == (rows["cat"]["contrast"] < 2.0)  # no letters calibration: the fixed rule
    sep = script.caption_separation(world["image_index"], n=24)
    assert sep["captions"] == 24 and 0.0 <= sep["auc_contrast"] <= 1.0
    text = script.markdown({"label": "toy", "provenance": {"command": "c"}, **out, "caption_separation": sep})
    assert "| right first |" in text and "Why (the index's own 24 captions" in text
