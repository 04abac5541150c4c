"""Race concurrent writers on one tower cache (:mod:`distilhash.teachers.tower_cache`) and check every row.

    report = race_writers(tmp_dir, writers=4, n_items=600, width=8, seed=0)
    assert report["wrong_rows"] == report["zero_rows"] == report["crashed"] == 0

Shared by the test (``tests/test_tower_cache.py``) and the retired benchmark ``tower_cache_race.py`` (see bench/README.md).
Each writer is a forked process asking for its own random subset of items (overlapping the
others') in small chunks, with random pauses so the commits interleave; a row's true value is
:func:`expected_rows`, which is never zero. The checks: every row a writer got back equals the
truth; afterwards the cache marks exactly the union of the requests done, and every done row on
disk equals the truth (none zero, none from another item).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["race_writers", "expected_rows"]

KEY = "race"


def expected_rows(idx: np.ndarray, width: int) -> np.ndarray:
    """float32 ``[len(idx), width]``: row i is ``i + 1 + j / width`` in column j (never zero)."""
    idx = np.asarray(idx, dtype=np.float32)
    return (idx[:, None] + 1.0 + np.arange(width, dtype=np.float32)[None, :] / width).astype(np.float32)


def _requests(rng: np.random.Generator, n_items: int, writers: int) -> list[np.ndarray]:
    out = []
    for w in range(writers):
        size = int(rng.integers(n_items // 4, n_items))
        out.append(rng.choice(n_items, size=size, replace=False) if w else np.arange(n_items))
    return out


def _writer(cached_rows: Callable[..., Any], cache_dir: str, n_items: int, width: int, idx: np.ndarray, chunk: int,
            seed: int, start: Any, result: Any) -> None:
    rng = np.random.default_rng(seed)

    def compute(i: np.ndarray) -> np.ndarray:
        time.sleep(float(rng.uniform(0, 0.004)))
        return expected_rows(i, width)

    start.wait()
    rows, _ = cached_rows(cache_dir, KEY, n_items, width, idx, compute, chunk=chunk)
    result.put(int((rows != expected_rows(idx, width)).any(axis=1).sum()))


def race_writers(cache_dir: str | Path, writers: int = 4, n_items: int = 600, width: int = 8, chunk: int = 16,
                 seed: int = 0, cached_rows: Callable[..., Any] | None = None, timeout: float = 120.0) -> dict[str, Any]:
    """Run ``writers`` processes on one fresh cache; returns counts of what went wrong (all 0 when sound).

    Keys: ``wrong_returned`` (rows a writer got back that differ from the truth), ``crashed``
    (writers that died or reported nothing, e.g. SIGBUS), ``missing_done`` (requested rows not
    marked done), ``wrong_rows`` (done rows on disk that differ from the truth), ``zero_rows``
    (done rows on disk that are all zeros), ``seconds``. ``cached_rows``: the implementation under
    test (default: :func:`distilhash.teachers.tower_cache.cached_rows`).
    """
    if cached_rows is None:
        from distilhash.teachers.tower_cache import cached_rows
    cache_dir = str(cache_dir)
    rng = np.random.default_rng(seed)
    reqs = _requests(rng, n_items, writers)
    ctx = mp.get_context("fork")
    start, result = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(cached_rows, cache_dir, n_items, width, r, chunk, seed * 1000 + w,
                                               start, result)) for w, r in enumerate(reqs)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout)
    reported = []
    while not result.empty() or len(reported) < sum(p.exitcode == 0 for p in procs):
        try:
            reported.append(result.get(timeout=5))
        except Exception:  # noqa: BLE001 - a writer died before reporting
            break
    for p in procs:
        if p.is_alive():
            p.kill()
    seconds = time.perf_counter() - t0
    union = np.unique(np.concatenate(reqs))
    rows_path, done_path = Path(cache_dir) / f"{KEY}.rows.npy", Path(cache_dir) / f"{KEY}.done.npy"
    report = {"writers": writers, "n_items": n_items, "seconds": seconds,
              "exit_codes": [p.exitcode for p in procs],
              "crashed": writers - len(reported), "wrong_returned": int(sum(reported))}
    if not (rows_path.is_file() and done_path.is_file()):
        report.update(missing_done=len(union), wrong_rows=0, zero_rows=0)
        return report
    done, rows = np.load(done_path), np.load(rows_path)
    marked = np.flatnonzero(done)
    truth = expected_rows(marked, width)
    report.update(missing_done=int((~done[union]).sum()),
                  wrong_rows=int((rows[marked] != truth).any(axis=1).sum()),
                  zero_rows=int((rows[marked] == 0).all(axis=1).sum()))
    return report
