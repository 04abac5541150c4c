"""The encoder-speed harness: items per second of several encoders measured side by side.

On a shared machine one encoder timed after another sees another load; here the candidates are
timed in interleaved rounds (every candidate once per round, the load recorded per round) and
each keeps its best round, or, for single-item latency, the calls alternate item by item. Used
by ``bench/lcdh_lite0.py --speed``, ``bench/lcdh.py`` and
``bench/dcmq_trainable.py --part encode``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RoundRates", "interleaved_rates", "best_rate", "per_item_seconds"]


@dataclass
class RoundRates:
    """Items/s of every candidate per round, its best and median round, and the load per round."""

    per_round: dict[str, list[float]]
    loads: list[Any]

    @property
    def best(self) -> dict[str, float]:
        return {k: max(v) for k, v in self.per_round.items()}

    @property
    def median(self) -> dict[str, float]:
        return {k: float(np.median(v)) for k, v in self.per_round.items()}


def interleaved_rates(cands: Mapping[str, tuple[Callable[[], Any], int]], rounds: int, desc: str = "speed rounds",
                      load: Callable[[], Any] | None = None, progress: bool | None = None) -> RoundRates:
    """``cands``: name -> (a call encoding ``n`` items, ``n``). Each call runs once to warm up, then
    ``rounds`` rounds time every candidate in turn (items/s); ``load()`` (default: the load
    average) is recorded after each round."""
    from distilhash.benchmark.provenance import load_average
    from distilhash.progress import progress as bar

    load = load or load_average
    for fn, _ in cands.values():
        fn()
    per_round: dict[str, list[float]] = {k: [] for k in cands}
    loads = []
    for _ in bar(range(rounds), desc=desc, enabled=progress):
        for name, (fn, n) in cands.items():
            t = time.perf_counter()
            fn()
            per_round[name].append(n / (time.perf_counter() - t))
        loads.append(load())
    return RoundRates(per_round, loads)


def best_rate(fn: Callable[[], Any], n: int, repeats: int = 3) -> float:
    """Items/s of ``fn()`` (which encodes ``n`` items): the best of ``repeats`` runs."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def per_item_seconds(fns: Mapping[str, Callable[[Any], Any]], items: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, float]]:
    """Mean wall and process-CPU seconds of a one-item call ``fns[name](items[name][k:k+1])``.

    Each function is warmed on its first item; then the calls alternate item by item (every
    encoder on item 0, then item 1, ...) so that a load change hits all alike; the CPU figure is
    less distorted by other jobs than the wall figure.
    """
    n = min((len(items[name]) for name in fns), default=0)
    if n == 0:
        raise ValueError(f"items: expected at least one item for each of {sorted(fns)}, got {({k: len(v) for k, v in items.items()})}")
    for name, fn in fns.items():
        fn(items[name][:1])
    wall = dict.fromkeys(fns, 0.0)
    cpu = dict.fromkeys(fns, 0.0)
    for k in range(n):
        for name, fn in fns.items():
            t, c = time.perf_counter(), time.process_time()
            fn(items[name][k:k + 1])
            wall[name] += time.perf_counter() - t
            cpu[name] += time.process_time() - c
    return {name: {"wall": wall[name] / n, "cpu": cpu[name] / n} for name in fns}
