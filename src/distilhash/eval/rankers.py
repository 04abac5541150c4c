"""Rankers: distances between encoded queries and an encoded database, and stable rankings.

Every distance is LOWER = closer:

=================  ==================  ===============================================================
query kind         database kind       distance ``d(q, x)``
=================  ==================  ===============================================================
``binary``         ``binary``          Hamming distance ``popcount(q XOR x)`` (integer, 0..L)
``float``          ``float``           ``1 - cos(q, x)`` (float32)
``float``          ``pq``              ADC, metric ``l2``: ``sum_m ||q_m - C_m[x_m]||^2``;
                                       metric ``ip``: ``-sum_m <q_m, C_m[x_m]>`` (float32)
``pq``             ``pq``              the query's codes are decoded to ``C_m[q_m]`` first, then ADC
=================  ==================  ===============================================================

The scorer for a pair of kinds is looked up in :data:`SCORERS` (a registry named
``"<query kind>:<database kind>"``); a new code kind adds a scorer, not an ``if``.

Large inputs are scored in chunks of queries (:func:`iter_distances`) so that no ``[nq, nd]``
matrix is ever built for 5,000 x 190,000 inputs: a chunk holds at most ``chunk_bytes`` of
distances (default 256 MiB). Rankings are stable: ties are ordered by database index.

Example:
    >>> import numpy as np
    >>> from distilhash.codes import Encoded, pack_bits
    >>> db = Encoded("binary", pack_bits(np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]])), 4)
    >>> q = Encoded("binary", pack_bits(np.array([[1, 1, 0, 0]])), 4)
    >>> distances(q, db).tolist()
    [[0, 2, 0]]
    >>> rank(q, db).tolist()
    [[0, 2, 1]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import FeatureError
from distilhash.registry import Registry

__all__ = [
    "SCORERS",
    "DEFAULT_CHUNK_BYTES",
    "distances",
    "iter_distances",
    "query_chunk_size",
    "rank",
    "stable_topk",
    "hamming",
]

#: Upper bound on the bytes of one chunk of distances (and proportional temporaries).
DEFAULT_CHUNK_BYTES = 256 * 2**20

Scorer = Callable[[Encoded, Encoded], "PreparedScorer"]


class PreparedScorer:
    """A scorer with the database side prepared once; ``__call__(lo, hi)`` scores queries lo:hi.

    Attributes:
        n_query, n_database: sizes.
        bytes_per_distance: bytes of working memory per (query, item) pair (for chunk sizing).
    """

    def __init__(self, fn: Callable[[int, int], np.ndarray], n_query: int, n_database: int, bytes_per_distance: int) -> None:
        self._fn = fn
        self.n_query = n_query
        self.n_database = n_database
        self.bytes_per_distance = bytes_per_distance

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        return self._fn(lo, hi)


SCORERS: Registry[PreparedScorer] = Registry("scorer")


# --------------------------------------------------------------------------------------------
# binary: Hamming distance
# --------------------------------------------------------------------------------------------

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Number of set bits of each element (uint8 result)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    if x.dtype == np.uint8:
        return _POPCOUNT8[x]
    as_bytes = x[..., None].view(np.uint8)  # pragma: no cover - numpy < 2 only
    return _POPCOUNT8[as_bytes].sum(axis=-1, dtype=np.uint8)  # pragma: no cover


def _binary_words(codes: Encoded) -> np.ndarray:
    """Packed codes as uint64 words ``[N, W]`` (padding bits beyond ``n_bits`` cleared)."""
    data = np.ascontiguousarray(codes.data[:, : (codes.n_bits + 7) // 8])
    if codes.n_bits % 8:
        data = data.copy()
        data[:, -1] &= np.uint8((0xFF << (8 - codes.n_bits % 8)) & 0xFF)
    pad = (-data.shape[1]) % 8
    if pad:
        data = np.concatenate([data, np.zeros((data.shape[0], pad), np.uint8)], axis=1)
    return np.ascontiguousarray(data).view(np.uint64)


def hamming(query_words: np.ndarray, database_words: np.ndarray) -> np.ndarray:
    """Hamming distances uint16 ``[nq, nd]`` between uint64 word arrays ``[nq, W]`` and ``[nd, W]``."""
    out = np.zeros((query_words.shape[0], database_words.shape[0]), dtype=np.uint16)
    for w in range(query_words.shape[1]):
        out += _popcount(query_words[:, w, None] ^ database_words[None, :, w])
    return out


@SCORERS.register("binary:binary")
def _binary_scorer(query: Encoded, database: Encoded) -> PreparedScorer:
    if query.n_bits != database.n_bits:
        raise FeatureError(f"binary query codes have {query.n_bits} bits but the database has {database.n_bits}")
    qw, dw = _binary_words(query), _binary_words(database)
    # out uint16 + one uint64 XOR temp + uint8 popcount
    return PreparedScorer(lambda lo, hi: hamming(qw[lo:hi], dw), len(query), len(database), 2 + 8 + 1)


# --------------------------------------------------------------------------------------------
# float: 1 - cosine
# --------------------------------------------------------------------------------------------


def _unit_rows(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise FeatureError(f"{what} embeddings contain NaN or inf")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0).astype(np.float32)


@SCORERS.register("float:float")
def _float_scorer(query: Encoded, database: Encoded) -> PreparedScorer:
    if query.data.shape[1] != database.data.shape[1]:
        raise FeatureError(
            f"float query embeddings have width {query.data.shape[1]} but the database has {database.data.shape[1]}"
        )
    q, x = _unit_rows(query.data, "query"), _unit_rows(database.data, "database")
    xt = x.T  # a transposed view: BLAS reads it without a copy

    def score(lo: int, hi: int) -> np.ndarray:
        d = q[lo:hi] @ xt
        np.subtract(np.float32(1.0), d, out=d)
        return d

    return PreparedScorer(score, len(query), len(database), 4)


# --------------------------------------------------------------------------------------------
# pq: asymmetric distance with per-query lookup tables
# --------------------------------------------------------------------------------------------


def adc_tables(query: np.ndarray, codebooks: np.ndarray, metric: str) -> np.ndarray:
    """Per-query lookup tables float32 ``[nq, M, K]``.

    ``l2``: ``T[i, m, k] = ||q_im - C_mk||^2``; ``ip``: ``T[i, m, k] = -<q_im, C_mk>``.
    The ADC distance to an item with codes ``x`` is ``sum_m T[i, m, x_m]``.
    """
    m, k, d = codebooks.shape
    if query.shape[1] != m * d:
        raise FeatureError(f"pq query width {query.shape[1]} != M*d = {m}*{d} of the codebooks")
    qs = np.asarray(query, dtype=np.float32).reshape(len(query), m, d)
    cb = np.asarray(codebooks, dtype=np.float32)
    ip = np.einsum("nmd,mkd->nmk", qs, cb)
    if metric == "ip":
        return -ip
    q2 = np.einsum("nmd,nmd->nm", qs, qs)[:, :, None]
    c2 = np.einsum("mkd,mkd->mk", cb, cb)[None]
    return np.maximum(q2 - 2 * ip + c2, 0.0, dtype=np.float32)


def _adc(tables: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``D[i, j] = sum_m tables[i, m, codes[j, m]]`` float32 ``[nq, nd]``."""
    out = np.zeros((tables.shape[0], codes.shape[0]), dtype=np.float32)
    for m in range(codes.shape[1]):
        out += tables[:, m, :][:, codes[:, m]]
    return out


def _pq_scorer_for(queries: np.ndarray, database: Encoded, n_query: int) -> PreparedScorer:
    cb = database.codebooks
    assert cb is not None
    if database.data.size and int(database.data.max()) >= cb.shape[1]:
        raise FeatureError(f"pq database codes reach {int(database.data.max())} but codebooks have K={cb.shape[1]} codewords")
    codes = np.ascontiguousarray(database.data.astype(np.intp))
    metric = database.metric

    def score(lo: int, hi: int) -> np.ndarray:
        return _adc(adc_tables(queries[lo:hi], cb, metric), codes)

    adc_tables(queries[:0], cb, metric)  # validates the width early
    return PreparedScorer(score, n_query, len(database), 8)


@SCORERS.register("float:pq")
def _float_pq_scorer(query: Encoded, database: Encoded) -> PreparedScorer:
    if not np.isfinite(query.data).all():
        raise FeatureError("pq query embeddings contain NaN or inf")
    return _pq_scorer_for(np.asarray(query.data, np.float32), database, len(query))


@SCORERS.register("pq:pq")
def _pq_pq_scorer(query: Encoded, database: Encoded) -> PreparedScorer:
    qcb = query.codebooks
    assert qcb is not None
    if database.codebooks is None or qcb.shape != database.codebooks.shape or not np.array_equal(qcb, database.codebooks):
        raise FeatureError("pq query and database codes use different codebooks")
    m = qcb.shape[0]
    decoded = qcb[np.arange(m)[None, :], query.data.astype(np.intp)].reshape(len(query), -1)
    return _pq_scorer_for(decoded.astype(np.float32), database, len(query))


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def prepare(query: Encoded, database: Encoded) -> PreparedScorer:
    """The scorer of ``query`` against ``database`` (raises FeatureError for unsupported kinds)."""
    name = f"{query.kind}:{database.kind}"
    if name not in SCORERS.names():
        raise FeatureError(
            f"cannot rank {query.kind} queries against a {database.kind} database; "
            f"supported (query:database): {', '.join(SCORERS.names())}"
        )
    return SCORERS.create(name, query, database)


def query_chunk_size(n_database: int, bytes_per_pair: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Queries per chunk so that ``chunk * n_database * bytes_per_pair <= chunk_bytes`` (at least 1)."""
    return max(1, int(chunk_bytes // max(1, n_database * bytes_per_pair)))


def iter_distances(
    query: Encoded, database: Encoded, chunk_size: int | None = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(lo, hi, D)`` with ``D = distances(query[lo:hi], database)`` chunk by chunk.

    ``D`` is uint16 (binary) or float32 (float, pq), ``[hi - lo, nd]``.
    """
    scorer = prepare(query, database)
    step = chunk_size or query_chunk_size(scorer.n_database, scorer.bytes_per_distance, chunk_bytes)
    for lo in range(0, scorer.n_query, step):
        hi = min(lo + step, scorer.n_query)
        yield lo, hi, scorer(lo, hi)


def distances(query: Encoded, database: Encoded) -> np.ndarray:
    """All distances ``[nq, nd]`` (LOWER = closer): int32 Hamming for binary, float32 otherwise.

    Builds the whole matrix: for large inputs use :func:`iter_distances` or :func:`rank`.
    """
    parts = [d for _, _, d in iter_distances(query, database)]
    if not parts:
        return np.zeros((0, len(database)), query.kind.distance_dtype)
    out = np.concatenate(parts, axis=0)
    return out.astype(np.int32) if out.dtype == np.uint16 else out


def stable_topk(dist: np.ndarray, k: int) -> np.ndarray:
    """Indices int64 ``[n, k]`` of the ``k`` smallest entries of each row, ordered by (value, index).

    Exact under ties: the items kept at a tied boundary are those with the smallest indices.
    """
    n, nd = dist.shape
    k = min(k, nd)
    if np.issubdtype(dist.dtype, np.floating) and np.isnan(dist).any():
        raise FeatureError("distances contain NaN; cannot rank")
    if k == 0:
        return np.zeros((n, 0), np.int64)
    if 4 * k >= nd:
        return np.argsort(dist, axis=1, kind="stable")[:, :k].astype(np.int64)
    thresh = np.partition(dist, k - 1, axis=1)[:, k - 1 : k]
    less = dist < thresh
    n_less = less.sum(axis=1, keepdims=True)
    equal = dist == thresh
    keep = less | (equal & (np.cumsum(equal, axis=1) <= k - n_less))
    cols = np.nonzero(keep)[1].reshape(n, k)  # row-major: index order within each row
    order = np.argsort(np.take_along_axis(dist, cols, axis=1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, axis=1).astype(np.int64)


def rank(
    query: Encoded, database: Encoded, k: int | None = None, chunk_size: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> np.ndarray:
    """Database indices int64 ``[nq, k]`` (``k=None``: all ``nd``), ordered by (distance, index)."""
    nd = len(database)
    kk = nd if k is None else min(int(k), nd)
    if kk < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    out = np.empty((len(query), kk), dtype=np.int64)
    for lo, hi, d in iter_distances(query, database, chunk_size, chunk_bytes):
        out[lo:hi] = stable_topk(d, kk)
    return out
