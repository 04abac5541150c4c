"""The scan-speed harness: timed calls, interleaved arms, synthetic codes and the FAISS references.

Shared by the kernel and index speed benchmarks (:mod:`~distilhash.benchmark.scan_speed`: ``bench/index_speed.py``,
``bench/pq_fastscan.py`` and its ``single-query`` sub-command; the rotating per-query loop also by
:mod:`~distilhash.benchmark.ray_fanout`, ``bench/distributed_search.py ray-fanout``)
so that each of them declares *what* it times and all of them time it the same way (and against
the same memory limit, :func:`read_bandwidth`): best wall time over repetitions with the process CPU time of that same run (on a
shared machine the CPU time is what the code cost; the wall time includes waiting for a core).
FAISS is imported only by the functions that build a FAISS index.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np

#: (m sub-quantizers, sub-vector size) of the synthetic PQ layouts per code width in bits
PQ_LAYOUTS = {4: (16, 4), 8: (8, 8)}


class Timed(NamedTuple):
    """One timed function: the best wall seconds over the repetitions, the process CPU seconds of
    that best run, and the result of the last run (unpacks as ``wall, cpu, result``)."""

    wall: float
    cpu: float
    result: Any


def best_of(fn: Callable[[], Any], repeat: int = 1) -> Timed:
    """``fn()`` run ``repeat`` times (at least once); the fastest run's wall and CPU seconds."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(max(1, repeat)):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        wall = time.perf_counter() - t
        if wall < best:
            best, cpu = wall, time.process_time() - c
    return Timed(best, cpu, out)


def wall_cpu(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process: every thread, spinning included) of ``fn()``."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def interleaved(arms: dict[str, Callable[[], Any]], repeat: int) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds of every repetition per arm, each arm warmed once first; the order of
    the arms alternates (forward on even repetitions, reversed on odd ones) so that a load change
    during the run falls on every arm alike."""
    names = list(arms)
    times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for n in names:
        arms[n]()
    for r in range(repeat):
        for n in names if r % 2 == 0 else names[::-1]:
            times[n].append(wall_cpu(arms[n]))
    return times


def ns_per_code(seconds: float, queries: int, n: int) -> float:
    """Nanoseconds per (query, database code) pair: ``seconds`` spent on ``queries`` queries over ``n`` codes."""
    return 1e9 * seconds / (queries * n)


def same_results(a: list, b: list) -> bool:
    """Whether two per-query lists of (distances, rows) hold the same arrays, query by query."""
    return len(a) == len(b) and all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b))


def faiss_rows(dist: np.ndarray, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """FAISS's (nq, k) distance / label arrays as our per-query (distances int32, rows int64), padding (-1) dropped."""
    return [(d[r >= 0].astype(np.int32), r[r >= 0].astype(np.int64)) for d, r in zip(dist, rows)]


@dataclass(frozen=True)
class SyntheticPQ:
    """Random PQ data: codebooks (m, K, d_sub) float32, codes (n, m) uint8, queries (nq, m * d_sub) float32."""

    codebooks: np.ndarray
    codes: np.ndarray
    queries: np.ndarray

    @property
    def m(self) -> int:
        return self.codebooks.shape[0]

    @property
    def d(self) -> int:
        return self.codebooks.shape[0] * self.codebooks.shape[2]


def synthetic_pq(n: int, nq: int, rng: np.random.Generator, bits: int = 8, m: int | None = None, d_sub: int | None = None) -> SyntheticPQ:
    """Normal codebooks, uniform codes and normal queries; ``m`` / ``d_sub`` default to :data:`PQ_LAYOUTS`."""
    if bits not in PQ_LAYOUTS:
        raise ValueError(f"bits: expected one of {sorted(PQ_LAYOUTS)}, got {bits}")
    m0, d0 = PQ_LAYOUTS[bits]
    m, d_sub = m or m0, d_sub or d0
    k = 1 << bits
    cb = rng.normal(size=(m, k, d_sub)).astype(np.float32)
    codes = rng.integers(0, k, (n, m), dtype=np.uint8)
    q = rng.normal(size=(nq, m * d_sub)).astype(np.float32)
    return SyntheticPQ(cb, codes, q)


def faiss_pq(codebooks: np.ndarray, codes: np.ndarray, fast_scan: bool = False) -> tuple[Any, str]:
    """A FAISS ``IndexPQ`` (L2) with our ``codebooks`` (m, K, d_sub) holding ``codes`` (n, m) uint8,
    or its ``IndexPQFastScan`` (4-bit codes only) with ``fast_scan``; returns (index, label)."""
    import faiss

    from distilhash.index.pqcodes import pack_nibbles

    m, k, d_sub = codebooks.shape
    bits = int(k).bit_length() - 1
    if fast_scan and bits != 4:
        raise ValueError(f"fast_scan: FAISS's fast scan takes 4-bit codes, got {bits}-bit")
    ipq = faiss.IndexPQ(m * d_sub, m, bits, faiss.METRIC_L2)
    faiss.copy_array_to_vector(np.ascontiguousarray(codebooks, np.float32).ravel(), ipq.pq.centroids)
    ipq.is_trained = True
    ipq.add_sa_codes(pack_nibbles(codes) if bits == 4 else np.ascontiguousarray(codes))
    if fast_scan:
        return faiss.IndexPQFastScan(ipq), "FAISS IndexPQFastScan"
    return ipq, "FAISS IndexPQ"


def faiss_binary_flat(db: np.ndarray, heap: bool = True) -> Any:
    """A FAISS ``IndexBinaryFlat`` over packed codes ``db`` (n, bytes) uint8; ``heap=False``: its counting top-k."""
    import faiss

    idx = faiss.IndexBinaryFlat(db.shape[1] * 8)
    idx.use_heap = heap
    idx.add(np.ascontiguousarray(db))
    return idx


def single_thread() -> None:
    """One thread everywhere a timed kernel could spread: BLAS / OpenMP pools and FAISS's OpenMP."""
    import faiss

    from distilhash.threads import limit_threads

    limit_threads(1)
    faiss.omp_set_num_threads(1)


def stamped_log(msg: str) -> None:
    """Print ``msg`` after the time of day and the 1-minute load average (the machine is shared)."""
    import os

    print(f"[{time.strftime('%H:%M:%S')}] load {os.getloadavg()[0]:.2f} | {msg}", flush=True)


def one_query_per_call(search: Callable[[np.ndarray], list], queries: np.ndarray) -> tuple[list, list[float]]:
    """``search(queries[i : i + 1])`` for every query in turn: the answers (each call's list, joined)
    and the wall seconds of each call."""
    out: list = []
    secs: list[float] = []
    for i in range(len(queries)):
        t = time.perf_counter()
        out += search(queries[i : i + 1])
        secs.append(time.perf_counter() - t)
    return out, secs


def rotating_calls(calls: dict[str, Callable[[Any], Any]], queries: Sequence[Any], count: int,
                   warm: int = 20) -> dict[str, tuple[np.ndarray, list]]:
    """Every call on each of ``queries[: warm + count]``, the order of the calls rotating with the
    query (a load change falls on every call alike); the first ``warm`` queries are not kept.
    Returns {name: (ms per query [count], answers)}."""
    names = list(calls)
    lat: dict[str, list[float]] = {n: [] for n in names}
    out: dict[str, list[Any]] = {n: [] for n in names}
    for i, q in enumerate(queries[:warm + count]):
        for j in range(len(names)):
            n = names[(i + j) % len(names)]
            t = time.perf_counter()
            got = calls[n](q)
            if i >= warm:
                lat[n].append(time.perf_counter() - t)
                out[n].append(got)
    return {n: (np.asarray(lat[n]) * 1e3, out[n]) for n in names}


def percentiles_over_runs(ms_per_run: Sequence[Sequence[float]]) -> dict[str, Any]:
    """p50 and p99 of each run's latencies, their mean and sample std over the runs (0 for one run)
    and the per-run values: ``p50_ms``, ``p50_std``, ``p99_ms``, ``p99_std``, ``p50_runs``, ``p99_runs``."""
    p50 = np.array([np.percentile(ms, 50) for ms in ms_per_run])
    p99 = np.array([np.percentile(ms, 99) for ms in ms_per_run])
    sd = (lambda x: float(x.std(ddof=1)) if len(x) > 1 else 0.0)  # noqa: E731
    return {"p50_ms": float(p50.mean()), "p50_std": sd(p50), "p99_ms": float(p99.mean()), "p99_std": sd(p99),
            "p50_runs": p50.tolist(), "p99_runs": p99.tolist()}


def read_bandwidth(nbytes: int, repeat: int, threads: list[int]) -> dict:
    """Best read GB/s over a ``nbytes`` buffer: single thread (numpy count_nonzero and uint64 sum),
    and the uint64 sum split into contiguous parts over each thread count > 1 of ``threads``."""
    buf = np.random.default_rng(0).integers(0, 255, nbytes, dtype=np.uint8)
    words = buf[: nbytes // 8 * 8].view(np.uint64)
    best = {}
    for name, fn in (("count_nonzero", lambda: np.count_nonzero(buf)), ("sum_u64", lambda: words.sum())):
        fn()
        t_best = min(wall_cpu(fn)[0] for _ in range(max(3, repeat)))
        best[name] = nbytes / t_best / 1e9
    split = {}
    for t in (t for t in threads if t > 1):
        parts = np.array_split(words, t)
        with ThreadPoolExecutor(t) as pool:
            fn = lambda: list(pool.map(np.sum, parts))  # noqa: E731
            fn()
            split[str(t)] = nbytes / min(wall_cpu(fn)[0] for _ in range(max(3, repeat))) / 1e9
    return {"bytes": nbytes, "gb_per_s": best, "best_gb_per_s": max(best.values()), "split_gb_per_s": split}


class BatchCalls:
    """Answers every query in calls of ``batch`` (a timed arm: call it); remembers the fastest call's
    seconds per query (on a loaded machine: a call that ran without losing its core)."""

    def __init__(self, fn: Callable[[np.ndarray], Any], queries: np.ndarray, batch: int) -> None:
        self.fn, self.queries, self.batch = fn, queries, batch
        self.best_call = float("inf")

    def __call__(self) -> None:
        for s in range(0, len(self.queries), self.batch):
            q = self.queries[s : s + self.batch]
            t = time.perf_counter()
            self.fn(q)
            self.best_call = min(self.best_call, (time.perf_counter() - t) / len(q))


def _threaded(fn: Callable[[np.ndarray], Any], threads: int, faiss_side: bool) -> Callable[[np.ndarray], Any]:
    """``fn`` run with ``threads`` threads: our scan split (native.set_scan_threads) or FAISS's OpenMP."""
    import faiss

    from distilhash.index import native

    def run(q):
        if faiss_side:
            faiss.omp_set_num_threads(threads)
        else:
            native.set_scan_threads(threads)
        try:
            return fn(q)
        finally:
            faiss.omp_set_num_threads(1)
            native.set_scan_threads(1)
    return run


def with_threads(arms: dict[str, Callable], threads: list[int]) -> dict[str, Callable]:
    """The one-thread arms plus, per thread count > 1, each arm again with that many threads (an arm
    named ``ours...`` splits our scan, any other is FAISS given that many OpenMP threads)."""
    out = dict(arms)
    for t in (t for t in threads if t > 1):
        for name, fn in arms.items():
            out[f"{name}, {t} threads"] = _threaded(fn, t, not name.startswith("ours"))
    return out


def arm_figures(times: list[tuple[float, float]], nq: int, n: int, limit_ns: float, split_ns: dict[str, float]) -> dict:
    """One arm's figures from its repetitions' (wall, CPU) seconds: best wall, the sample std of
    ns/code, and the least process CPU time per code (on a loaded machine: what the arm costs)."""
    ns = [1e9 * w / (nq * n) for w, _ in times]
    best = min(ns)
    return {"ns_per_code": best, "ns_per_code_std": statistics.stdev(ns) if len(ns) > 1 else 0.0,
            "ns_per_code_all": ns, "cpu_ns_per_code": min(1e9 * c / (nq * n) for _, c in times),
            "qps": nq / min(w for w, _ in times), "share_of_limit": limit_ns / best,
            "share_of_split_limit": {t: v / best for t, v in split_ns.items()}}
