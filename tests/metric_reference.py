"""Slow, obviously-correct reference implementations of the retrieval metrics (tests only).

Plain Python loops over one query at a time, written straight from the definitions in
``docs/metrics.md``; no vectorisation, no chunking, no cleverness.
"""

from __future__ import annotations

import itertools
from math import isclose

import numpy as np


def ref_hamming(q_bits: np.ndarray, db_bits: np.ndarray) -> np.ndarray:
    """Hamming distances from unpacked 0/1 bits."""
    out = np.zeros((len(q_bits), len(db_bits)), dtype=np.int64)
    for i, q in enumerate(q_bits):
        for j, x in enumerate(db_bits):
            out[i, j] = sum(int(a) != int(b) for a, b in zip(q, x))
    return out


def ref_order(dist_row: np.ndarray) -> list[int]:
    """Database indices sorted by (distance, index)."""
    return sorted(range(len(dist_row)), key=lambda j: (dist_row[j], j))


def ref_relevant(q_labels: np.ndarray, db_labels: np.ndarray) -> list[list[bool]]:
    return [[bool(any(int(a) and int(b) for a, b in zip(q, x))) for x in db_labels] for q in q_labels]


def ap_from_rels(rels: list[bool], n: int | None = None) -> float:
    """AP of a 0/1 list in rank order; truncated at n with denominator = relevant in the top n."""
    limit = len(rels) if n is None else min(n, len(rels))
    hits, total = 0, 0.0
    for i in range(limit):
        if rels[i]:
            hits += 1
            total += hits / (i + 1)
    if n is None:
        n_rel = sum(rels)
        return total / n_rel if n_rel else 0.0
    return total / hits if hits else 0.0


def first_k_relevant_ap(rels: list[bool], k: int) -> float:
    """Mean of j / rank_j over the first min(k, R) relevant items, wherever they rank."""
    ranks = [i + 1 for i, r in enumerate(rels) if r]
    take = ranks[:k]
    if not take:
        return 0.0
    return sum((j + 1) / rank for j, rank in enumerate(take)) / len(take)


def min_denominator_ap(rels: list[bool], n: int) -> float:
    n_rel = sum(rels)
    if not n_rel:
        return 0.0
    hits, total = 0, 0.0
    for i in range(min(n, len(rels))):
        if rels[i]:
            hits += 1
            total += hits / (i + 1)
    return total / min(n, n_rel)


def ref_scores(dist: np.ndarray, rel: list[list[bool]], top_n: list[int]) -> dict:
    """Per-query lists of every score, ties broken by index."""
    out: dict = {"ap": [], "ap_at": [], "p_at": [], "r_at": [], "fk": [], "md": [], "n_rel": []}
    for i in range(dist.shape[0]):
        order = ref_order(dist[i])
        rels = [rel[i][j] for j in order]
        n_rel = sum(rels)
        out["n_rel"].append(n_rel)
        out["ap"].append(ap_from_rels(rels))
        out["ap_at"].append([ap_from_rels(rels, n) for n in top_n])
        hits = [sum(rels[: min(n, len(rels))]) for n in top_n]
        out["p_at"].append([h / min(n, len(rels)) for h, n in zip(hits, top_n)])
        out["r_at"].append([h / n_rel if n_rel else 0.0 for h in hits])
        out["fk"].append([first_k_relevant_ap(rels, n) for n in top_n])
        out["md"].append([min_denominator_ap(rels, n) for n in top_n])
    return out


def tie_groups(dist_row: np.ndarray) -> list[list[int]]:
    """Database indices grouped by equal distance, groups in increasing distance."""
    groups: dict = {}
    for j, d in enumerate(dist_row):
        groups.setdefault(d, []).append(j)
    return [groups[d] for d in sorted(groups)]


def all_tie_orders(dist_row: np.ndarray):
    """Every ranking obtained by permuting items inside each tie group."""
    groups = tie_groups(dist_row)
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield [j for p in perms for j in p]


def brute_expected(dist_row: np.ndarray, rel_row: list[bool], score) -> float:
    """Mean of ``score(rels_in_rank_order)`` over all tie orders (uniform)."""
    vals = [score([rel_row[j] for j in order]) for order in all_tie_orders(dist_row)]
    return sum(vals) / len(vals)


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    return isclose(a, b, rel_tol=tol, abs_tol=tol)
