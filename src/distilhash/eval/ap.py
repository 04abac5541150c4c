"""Per-query ranking scores from the ranks of the relevant items (the core of :mod:`.metrics`).

One query at a time, with its distances ``d`` ``[nd]``, the same distances sorted ``s`` and the
indices of its relevant items. Nothing of size ``nd`` is built besides what the caller gives:
every score depends only on where the relevant items land, so the work is
``O(R log nd)`` per query after one ``np.sort`` of the row (SIMD/radix, much faster than a
stable ``argsort``).

Rank of item ``j`` under the stable order (distance, index), 1-based::

    rank_j = 1 + #{i : d_i < d_j} + #{i : d_i = d_j, i < j}

With the relevant ranks sorted ``r_1 < ... < r_R``, the j-th relevant item has precision
``j / r_j`` and every score of :mod:`distilhash.eval.metrics` is a prefix sum of those.

Tie-aware scores use the tied groups of the relevant items' distances (see :func:`group_gain`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RowScores", "relevant_ranks", "tie_broken_scores", "tie_aware_scores", "group_gain", "hypergeom_pmf"]


@dataclass
class RowScores:
    """Scores of one query. ``*_at`` are aligned with ``top_n``; ``hits_curve`` with ``depths``.

    ``hits_at`` / ``hits_curve`` are the (expected, when tie-aware) numbers of relevant items
    in the top N; precision and recall follow from them.
    """

    n_rel: int
    ap_all: float
    ap_at: np.ndarray
    hits_at: np.ndarray
    hits_curve: np.ndarray
    first_k: np.ndarray
    min_den: np.ndarray


def _div(a, b) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def relevant_ranks(
    d: np.ndarray, s: np.ndarray, rel_idx: np.ndarray, inverse: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances, number of strictly closer items, and 1-based stable ranks of the items ``rel_idx``.

    Args:
        d: distances ``[nd]`` of one query; s: ``np.sort(d)``; rel_idx: ascending item indices.
        inverse: optional 0-based stable rank of every item (inverse of ``argsort(d, stable)``),
            used directly when given (cheap for uint16 Hamming distances: radix sort).

    Returns:
        ``(dv, lt, rank)`` for the relevant items in rank order (ascending rank):
        their distances, ``lt = #{i : d_i < dv}``, and their ranks.
    """
    if inverse is not None:
        rank = np.sort(inverse[rel_idx]).astype(np.int64) + 1
        dv = s[rank - 1]  # distances in rank order, read off the sorted row
        return dv, np.searchsorted(s, dv, side="left"), rank
    dv = d[rel_idx]
    order = np.argsort(dv, kind="stable")  # by (distance, index): rank order
    dv, idx = dv[order], rel_idx[order]
    lt = np.searchsorted(s, dv, side="left")  # sorted needles: fast, cache-friendly
    rt = np.searchsorted(s, dv, side="right")
    rank = lt + 1
    tied = (rt - lt) > 1
    if tied.sum() * 8 > len(d):  # massive ties: one stable sort of the row is cheaper
        inv = np.empty(len(d), np.int64)
        inv[np.argsort(d, kind="stable")] = np.arange(len(d))
        return dv, lt, inv[idx] + 1
    if tied.any():
        # every item sharing a distance with a tied relevant item, in index order
        tv = np.unique(dv[tied])
        pos = np.minimum(np.searchsorted(tv, d), len(tv) - 1)
        members = np.flatnonzero(tv[pos] == d)
        mv = d[members]
        morder = np.argsort(mv, kind="stable")
        smv = mv[morder]
        within = np.empty(len(members), np.int64)
        within[morder] = np.arange(len(members)) - np.searchsorted(smv, smv, side="left")
        rank[tied] += within[np.searchsorted(members, idx[tied])]
    return dv, lt, rank


def tie_broken_scores(nd: int, rank: np.ndarray, top_n: np.ndarray, depths: np.ndarray) -> RowScores:
    """Scores with ties broken by index, from the relevant items' ranks (any order)."""
    ranks = np.sort(rank)  # already sorted when it comes from relevant_ranks: cheap
    n_rel = len(ranks)
    prec = np.arange(1, n_rel + 1) / ranks.astype(np.float64)
    csum = np.concatenate([[0.0], np.cumsum(prec)])
    n_eff = np.minimum(top_n, nd)
    hits = np.searchsorted(ranks, n_eff, side="right")
    k = np.minimum(top_n, n_rel)
    return RowScores(
        n_rel=n_rel,
        ap_all=float(csum[-1] / n_rel) if n_rel else 0.0,
        ap_at=_div(csum[hits], hits),
        hits_at=hits.astype(np.float64),
        hits_curve=np.searchsorted(ranks, depths, side="right").astype(np.float64),
        first_k=_div(csum[k], k),
        min_den=_div(csum[hits], k),
    )


def _dharm(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``H(hi) - H(lo) = sum_{i=lo+1..hi} 1/i`` accurately (digamma differences)."""
    from scipy.special import digamma

    return digamma(np.asarray(hi, np.float64) + 1.0) - digamma(np.asarray(lo, np.float64) + 1.0)


def group_gain(s, n, r, c) -> np.ndarray:
    """Expected ``sum P@i`` over the relevant items of a tied group, under random order inside it.

    The group occupies ranks ``s+1..s+n``, holds ``r`` relevant items and ``c`` relevant items
    rank before it. A relevant item at group rank ``i`` (uniform on 1..n) sees in expectation
    ``(i-1)(r-1)/(n-1)`` other relevant items of the group before it, so

        G = (r/n) * sum_{i=1..n} (c + 1 + (i-1)(r-1)/(n-1)) / (s+i)
          = (r/n) * [ (c+1) dH + (r-1)/(n-1) * (n - (s+1) dH) ],   dH = H(s+n) - H(s).
    """
    s, n, r, c = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (s, n, r, c)))
    dh = 1.0 / (s + 1.0)  # exact for singleton groups
    big = n > 1
    if big.any():
        dh = dh.copy()
        dh[big] = _dharm(s[big], s[big] + n[big])
    second = np.where(big, _div((r - 1) * (n - (s + 1) * dh), n - 1), 0.0)
    return _div(r, n) * ((c + 1) * dh + second)


def hypergeom_pmf(k: np.ndarray, n: int, r: int, m: int) -> np.ndarray:
    """P(k relevant among m draws without replacement from n items of which r are relevant)."""
    from scipy.special import gammaln

    def lchoose(a, b):
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64)
        return gammaln(a + 1.0) - gammaln(b + 1.0) - gammaln(a - b + 1.0)

    k = np.asarray(k, np.float64)
    return np.exp(lchoose(r, k) + lchoose(n - r, m - k) - lchoose(n, m))


def tie_aware_scores(
    s: np.ndarray, dv: np.ndarray, lt: np.ndarray, top_n: np.ndarray, depths: np.ndarray
) -> RowScores:
    """Expected scores under uniformly random order inside every group of tied distances.

    Args:
        s: sorted distances ``[nd]``; dv, lt: from :func:`relevant_ranks`.

    AP@N's denominator (relevant items in the top N) is random when N cuts a tied group: the
    expectation sums over the hypergeometric number ``k`` of the group's relevant items that fall
    in the top N; given ``k`` they are uniformly placed in the group's ``m`` ranks inside the top N.
    """
    nd = len(s)
    n_rel = len(dv)
    order = np.argsort(dv, kind="stable")
    sdv, slt = dv[order], lt[order]
    # relevant groups: unique relevant distances
    first = np.flatnonzero(np.r_[True, sdv[1:] != sdv[:-1]]) if n_rel else np.zeros(0, np.int64)
    g_val = sdv[first]
    g_r = np.diff(np.r_[first, n_rel])
    g_s = slt[first]
    g_n = np.searchsorted(s, g_val, side="right") - g_s
    g_c = first  # relevant items with a smaller distance
    gain = group_gain(g_s, g_n, g_r, g_c)
    gain_cum = np.concatenate([[0.0], np.cumsum(gain)])

    def boundary(depth: np.ndarray):
        """Quantities of the tied group containing rank ``depth`` (1..nd)."""
        v = s[depth - 1]
        bs = np.searchsorted(s, v, side="left")
        bn = np.searchsorted(s, v, side="right") - bs
        gi = np.searchsorted(g_val, v, side="left")  # relevant groups before v
        if len(g_val):
            gc = np.minimum(gi, len(g_val) - 1)
            br = np.where((gi < len(g_val)) & (g_val[gc] == v), g_r[gc], 0)
        else:
            br = np.zeros(len(v), np.int64)
        bc = np.searchsorted(sdv, v, side="left")
        return bs, bn, br, bc, gain_cum[gi], depth - bs

    n_eff = np.minimum(top_n, nd).astype(np.int64)
    bs, bn, br, bc, before, m = boundary(n_eff)
    hits_at = bc + _div(br * m, bn)
    fixed = (br == 0) | (br == bn) | (m == bn)
    k_fixed = np.where(br == 0, 0, np.where(br == bn, m, br))
    ap_at = np.where(fixed, _div(before + group_gain(bs, m, k_fixed, bc), bc + k_fixed), 0.0)
    for t in np.flatnonzero(~fixed):
        ks = np.arange(max(0, m[t] - (bn[t] - br[t])), min(br[t], m[t]) + 1)
        pk = hypergeom_pmf(ks, bn[t], br[t], m[t])
        ap_at[t] = float(np.dot(pk, _div(before[t] + group_gain(bs[t], m[t], ks, bc[t]), bc[t] + ks)))
    if len(depths):
        cs, cn, cr, cc, _, cm = boundary(np.asarray(depths, np.int64))
        hits_curve = cc + _div(cr * cm, cn)
    else:
        hits_curve = np.zeros(0)
    return RowScores(
        n_rel=n_rel,
        ap_all=float(gain_cum[-1] / n_rel) if n_rel else 0.0,
        ap_at=ap_at,
        hits_at=hits_at,
        hits_curve=hits_curve,
        first_k=np.zeros(len(top_n)),
        min_den=np.zeros(len(top_n)),
    )
