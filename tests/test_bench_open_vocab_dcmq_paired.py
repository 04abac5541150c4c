"""bench/open_vocab_dcmq_paired.py: candidate-minus-baseline differences pooled over seed pairs."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "open_vocab_dcmq_paired.py"


def _script():
    spec = importlib.util.spec_from_file_location("open_vocab_dcmq_paired", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(drawings: float, emoji: float, fid: float, kept: int = 1) -> dict:
    dom = lambda p: {"p_at": p, "teacher_p_at": 0.1, "map_all": p, "teacher_map_all": 0.2}  # noqa: E731
    return {"openclipart": dom(drawings), "emoji": dom(emoji), "val_teacher_top10": {"mean": fid}, "kept_epoch": kept,
            "label_map": {"query": {"i2t": 0.4, "t2i": 0.5}, "val": {"i2t": 0.4, "t2i": 0.5}}}


def test_pooled_differences_and_wins():
    mod = _script()
    pairs = [{"set": "x", "seed": 0, "baseline": _run(0.08, 0.06, 0.30), "candidate": _run(0.09, 0.06, 0.32)},
             {"set": "x", "seed": 1, "baseline": _run(0.08, 0.07, 0.30), "candidate": _run(0.07, 0.08, 0.31)}]
    got = mod.pooled(pairs)
    assert got["drawings P@10 share"]["mean"] == pytest.approx(0.0)  # +0.1 and -0.1 of the teacher's 0.1
    assert got["drawings P@10 share"]["wins"] == 1 and got["drawings P@10 share"]["std"] == pytest.approx(0.1414, abs=1e-3)
    assert got["emoji P@10 share"]["ties"] == 1 and got["emoji P@10 share"]["mean"] == pytest.approx(0.05)
    assert got["val teacher top-10"]["mean"] == pytest.approx(0.015) and got["val teacher top-10"]["wins"] == 2
    assert got["label mAP i2t"]["mean"] == pytest.approx(0.0) and got["label mAP i2t"]["ties"] == 2
