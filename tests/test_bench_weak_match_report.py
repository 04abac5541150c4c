"""The weak-match benchmark's combined rule and report."""

from __future__ import annotations

import numpy as np

from distilhash.benchmark.weak_match_report import logistic, markdown, plot


def test_logistic_separates_what_one_signal_separates():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] > 0).astype(float)
    w, b = logistic(x, y)
    assert w[0] > 5 * abs(w[1]) and abs(b) < 1.0
    assert ((x @ w + b > 0) == (y > 0)).mean() > 0.97


def test_markdown_and_plot(tmp_path):
    rule = {"threshold": 1.234, "false_alarm_val": 0.04, "false_alarm_query": 0.05, "flagged_scrambled_mean": 0.9,
            "flagged_scrambled_std": 0.01, "flagged_random_mean": 1.0, "flagged_random_std": None,
            "hand_weak": {"a butterfly": False, "qwxz blorf": True}}
    result = {"n": {"val": 100, "query": 200, "scrambled/1": 50, "random/1": 40}, "rules": {"caption-letters": rule},
              "goals": {"false_alarm_query_le_5pct": True, "nonsense_flagged_ge_80pct": False},
              "hand_scores": {"zzqx": {"caption-letters": -3.0, "nearest-caption": 0.1, "both": -2.0, "contrast": 0.5}}}
    text = markdown(result, [1, 2])
    assert "| caption-letters | 1.234 | 4.0% | 5.0% | 90.0% ± 1.0% | 100.0% | no | yes |" in text
    assert "50 scrambled query captions, 40 random letter strings" in text and "**met**" in text and "**not met**" in text
    assert "| zzqx | -3.00 | 0.100 | -2.00 | 0.50 |" in text
    rng = np.random.default_rng(1)
    signals = {g: {"caption-letters": rng.normal(size=30), "contrast": rng.normal(size=30)} for g in ("query", "scrambled/1", "random/1")}
    plot(signals, {"caption-letters": 0.0, "contrast": 1.0}, tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 0
