"""Retrieval metrics: mAP@all, truncated mAP@N, precision/recall@N, PR curves — one definition each.

Notation for one query: the database is ranked by (distance, database index) — ties are broken
by database index, a stable and reproducible order. ``rel_i`` in {0, 1} is the relevance of the
item at rank ``i`` (1-based); relevant means sharing at least one label, ``y_q . y_x > 0``.
``R`` = number of relevant items in the database, ``R_N = sum_{i<=N} rel_i`` and
``P@i = R_i / i``.

* ``AP     = (1/R)   * sum_{i=1..nd} rel_i P@i``                       (mAP@all: the headline)
* ``AP@N   = (1/R_N) * sum_{i=1..N}  rel_i P@i``, 0 if ``R_N = 0``      (truncated mAP@N)
  The denominator is the number of relevant items *retrieved in the top N*: AP@N is the mean of
  the precisions at the ranks of the relevant items inside the top N. This is what the
  ``CalcTopMap`` function used by many deep-hashing repositories computes (up to tie order).
* Named variants for comparison with published numbers (see ``docs/metrics.md``):
  ``first_k_relevant``: ``(1/min(N, R)) * sum_{j=1..min(N, R)} j / pos_j`` where ``pos_j`` is
  the rank of the j-th relevant item *wherever it is* (not truncated at N; DCMH's ``calc_map_k``);
  ``min_denominator``: ``(1/min(N, R)) * sum_{i=1..N} rel_i P@i`` (truncated; the IR "AP@k" of
  e.g. ``ml_metrics.apk``).
* ``precision@N = R_N / min(N, nd)``, ``recall@N = R_N / R``.
* PR curve: binary codes — over Hamming radius ``r = 0..L``: precision(r) = relevant within
  radius / retrieved within radius, averaged over the queries that retrieve at least one item at
  that radius; recall(r) = relevant within radius / R averaged over all queries. Other codes —
  over ranking depth: (recall@N, precision@N) on a grid of depths N.

Queries with no relevant item get 0 for every score and stay in every mean (their number is
reported as ``n_without_relevant``).

Tie-aware option (``tie_aware=True``): every score is the expected value under a uniformly
random order inside each group of tied distances (McSherry & Najork, ECIR 2008), computed
exactly. For a tied group occupying ranks ``s+1..s+n`` with ``r`` relevant items and ``c``
relevant items ranked before it, the expected sum of ``P@i`` over its relevant items is

    G = (r/n) * [ (c+1) * dH + (r-1)/(n-1) * (n - (s+1) * dH) ],   dH = H(s+n) - H(s)

(``H`` harmonic numbers; second term 0 when n = 1): a relevant item at group rank i sees in
expectation ``(i-1)(r-1)/(n-1)`` other relevant items of its group before it. For truncation
inside a group (AP@N's random denominator), the exact expectation sums over the hypergeometric
number ``k`` of relevant items of the group that fall inside the top N. The named variants are
always computed with ties broken by index.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import DataError
from distilhash.eval import ap, rankers

__all__ = [
    "RetrievalReport",
    "evaluate",
    "evaluate_method",
    "default_depths",
    "relevance",
    "DEFAULT_MEMORY_BYTES",
]

#: Working-memory budget of one chunk of queries in :func:`evaluate`.
DEFAULT_MEMORY_BYTES = 1 << 30
#: Bytes of working memory per (query, item) pair in :func:`evaluate` (distances, their sorted
#: copy, relevance, label products; for Hamming also the radix order, ranks and radius
#: histogram keys): 14-25 measured with tracemalloc, plus a margin. Used to size chunks.
_BYTES_PER_PAIR = 40

VARIANTS = ("first_k_relevant", "min_denominator")


@dataclass
class RetrievalReport:
    """Scores of one retrieval direction (see the module docstring for the definitions).

    Attributes:
        map_all: mAP over the whole ranking.
        map_at: ``{N: truncated mAP@N}`` (denominator: relevant items retrieved in the top N).
        precision_at, recall_at: ``{N: precision@N}``, ``{N: recall@N}``.
        pr_curve: ``(precision, recall)`` float arrays, one point per entry of ``pr_points``.
        pr_axis: ``"hamming_radius"`` (binary codes) or ``"depth"``.
        pr_points: the radii or depths of the PR curve's points.
        pr_support: binary codes: number of queries that retrieve >= 1 item at each radius
            (those averaged for precision); depth: all queries.
        precision_curve: ``(N values, precision@N)``.
        recall_curve: ``(N values, recall@N)``.
        map_variants: ``{"first_k_relevant": {N: ...}, "min_denominator": {N: ...}}`` — NOT
            mAP@N; only for comparing with published code (ties broken by index).
        n_queries, n_database, n_without_relevant: counts.
        tie_aware: whether scores are expectations over random tie order.
        code_kind, n_bits: of the database codes.
        per_query_ap: AP@all of every query (``per_query=True``), else None.
    """

    map_all: float
    map_at: dict[int, float]
    precision_at: dict[int, float]
    recall_at: dict[int, float]
    pr_curve: tuple[np.ndarray, np.ndarray]
    precision_curve: tuple[np.ndarray, np.ndarray]
    n_queries: int
    n_without_relevant: int
    n_database: int = 0
    recall_curve: tuple[np.ndarray, np.ndarray] | None = None
    pr_axis: str = "depth"
    pr_points: np.ndarray | None = None
    pr_support: np.ndarray | None = None
    map_variants: dict[str, dict[int, float]] = field(default_factory=dict)
    tie_aware: bool = False
    code_kind: str = ""
    n_bits: int = 0
    per_query_ap: np.ndarray | None = None

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        """JSON-ready dict (arrays become lists; dict keys stay ints — ``json`` writes them as strings)."""

        def conv(x: Any) -> Any:
            if isinstance(x, np.ndarray):
                return x.tolist()
            if isinstance(x, (tuple, list)):
                return [conv(v) for v in x]
            if isinstance(x, dict):
                return {k: conv(v) for k, v in x.items()}
            if isinstance(x, np.generic):
                return x.item()
            return x

        d = {k: conv(v) for k, v in asdict(self).items()}
        if not per_query:
            d.pop("per_query_ap", None)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RetrievalReport:
        """Inverse of :meth:`to_dict` (also accepts the string keys of a JSON round trip)."""

        def intkeys(m: dict) -> dict[int, float]:
            return {int(k): float(v) for k, v in m.items()}

        def pair(p: Any) -> tuple[np.ndarray, np.ndarray] | None:
            return None if p is None else (np.asarray(p[0]), np.asarray(p[1]))

        return cls(
            map_all=float(d["map_all"]),
            map_at=intkeys(d["map_at"]),
            precision_at=intkeys(d["precision_at"]),
            recall_at=intkeys(d["recall_at"]),
            pr_curve=pair(d["pr_curve"]),  # type: ignore[arg-type]
            precision_curve=pair(d["precision_curve"]),  # type: ignore[arg-type]
            n_queries=int(d["n_queries"]),
            n_without_relevant=int(d["n_without_relevant"]),
            n_database=int(d.get("n_database", 0)),
            recall_curve=pair(d.get("recall_curve")),
            pr_axis=d.get("pr_axis", "depth"),
            pr_points=None if d.get("pr_points") is None else np.asarray(d["pr_points"]),
            pr_support=None if d.get("pr_support") is None else np.asarray(d["pr_support"]),
            map_variants={k: intkeys(v) for k, v in d.get("map_variants", {}).items()},
            tie_aware=bool(d.get("tie_aware", False)),
            code_kind=d.get("code_kind", ""),
            n_bits=int(d.get("n_bits", 0)),
            per_query_ap=None if d.get("per_query_ap") is None else np.asarray(d["per_query_ap"]),
        )

    def summary(self) -> str:
        """One line: mAP@all and mAP@N."""
        at = " ".join(f"mAP@{n}={v:.4f}" for n, v in self.map_at.items())
        return f"mAP@all={self.map_all:.4f} {at} (queries={self.n_queries}, without relevant={self.n_without_relevant})"


def default_depths(n_database: int) -> np.ndarray:
    """Depth grid for precision@N / recall@N and depth PR curves: 1, 5, 10, 20, 50, 100..1000 by
    100, 1-2-5 steps beyond, plus 40 evenly spaced depths up to ``n_database`` (so that a PR
    curve over depth has points all along the recall axis); clipped to ``1..n_database``."""
    grid = [1, 5, 10, 20, 50, *range(100, 1001, 100)]
    base = 1000
    while base < n_database:
        grid += [2 * base, 5 * base, 10 * base]
        base *= 10
    grid += np.linspace(0, n_database, 41)[1:].round().astype(np.int64).tolist()
    return np.unique(np.clip(np.asarray(grid, dtype=np.int64), 1, max(1, n_database)))


def relevance(query_labels: np.ndarray, database_labels: np.ndarray) -> np.ndarray:
    """bool ``[nq, nd]``: ``y_q . y_x > 0`` (at least one shared label)."""
    q = np.asarray(query_labels, dtype=np.float32)
    x = np.asarray(database_labels, dtype=np.float32)
    return (q @ x.T) > 0


# --------------------------------------------------------------------------------------------
# per-chunk scoring
# --------------------------------------------------------------------------------------------


@dataclass
class _Spec:
    top_n: np.ndarray  # int64 [T]
    depths: np.ndarray  # int64 [P]
    tie_aware: bool
    curves: bool
    n_bits: int
    radius_curve: bool


@dataclass
class _Chunk:
    """Per-query scores of one chunk of queries."""

    n_rel: np.ndarray  # [c]
    ap_all: np.ndarray  # [c]
    ap_at: np.ndarray  # [c, T]
    prec_at: np.ndarray  # [c, T]
    rec_at: np.ndarray  # [c, T]
    variants: dict[str, np.ndarray]  # name -> [c, T]
    prec_curve: np.ndarray | None = None  # [c, P]
    rec_curve: np.ndarray | None = None  # [c, P]
    radius_prec: np.ndarray | None = None  # [c, L+1]
    radius_retrieves: np.ndarray | None = None  # bool [c, L+1]
    radius_rec: np.ndarray | None = None  # [c, L+1]


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def _radius_curve(dist: np.ndarray, rel: np.ndarray, n_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-query precision, "retrieves anything" and recall within Hamming radius 0..L, ``[c, L+1]``."""
    c = dist.shape[0]
    width = n_bits + 1
    key = (np.arange(c, dtype=np.int64)[:, None] * width + dist.astype(np.int64)).ravel()
    ret = np.bincount(key, minlength=c * width).reshape(c, width).cumsum(axis=1)
    hit = np.bincount(key, weights=rel.ravel(), minlength=c * width).reshape(c, width).cumsum(axis=1)
    n_rel = rel.sum(axis=1)
    prec = _safe_div(hit, ret)
    return prec, ret > 0, _safe_div(hit, n_rel[:, None])


def _score_chunk(dist: np.ndarray, rel: np.ndarray, spec: _Spec) -> _Chunk:
    """Per-query scores of a chunk: distances ``[c, nd]`` and relevance bool ``[c, nd]``."""
    c, nd = dist.shape
    if np.issubdtype(dist.dtype, np.floating):
        if np.isnan(dist).any():
            raise DataError("distances contain NaN; cannot rank (check the embeddings)")
        dist = dist + dist.dtype.type(0.0)  # -0.0 -> +0.0 so that sorting and equality agree
    inverse = None
    if dist.dtype.itemsize <= 2 and np.issubdtype(dist.dtype, np.integer):
        # Hamming distances: stable radix argsort, then every item's rank directly
        order = np.argsort(dist, axis=1, kind="stable")
        s_all = np.take_along_axis(dist, order, axis=1)
        inverse = np.empty(order.shape, np.int32)
        np.put_along_axis(inverse, order, np.arange(nd, dtype=np.int32)[None, :], axis=1)
        del order
    else:
        s_all = np.sort(dist, axis=1)
    t, p = len(spec.top_n), len(spec.depths) if spec.curves else 0
    depths = spec.depths if spec.curves else np.zeros(0, np.int64)
    n_rel = np.zeros(c, np.int64)
    ap_all = np.zeros(c)
    ap_at, hits_at, first_k, min_den = (np.zeros((c, t)) for _ in range(4))
    hits_curve = np.zeros((c, p))
    for i in range(c):
        inv = None if inverse is None else inverse[i]
        dv, lt, rank = ap.relevant_ranks(dist[i], s_all[i], np.flatnonzero(rel[i]), inv)
        row = ap.tie_broken_scores(nd, rank, spec.top_n, depths)
        first_k[i], min_den[i] = row.first_k, row.min_den
        if spec.tie_aware:
            row = ap.tie_aware_scores(s_all[i], dv, lt, spec.top_n, depths)
        n_rel[i], ap_all[i], ap_at[i], hits_at[i], hits_curve[i] = row.n_rel, row.ap_all, row.ap_at, row.hits_at, row.hits_curve
    eff = np.minimum(spec.top_n, nd)[None, :]
    out = _Chunk(
        n_rel=n_rel,
        ap_all=ap_all,
        ap_at=ap_at,
        prec_at=_safe_div(hits_at, eff),
        rec_at=_safe_div(hits_at, n_rel[:, None]),
        variants={"first_k_relevant": first_k, "min_denominator": min_den},
    )
    if spec.curves:
        out.prec_curve = hits_curve / spec.depths[None, :]
        out.rec_curve = _safe_div(hits_curve, n_rel[:, None])
        if spec.radius_curve:
            out.radius_prec, out.radius_retrieves, out.radius_rec = _radius_curve(dist, rel, spec.n_bits)
    return out


def _check_labels(labels: np.ndarray, n: int, what: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise DataError(f"{what} labels have shape {arr.shape}; expected [{n}, C] (one multi-hot row per item)")
    if arr.size and (arr.dtype != np.bool_) and arr.min() < 0:
        raise DataError(f"{what} labels contain negative values; expected multi-hot 0/1 rows (relevance is y_q . y_x > 0)")
    return arr


def evaluate(
    query: Encoded,
    database: Encoded,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    *,
    top_n: tuple[int, ...] | list[int] = (100, 500, 1000),
    tie_aware: bool = False,
    curves: bool = True,
    depths: np.ndarray | None = None,
    per_query: bool = False,
    chunk_size: int | None = None,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    progress: bool = False,
) -> RetrievalReport:
    """Score the ranking of ``database`` for every query.

    Args:
        query, database: encoded items (see :mod:`distilhash.eval.rankers` for the supported kinds).
        query_labels, database_labels: multi-hot ``[nq, C]`` and ``[nd, C]``.
        top_n: the N of mAP@N, precision@N and recall@N.
        tie_aware: report expectations under random order of tied items instead of index order.
        curves: compute the PR and precision@N curves.
        depths: depths of the precision@N curve (default :func:`default_depths`).
        per_query: keep every query's AP@all in ``report.per_query_ap``.
        chunk_size: queries per chunk (default: from ``memory_bytes``).
        memory_bytes: working-memory budget per chunk (about 40 bytes per (query, item) pair).
        progress: show a tqdm bar over chunks.
    """
    nq, nd = len(query), len(database)
    ql = _check_labels(query_labels, nq, "query")
    dl = _check_labels(database_labels, nd, "database")
    if ql.shape[1] != dl.shape[1]:
        raise DataError(f"query labels have {ql.shape[1]} classes but database labels have {dl.shape[1]}")
    if nd == 0:
        raise DataError("the database is empty; nothing to rank")
    top = np.asarray(sorted({int(n) for n in top_n}), dtype=np.int64)
    if top.size and top.min() < 1:
        raise DataError(f"top_n values must be >= 1, got {list(top_n)}")
    grid = default_depths(nd) if depths is None else np.unique(np.clip(np.asarray(depths, np.int64), 1, nd))
    radius = database.kind.hamming and query.kind.hamming
    spec = _Spec(top, grid, tie_aware, curves, database.n_bits, radius)
    qf = ql.astype(np.float32)
    df = dl.astype(np.float32)
    step = chunk_size or max(1, memory_bytes // (_BYTES_PER_PAIR * nd))
    chunks: list[_Chunk] = []
    it = rankers.iter_distances(query, database, chunk_size=step)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=-(-nq // step), desc="evaluate", unit="chunk")
    for lo, hi, dist in it:
        rel = (qf[lo:hi] @ df.T) > 0
        chunks.append(_score_chunk(dist, rel, spec))
    return _assemble(chunks, spec, query, database, nq, nd, per_query)


def _assemble(chunks: list[_Chunk], spec: _Spec, query: Encoded, database: Encoded, nq: int, nd: int, per_query: bool) -> RetrievalReport:
    def cat(name: str) -> np.ndarray:
        parts = [getattr(ch, name) for ch in chunks]
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, len(spec.top_n)))

    def mean(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=0) if len(x) else np.zeros(x.shape[1:])

    n_rel = np.concatenate([ch.n_rel for ch in chunks]) if chunks else np.zeros(0, np.int64)
    ap_all = np.concatenate([ch.ap_all for ch in chunks]) if chunks else np.zeros(0)
    top = [int(n) for n in spec.top_n]

    def as_map(x: np.ndarray) -> dict[int, float]:
        return {n: float(v) for n, v in zip(top, mean(x))}

    variants = {v: as_map(np.concatenate([ch.variants[v] for ch in chunks]) if chunks else np.zeros((0, len(top)))) for v in VARIANTS}
    report = RetrievalReport(
        map_all=float(ap_all.mean()) if nq else 0.0,
        map_at=as_map(cat("ap_at")),
        precision_at=as_map(cat("prec_at")),
        recall_at=as_map(cat("rec_at")),
        pr_curve=(np.zeros(0), np.zeros(0)),
        precision_curve=(np.zeros(0, np.int64), np.zeros(0)),
        n_queries=nq,
        n_without_relevant=int((n_rel == 0).sum()),
        n_database=nd,
        map_variants=variants,
        tie_aware=spec.tie_aware,
        code_kind=database.kind.value,
        n_bits=int(database.n_bits),
        per_query_ap=ap_all if per_query else None,
    )
    if spec.curves and chunks:
        pc = mean(np.concatenate([ch.prec_curve for ch in chunks]))
        rc = mean(np.concatenate([ch.rec_curve for ch in chunks]))
        report.precision_curve = (spec.depths.copy(), pc)
        report.recall_curve = (spec.depths.copy(), rc)
        if spec.radius_curve:
            ps = np.concatenate([ch.radius_prec for ch in chunks]).sum(axis=0)
            sup = np.concatenate([ch.radius_retrieves for ch in chunks]).sum(axis=0)
            rs = np.concatenate([ch.radius_rec for ch in chunks]).sum(axis=0)
            report.pr_curve = (_safe_div(ps, sup), np.asarray(rs, np.float64) / nq)
            report.pr_axis = "hamming_radius"
            report.pr_points = np.arange(spec.n_bits + 1)
            report.pr_support = np.asarray(sup, np.int64)
        else:
            report.pr_curve = (pc, rc)
            report.pr_axis = "depth"
            report.pr_points = spec.depths.copy()
            report.pr_support = np.full(len(spec.depths), nq, np.int64)
    return report


def evaluate_method(
    method: Any, features: Any, split: Any, part: str = "query", dataset: Any = None, **kw: Any
) -> dict[str, RetrievalReport]:
    """Evaluate a fitted method in both directions.

    ``i2t``: image queries ``method.encode("image", F.image[q], "query")`` against the text
    database ``method.encode("text", F.text[db], "database")``; ``t2i`` the reverse.
    ``part="query"``: q = ``split.query``, db = ``split.retrieval``; ``part="val"``:
    q = ``split.val``, db = ``split.fit`` (model selection). Methods that read raw items
    (``method.encode_dataset(modality, dataset, indices, role)``) are encoded from ``dataset``
    when it is given (``capabilities.input == "raw"``). ``kw`` goes to :func:`evaluate`.
    """
    parts = {"query": ("query", "retrieval"), "val": ("val", "fit")}
    if part not in parts:
        raise DataError(f"evaluate_method part={part!r}; expected one of {sorted(parts)}")
    qname, dbname = parts[part]
    q = np.asarray(getattr(split, qname), dtype=np.int64)
    db = np.asarray(getattr(split, dbname), dtype=np.int64)
    n = len(features)
    for name, idx in ((qname, q), (dbname, db)):
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise DataError(f"split part {name} indexes outside the feature set's {n} rows")
    def encode(modality: str, idx: np.ndarray, role: str) -> Encoded:
        return method.encode_dataset_rows(modality, idx, role, features=features, dataset=dataset)

    labels = features.labels
    out: dict[str, RetrievalReport] = {}
    for direction, (qmod, dbmod) in {"i2t": ("image", "text"), "t2i": ("text", "image")}.items():
        out[direction] = evaluate(encode(qmod, q, "query"), encode(dbmod, db, "database"), labels[q], labels[db], **kw)
    return out
