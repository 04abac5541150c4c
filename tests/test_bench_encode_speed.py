"""The encoder-speed harness (benchmark/encode_speed.py): interleaved rounds, best rate, per-item latency."""

from __future__ import annotations

import time

import pytest

from distilhash.benchmark.encode_speed import best_rate, interleaved_rates, per_item_seconds


def test_interleaved_rates_warms_then_alternates_and_records_the_load_per_round():
    calls: list[str] = []

    def make(name: str, pause: float):
        def fn():
            calls.append(name)
            time.sleep(pause)
        return fn

    loads = iter(range(10))
    rates = interleaved_rates({"slow": (make("slow", 0.02), 10), "fast": (make("fast", 0.0), 10)}, rounds=3,
                              load=lambda: next(loads), progress=False)
    assert calls == ["slow", "fast"] * 4  # one warm-up call each, then three rounds in turn
    assert rates.loads == [0, 1, 2]
    assert {k: len(v) for k, v in rates.per_round.items()} == {"slow": 3, "fast": 3}
    assert rates.best["slow"] < 10 / 0.02 * 1.01 and rates.best["fast"] > rates.best["slow"]
    assert rates.best["slow"] == max(rates.per_round["slow"])
    assert min(rates.per_round["fast"]) <= rates.median["fast"] <= rates.best["fast"]


def test_best_rate_keeps_the_fastest_run():
    pauses = iter([0.05, 0.0, 0.05])
    rate = best_rate(lambda: time.sleep(next(pauses)), n=100, repeats=3)
    assert rate > 100 / 0.02


def test_per_item_seconds_alternates_item_by_item():
    seen: list[tuple[str, object]] = []
    fns = {"a": lambda x: seen.append(("a", x[0])), "b": lambda x: seen.append(("b", x[0]))}
    out = per_item_seconds(fns, {"a": [1, 2, 3], "b": ["x", "y"]})
    assert seen == [("a", 1), ("b", "x"), ("a", 1), ("b", "x"), ("a", 2), ("b", "y")]  # warm-up, then 2 items (the shorter list)
    assert set(out) == {"a", "b"} and all(v["wall"] >= 0 and v["cpu"] >= 0 for v in out.values())


def test_per_item_seconds_needs_items():
    with pytest.raises(ValueError, match="at least one item"):
        per_item_seconds({"a": lambda x: None}, {"a": []})
