"""The service load benchmarks' common part: arguments, the served index, the query pool, the wait
for a quiet machine, latency percentiles and the merge of per-process server stats.

``bench/serve_load.py`` (searches only) and ``bench/serve_writes.py`` (searches + adds/deletes)
serve the same large index of real codes plus noisy replicas
(:func:`distilhash.benchmark.replica_index.build_replica_index`) with the service's shipped text
encoder and ask it real ``split.query`` captions; this module is that setup, once.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["SERVED_INDEX_OPTIONS", "add_served_index_args", "ServedSetup", "prepare_served", "query_pool", "wait_for_quiet", "latency_summary",
           "merge_worker_stats", "stats_figures", "overlap_with_exact", "zipf_weights"]


class _AcceptsArguments(Protocol):
    def add_argument(self, *flags: str, **kwargs: Any) -> Any: ...


#: the options every service load benchmark takes (flag, keyword arguments of ``add_argument``); the
#: defaults a script chooses itself (dataset, teacher, out-name, machine-note, max-requests) are
#: given to :func:`add_served_index_args`
SERVED_INDEX_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--model", {"type": Path, "required": True}),
    ("--features", {"type": Path}),
    ("--n", {"type": int, "default": 1_000_000, "help": "items in the served index (real codes + noisy replicas)"}),
    ("--flip", {"type": float, "default": 0.03, "help": "a replica's chance to differ per bit / sub-code"}),
    ("--clients", {"type": int, "default": 50}),
    ("--duration", {"type": float, "default": 60}),
    ("--k", {"type": int, "default": 10}),
    ("--pool", {"type": int, "default": 2000, "help": "distinct query captions"}),
    ("--threads", {"type": int, "default": 1}),
    ("--index-backend", {"default": "auto", "help": "server --index-backend (e.g. ivf: approximate PQ search)"}),
    ("--index-option", {"action": "append", "default": [], "help": "server --index-option KEY=VALUE (repeatable)"}),
    ("--search-workers", {"type": int, "default": 1, "help": "server --search-workers (read-only index handles searching in parallel)"}),
    ("--seed", {"type": int, "default": 0}),
    ("--wait-load", {"type": float, "default": None,
                     "help": "before each measurement, wait until the 1-minute load average is below this (at most --wait-max s)"}),
    ("--wait-max", {"type": float, "default": 900}),
    ("--work", {"type": Path, "default": Path(tempfile.gettempdir()) / "distilhash-serve-load",
                "help": "where the replica index is built once and reused"}),
    ("--notes", {"default": ""}),
)


def add_served_index_args(p: _AcceptsArguments, *, dataset: str, teacher: str, out_name: str, machine_note: str,
                          max_requests: int) -> _AcceptsArguments:
    """Add :data:`SERVED_INDEX_OPTIONS` and the script's own defaults (``--dataset``, ``--teacher``,
    ``--out-name``, ``--machine-note``, ``--max-requests``) to the script's option parser ``p``."""
    for flag, kwargs in SERVED_INDEX_OPTIONS:
        p.add_argument(flag, **kwargs)
    for flag, default in (("--dataset", dataset), ("--teacher", teacher), ("--out-name", out_name),
                          ("--machine-note", machine_note)):
        p.add_argument(flag, default=default)
    p.add_argument("--max-requests", type=int, default=max_requests)
    return p


@dataclass
class ServedSetup:
    """What a service load benchmark serves and asks: the index (path) and how it was built, the
    dataset's texts, its split, ``split.query`` rows in a seeded random order and the query pool
    (the distinct captions of those rows, in that order)."""

    index: Path
    build: dict[str, Any]
    texts: list[str]
    split: Any
    query_rows: list[int]
    pool: list[str]


def query_pool(texts: Sequence[str], rows: Sequence[int], size: int) -> list[str]:
    """The first ``size`` distinct captions of ``rows`` (in their order)."""
    return list(dict.fromkeys(texts[i] for i in rows))[:size]


def prepare_served(args: Any, inputs: Callable[[], tuple[Any, Any, Any]],
                   ready: Callable[[Path], None]) -> ServedSetup:
    """The replica index in ``args.work`` (built once from ``inputs()`` = (dataset, split, features)
    of ``args.dataset``), then ``ready(index)`` (what the service needs beside it: thumbnails, the
    model's text encoder; the scripts pass the pipeline's and the service's functions, which this
    package does not import) and the query pool of ``split.query``."""
    from distilhash.benchmark.replica_index import build_replica_index
    from distilhash.data.store import open_prepared

    args.work.mkdir(parents=True, exist_ok=True)
    index, build = build_replica_index(args.work, args.model, args.dataset, args.n, args.flip, args.seed, inputs)
    ready(index)
    ds, split = open_prepared(args.dataset)
    rows = [int(r) for r in np.random.default_rng(args.seed).permutation(np.asarray(split.query))]
    texts = list(ds.texts)
    return ServedSetup(index, build, texts, split, rows, query_pool(texts, rows, args.pool))


def wait_for_quiet(threshold: float | None, max_s: float, poll_s: float = 5.0,
                   load: Callable[[], float] = lambda: os.getloadavg()[0], sleep: Callable[[float], None] = time.sleep) -> float:
    """Wait until ``load()`` (the 1-minute load average) is below ``threshold``, at most ``max_s``
    seconds (``threshold`` None: no wait); prints and returns the seconds waited."""
    if threshold is None:
        return 0.0
    t0 = time.monotonic()
    waited = 0.0
    while load() >= threshold and waited < max_s:
        sleep(poll_s)
        waited = max(time.monotonic() - t0, waited + poll_s)
    print(f"load average {load():.2f} after waiting {waited:.0f} s", flush=True)
    return waited


def latency_summary(ms: Sequence[float]) -> dict[str, Any]:
    """Count, p50 / p90 / p99 and max of latencies in ms (``{"count": 0}`` when there are none)."""
    a = np.asarray(ms, float)
    if not len(a):
        return {"count": 0}
    p = np.percentile(a, [50, 90, 99]).round(2).tolist()
    return {"count": len(a), "p50_ms": p[0], "p90_ms": p[1], "p99_ms": p[2], "max_ms": round(float(a.max()), 2)}


def merge_worker_stats(per_worker: list[dict]) -> dict:
    """One ``/api/stats`` dict from several server processes': counts summed; stage percentiles of
    the busiest process (the one that answered most text queries)."""
    if len(per_worker) == 1:
        return per_worker[0]
    out = dict(max(per_worker, key=lambda w: w["latency_ms"].get("text_query", {}).get("count", 0)))
    out["latency_ms"] = {k: dict(v) for k, v in out["latency_ms"].items()}
    for stage, v in out["latency_ms"].items():
        v["count"] = sum(w["latency_ms"].get(stage, {}).get("count", 0) for w in per_worker)
    for key, fields in (("text_batches", ("batches", "texts")), ("search_batches", ("batches", "queries")), ("text_cache", ("hits", "misses"))):
        out[key] = dict(out.get(key) or {})
        for f in fields:
            out[key][f] = sum((w.get(key) or {}).get(f, 0) for w in per_worker)
    return out


def zipf_weights(n: int, s: float) -> np.ndarray:
    """Zipf(``s``) probabilities of ranks 1..n (sum 1)."""
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def stats_figures(stats: dict) -> dict[str, Any]:
    """From a service's ``/api/stats`` dict: the mean text and search batch, the text cache's hit
    rate (None when unused) and how many text queries each encoder answered."""
    b, sb, c = stats["text_batches"], stats.get("search_batches") or {}, stats["text_cache"]
    return {"mean_text_batch": round(b["texts"] / b["batches"], 2) if b["batches"] else None,
            "mean_search_batch": round(sb["queries"] / sb["batches"], 2) if sb.get("batches") else None,
            "cache_hit_rate": round(c["hits"] / (c["hits"] + c["misses"]), 4) if c["hits"] + c["misses"] else None,
            "answered_by": {"static": stats["latency_ms"].get("static_text", {}).get("count", 0),
                            "teacher": stats["latency_ms"].get("teacher_text", {}).get("count", 0)}}


def overlap_with_exact(index: Path, queries: np.ndarray, backend: str, options: Sequence[str], k: int) -> dict[str, Any]:
    """Overlap@k of the index's ``backend`` searcher (``options``: ``KEY=VALUE`` texts) with its exact
    search, over the encoded ``queries`` [nq, D]: mean and min, the searcher's build seconds and its
    batched CPU ms per query."""
    from distilhash.index import open_index
    from distilhash.index.core import IndexOptions

    opts = {a: int(b) if b.isdigit() else b for a, _, b in (o.partition("=") for o in options)}
    with open_index(index) as exact, open_index(index, options=IndexOptions(backend=backend, searcher_options=opts)) as approx:
        t0 = time.perf_counter()
        approx.searcher()
        build_s = time.perf_counter() - t0
        a = exact.search_rows(queries, k)
        c0 = time.process_time()
        b = approx.search_rows(queries, k)
        cpu_ms = (time.process_time() - c0) * 1e3 / len(queries)
    overlap = [len(set(ra.tolist()) & set(rb.tolist())) / max(1, len(ra)) for (_, ra), (_, rb) in zip(a, b)]
    return {"backend": backend, "options": opts, "queries": len(overlap), "k": k, "overlap_at_k_mean": round(float(np.mean(overlap)), 4),
            "overlap_at_k_min": round(float(np.min(overlap)), 4), "searcher_build_s": round(build_s, 1),
            "search_cpu_ms_per_query_batched": round(cpu_ms, 4)}
