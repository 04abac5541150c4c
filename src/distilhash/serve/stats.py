"""Latency bookkeeping for the service: a bounded window of recent timings per named stage."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Hashable
from contextlib import contextmanager
from typing import Any, Generic, Iterator, TypeVar

import numpy as np

__all__ = ["LatencyStats", "LRUCache"]

V = TypeVar("V")


class LatencyStats:
    """Per-stage timings (ms) over the last ``window`` events; percentiles on demand."""

    def __init__(self, window: int = 10_000) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._samples: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}

    def record(self, stage: str, ms: float) -> None:
        with self._lock:
            self._samples.setdefault(stage, deque(maxlen=self.window)).append(float(ms))
            self._counts[stage] = self._counts.get(stage, 0) + 1

    @contextmanager
    def timer(self, stage: str, into: dict[str, float] | None = None) -> Iterator[None]:
        """Time the block; also store the ms in ``into[stage]`` when given."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            ms = (time.perf_counter() - t0) * 1e3
            self.record(stage, ms)
            if into is not None:
                into[stage] = round(ms, 3)

    def summary(self) -> dict[str, dict[str, Any]]:
        """stage -> {count, window, p50, p90, p99, mean, max} in milliseconds."""
        with self._lock:
            snap = {k: np.fromiter(v, float, len(v)) for k, v in self._samples.items()}
            counts = dict(self._counts)
        out = {}
        for stage, arr in sorted(snap.items()):
            if not len(arr):
                continue
            p50, p90, p99 = np.percentile(arr, [50, 90, 99])
            out[stage] = {"count": counts[stage], "window": int(len(arr)), "p50_ms": round(float(p50), 3),
                          "p90_ms": round(float(p90), 3), "p99_ms": round(float(p99), 3),
                          "mean_ms": round(float(arr.mean()), 3), "max_ms": round(float(arr.max()), 3)}
        return out


class LRUCache(Generic[V]):
    """A thread-safe least-recently-used map with hit/miss counters (``capacity=0`` disables it)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, int(capacity))
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        if not self.capacity:
            return None
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: V) -> None:
        if not self.capacity:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def info(self) -> dict[str, int]:
        return {"capacity": self.capacity, "size": len(self._data), "hits": self.hits, "misses": self.misses}

