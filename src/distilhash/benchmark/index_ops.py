"""Index operations timed on synthetic codes: durable adds into a base index and IVF opens.

``bench/index_speed.py`` measures what an acknowledged add costs (a logged, fsynced append) in
batches of 1, 100 and 10,000 items on top of an ``n``-item index, and the compaction after;
``bench/pq_fastscan.py`` how long an IVF-searched PQ index takes to open, the first time (k-means
trained, its state written) and later (the state loaded), each up to its first answered query.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.kernel_timing import best_of
from distilhash.benchmark.provenance import load_average

__all__ = ["ADD_BATCHES", "durable_add_rates", "ivf_open_times"]

#: (items per add call, calls) of :func:`durable_add_rates`
ADD_BATCHES = ((1, 200), (100, 50), (10_000, 5))


def durable_add_rates(path: Path, n: int, rng: np.random.Generator, log: Callable[[str], Any] = print,
                      batches: tuple[tuple[int, int], ...] = ADD_BATCHES) -> dict[str, Any]:
    """A new binary 64-bit index of ``n`` random codes at ``path`` (compacted), then logged, fsynced
    adds in each (batch, calls) of ``batches``: items/s and ms per acknowledged add call per batch
    (``batch<B>``), and the compaction's seconds after; the index is removed afterwards."""
    from distilhash.codes import Encoded
    from distilhash.index import IndexOptions, create_index
    from distilhash.index.synth import uniform_codes

    idx = create_index(path, kind="binary", n_bits=64, options=IndexOptions(bulk_threshold=10**12, max_log_bytes=1 << 40))
    idx.add([f"b{i}" for i in range(n)], Encoded("binary", uniform_codes(n, 64, rng), 64))
    idx.compact()
    out: dict[str, Any] = {"base_items": n}
    for batch, reps in batches:
        codes = uniform_codes(batch * reps, 64, rng)
        t = time.perf_counter()
        for r in range(reps):
            idx.add([f"a{batch}-{r}-{j}" for j in range(batch)], Encoded("binary", codes[r * batch : (r + 1) * batch], 64),
                    [{"caption": "x"}] * batch)
        dt = time.perf_counter() - t
        out[f"batch{batch}"] = {"items_per_s": batch * reps / dt, "ms_per_add_call": 1e3 * dt / reps}
        log(f"[add] batch {batch}: {batch * reps / dt:,.0f} items/s, {1e3 * dt / reps:.2f} ms per acknowledged add")
    t = time.perf_counter()
    idx.compact()
    out["compact_seconds"] = time.perf_counter() - t
    idx.close()
    shutil.rmtree(path)
    return out


def ivf_open_times(path: Path, n: int, rng: np.random.Generator, repeat: int, k: int = 10,
                   log: Callable[[str], Any] = print, nprobe: int = 32) -> dict[str, Any]:
    """A PQ index (M = 8, K = 256, d = 8 per sub-space, l2) of ``n`` clustered codes (noisy copies of
    1,000 centres) at ``path``, opened with the IVF searcher and asked one query: the first open
    (``first_open_s``, its searcher stats) and the best of ``repeat`` later opens (wall, CPU,
    stats), the state file's bytes and the load around it."""
    from distilhash.codes import Encoded
    from distilhash.index import IndexOptions, create_index, open_index

    m = 8
    cb = rng.normal(size=(m, 256, 8)).astype(np.float32)
    centres = rng.integers(0, 256, (1000, m), dtype=np.uint8)  # clustered codes: noisy copies of centres
    codes = centres[rng.integers(0, 1000, n)]
    flip = rng.random((n, m)) < 0.3
    codes[flip] = rng.integers(0, 256, int(flip.sum()), dtype=np.uint8)
    q = rng.normal(size=(1, m * 8)).astype(np.float32)
    with create_index(path, kind="pq", codebooks=cb, options=IndexOptions(bulk_threshold=1)) as idx:
        idx.add([f"i{i}" for i in range(n)], Encoded("pq", codes, 64, cb, "l2"))
    opts = IndexOptions(backend="ivf", searcher_options={"nprobe": nprobe})
    out: dict[str, Any] = {"n": n, "M": m, "K": 256, "nprobe": nprobe, "load_before": load_average()}

    def open_and_search() -> dict:
        with open_index(path, options=opts) as ix:
            ix.search_rows(q, k)
            return dict(ix.searcher().stats)

    t = time.perf_counter()
    first = open_and_search()
    out["first_open_s"] = time.perf_counter() - t
    out["first_open_stats"] = first
    wall, cpu, stats = best_of(open_and_search, repeat)
    out["open_s"], out["open_cpu_s"], out["open_stats"] = wall, cpu, stats
    out["state_bytes"] = (path / "ivf.state").stat().st_size
    out["load_after"] = load_average()
    log(f"ivf n={n:,}: first open {out['first_open_s']:.1f}s ({first['state']}), later opens {wall:.3f}s ({stats['state']})")
    return out
