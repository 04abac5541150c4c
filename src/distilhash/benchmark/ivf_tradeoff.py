"""IVF lists against the exact scan for PQ codes: what they cost in recall and ranked-list quality, what they gain in speed.

``bench/index_ivf.py`` encodes a trained model's database images and query captions, then calls
:func:`ivf_tradeoff`: (1) on the real codes alone, every ``nprobe``'s candidates ranked and scored against
the relevance (mAP@100 / @1000 / @all, TREC style: relevant items outside the probed lists count as not
retrieved) and their recall@k of the exact top-k; (2) at ``n`` items (the real codes plus noisy replicas,
:func:`~.replica_index.pq_replicas`), one query per call on one thread, the exact native scan and the IVF
searcher per ``nprobe``: ms/query, recall@k, and recall of the exact top-k items that are real or unmodified.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from distilhash.benchmark.ranked_lists import ivf_candidates, quality as ranked_quality, recall, timed_search
from distilhash.benchmark.replica_index import pq_replicas

__all__ = ["ivf_tradeoff"]


def _searchers() -> Any:
    """The PQ searcher registry (its ``ivf`` entry is imported when asked for)."""
    from distilhash.index.pq import PQ_SEARCHERS

    return PQ_SEARCHERS


def _real_set(cb: np.ndarray, metric: str, codes: np.ndarray, qv: np.ndarray, rel: np.ndarray, nprobes: Sequence[int], k: int,
              seed: int, log: Callable[[str], Any]) -> dict[str, Any]:
    searchers = _searchers()
    exact = searchers.create("native", cb, metric)
    exact.add(codes)
    ref, _ = timed_search(exact, qv, len(codes))
    out: dict[str, Any] = {"exact": ranked_quality([r for _, r in ref], rel), "ivf": []}
    ivf = searchers.create("ivf", cb, metric, seed=seed)
    ivf.add(codes)
    ivf.list_sizes()
    out["nlist"] = int(ivf.stats["nlist"])
    for nprobe in nprobes:
        cands = ivf_candidates(ivf, qv, nprobe)
        out["ivf"].append({"nprobe": nprobe, **ranked_quality(cands, rel), "recall@10": recall([(None, c) for c in cands], ref, k),
                           "mean_candidates": float(np.mean([len(c) for c in cands]))})
        log(f"real set nprobe={nprobe}: {out['ivf'][-1]}")
    return out


def _check_adc(got: list, queries: np.ndarray, cb: np.ndarray, codes: np.ndarray, metric: str) -> None:
    """Returned distances must be the ADC sums (first 50 queries). The native kernel adds the M table entries
    in its own order, so a float32 sum may differ from numpy's in the last bits."""
    from distilhash.index.pq import adc_distances, lookup_tables

    tab = lookup_tables(queries[:50], cb, metric)
    for i, (d, r) in enumerate(got[:50]):
        want = adc_distances(tab[i], codes[r], metric)
        if not np.allclose(d, want, rtol=1e-5, atol=1e-6):
            raise RuntimeError(f"query {i}: returned distances differ from ADC by {np.abs(d - want).max():.3g}")


def ivf_tradeoff(cb: np.ndarray, metric: str, real: np.ndarray, qv: np.ndarray, rel: np.ndarray, *, n: int, flip: float,
                 nprobes: Sequence[int], nlist: int | None, queries: int, k: int, seed: int,
                 log: Callable[[str], Any] = print) -> dict[str, Any]:
    """The IVF trade-off for PQ ``real`` codes ``[R, M]`` (codebooks ``cb`` ``[M, K, d]``), float queries ``qv``
    ``[Q, D]`` and relevance ``rel`` ``[Q, R]`` bool: ``n_queries_timed``, ``build`` (nlist, k-means and assignment
    seconds, list sizes), ``exact`` (ms/query, the replicas' share of the items and of the exact top-k), ``ivf``
    (per nprobe at ``n`` items) and ``quality_real_set``. The first ``queries`` queries are timed."""
    searchers = _searchers()
    quality = _real_set(cb, metric, real, qv, rel, nprobes, k, seed, log)
    rep, _, rep_mod = pq_replicas(real, cb.shape[1], n - len(real), flip, np.random.default_rng(seed))
    codes = np.concatenate([real, rep])
    modified = np.concatenate([np.zeros(len(real), bool), rep_mod])
    qt = qv[:queries]
    exact = searchers.create("native", cb, metric)
    exact.add(codes)
    ref, exact_s = timed_search(exact, qt, k)
    log(f"exact native: {exact_s * 1e3:.3f} ms/query")
    t0 = time.perf_counter()
    s = searchers.create("ivf", cb, metric, **{"seed": seed} | ({"nlist": nlist} if nlist else {}))
    s.add(codes)
    s._flush()
    build_s = time.perf_counter() - t0
    sizes = s.list_sizes()
    speed = []
    for nprobe in nprobes:
        s.nprobe = nprobe
        got, sec = timed_search(s, qt, k)
        # recall restricted to exact top-k items that are real codes or unmodified copies
        unmod = [np.isin(r[~modified[r]], g[1]).mean() for g, (_, r) in zip(got, ref) if (~modified[r]).any()]
        speed.append({"nprobe": nprobe, "ms_per_query": sec * 1e3, "qps": 1.0 / sec, "recall@10": recall(got, ref, k),
                      "recall@10_unmodified": float(np.mean(unmod)) if unmod else None})
        log(f"ivf nprobe={nprobe}: {speed[-1]}")
        _check_adc(got, qt, cb, codes, metric)  # every nprobe's answers carry true ADC distances
    return {"n_queries_timed": len(qt),
            "build": {"nlist": int(s.stats["nlist"]), "trained_on": s.stats["trained_on"], "train_s": s.stats["train_s"],
                      "assign_s": s.stats["assign_s"], "total_s": round(build_s, 2),
                      "list_size": {"mean": float(sizes.mean()), "max": int(sizes.max()), "p99": float(np.percentile(sizes, 99)),
                                    "empty": int((sizes == 0).sum())}},
            "exact": {"backend": "native", "ms_per_query": exact_s * 1e3, "qps": 1.0 / exact_s,
                      "modified_fraction_db": float(modified.mean()),
                      "modified_fraction_top": float(modified[np.concatenate([r for _, r in ref])].mean())},
            "ivf": speed, "quality_real_set": quality}
