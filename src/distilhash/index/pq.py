"""Asymmetric-distance (ADC) search over product-quantised codes.

Database items are codeword indices uint8 ``[n, M]``; codebooks are float32 ``[M, K, d]``;
queries stay continuous float32 ``[nq, M * d]``. Per query a lookup table
``T[m, c]`` (float32 ``[M, K]``) is computed once, then each item costs M table reads:

* metric ``l2``: ``T[m, c] = ||q_m - C_m[c]||^2`` and ``dist(q, x) = sum_m T[m, x_m]``;
* metric ``ip``: ``T[m, c] = <q_m, C_m[c]>`` and ``dist(q, x) = -sum_m T[m, x_m]``
  (lower is closer everywhere, as in :mod:`distilhash.eval.rankers`).

The sum is accumulated in float32 in the order m = 0..M-1 (the order FAISS uses), and both
searchers report distances computed by :func:`adc_distances`, so their results are identical:
the FAISS searcher asks FAISS for a few extra candidates, re-scores them with that function and
re-sorts by (distance, row); a query whose boundary is too close to call falls back to the
exact scan.
"""

from __future__ import annotations

import numpy as np

from distilhash.errors import FeatureError
from distilhash.index.pqcodes import pack_nibbles
from distilhash.index.topk import Tombstones, topk_float
from distilhash.registry import Registry

__all__ = ["PERSISTENT_SEARCHERS", "lookup_tables", "adc_distances", "NumpyPQSearcher", "NativePQSearcher", "FaissPQSearcher", "PQ_SEARCHERS"]

#: name -> factory(codebooks, metric, **options) of a PQ searcher. Searchers in their own module
#: register there and are declared here by module (imported when first asked for).
PQ_SEARCHERS: Registry = Registry("pq searcher", modules={"ivf": "distilhash.index.ivf"})
#: searchers that keep built state beside the index: name -> file name. The index calls
#: ``searcher.bind_state(directory / file)`` before the first ``add``.
PERSISTENT_SEARCHERS: dict[str, str] = {}

Result = list[tuple[np.ndarray, np.ndarray]]


def lookup_tables(queries: np.ndarray, codebooks: np.ndarray, metric: str) -> np.ndarray:
    """Per-query tables float32 ``[nq, M, K]`` (see module docstring).

    One batched matrix product per call (``G[m] = Q_m C_m^T``, ``[M, nq, K]``): ``ip`` is ``G``;
    ``l2`` is ``||q_m||^2 - 2 G + ||C_m[c]||^2``, clamped at 0 against rounding. Every searcher
    reads its tables here, so they agree to the bit; the broadcast-and-sum form it replaces cost
    ~90 us per query at M=8, K=256, d=32, this one ~5 us.
    """
    m, k, d = codebooks.shape
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != m * d:
        raise FeatureError(f"PQ queries must be float32 [nq, {m * d}] (M={m} x d={d}), got {q.shape}")
    if metric not in ("l2", "ip"):
        raise FeatureError(f"PQ metric {metric!r}; expected 'l2' or 'ip'")
    cb = np.asarray(codebooks, dtype=np.float32)
    qm = q.reshape(q.shape[0], m, d).transpose(1, 0, 2)  # [M, nq, d]
    gram = np.matmul(qm, cb.transpose(0, 2, 1))  # [M, nq, K]
    if metric == "l2":
        gram *= -2.0
        gram += np.einsum("mnd,mnd->mn", qm, qm)[:, :, None]
        gram += np.einsum("mkd,mkd->mk", cb, cb)[:, None, :]
        np.maximum(gram, 0.0, out=gram)
    return np.ascontiguousarray(gram.transpose(1, 0, 2))


def adc_distances(table: np.ndarray, codes: np.ndarray, metric: str) -> np.ndarray:
    """float32 ``[n]``: ``sum_m table[m, codes[:, m]]`` accumulated in order (negated for ip)."""
    acc = table[0, codes[:, 0]].astype(np.float32)
    for j in range(1, codes.shape[1]):
        acc += table[j, codes[:, j]]
    return -acc if metric == "ip" else acc


class _CodeStore:
    def __init__(self, m: int) -> None:
        self.parts: list[np.ndarray] = []
        self._all = np.empty((0, m), dtype=np.uint8)

    def add(self, codes: np.ndarray) -> None:
        self.parts.append(np.ascontiguousarray(codes, dtype=np.uint8))

    @property
    def all(self) -> np.ndarray:
        if self.parts:
            self._all = np.concatenate([self._all, *self.parts])
            self.parts = []
        return self._all


@PQ_SEARCHERS.register("numpy")
class NumpyPQSearcher:
    """Reference ADC scan in numpy, exact (distance, row) order."""

    name = "numpy"
    concurrent_search = True

    def __init__(self, codebooks: np.ndarray, metric: str = "l2", **_: object) -> None:
        self.codebooks = np.ascontiguousarray(codebooks, dtype=np.float32)
        self.metric = metric
        self._codes = _CodeStore(self.codebooks.shape[0])

    def add(self, codes: np.ndarray) -> None:
        self._codes.add(codes)

    @property
    def ntotal(self) -> int:
        return int(self._codes.all.shape[0])

    def nbytes(self) -> int:
        return int(self._codes.all.nbytes)

    def codes(self) -> np.ndarray:
        return self._codes.all

    def search(self, queries: np.ndarray, k: int, dead: Tombstones) -> Result:
        codes = self._codes.all
        rows = np.arange(codes.shape[0], dtype=np.int64)
        alive = ~dead.mask if len(dead) else None
        out = []
        for table in lookup_tables(queries, self.codebooks, self.metric):
            d = adc_distances(table, codes, self.metric)
            if alive is not None:
                out.append(topk_float(d[alive], rows[alive], k))
            else:
                out.append(topk_float(d, rows, k))
        return out


@PQ_SEARCHERS.register("faiss")
class FaissPQSearcher:
    """FAISS ``IndexPQ`` holding our codebooks (copied into its ProductQuantizer) and our codes as
    they are (``add_sa_codes``); candidates re-scored by :func:`adc_distances` (module docstring).

    Args:
        extra: candidates asked beyond ``k`` (plus one per tombstone) to absorb float rounding
            differences between FAISS's tables and ours.
    """

    name = "faiss"
    concurrent_search = True

    def __init__(self, codebooks: np.ndarray, metric: str = "l2", extra: int = 16, **_: object) -> None:
        import faiss

        self.codebooks = np.ascontiguousarray(codebooks, dtype=np.float32)
        m, k, d = self.codebooks.shape
        if k not in (16, 256):
            raise FeatureError(f"the FAISS PQ searcher needs K=16 or K=256 codewords per codebook, got K={k}")
        self.metric = metric
        self.extra = extra
        fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        self._index = faiss.IndexPQ(m * d, m, 4 if k == 16 else 8, fmetric)
        faiss.copy_array_to_vector(self.codebooks.ravel(), self._index.pq.centroids)
        self._index.is_trained = True
        self._codes = _CodeStore(m)
        self._exact = NumpyPQSearcher(self.codebooks, metric)
        self._exact._codes = self._codes  # shares the stored codes for re-scoring and fallbacks
        self.stats = {"queries": 0, "fallbacks": 0}

    def add(self, codes: np.ndarray) -> None:
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.shape[0]:  # FAISS packs 4-bit sub-codes two per byte, low nibble first
            self._index.add_sa_codes(pack_nibbles(codes) if self.codebooks.shape[1] == 16 else codes)
        self._codes.add(codes)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def nbytes(self) -> int:
        return int(self._index.sa_code_size() * self.ntotal + self.ntotal * self.codebooks.shape[0])  # FAISS's + ours

    def search(self, queries: np.ndarray, k: int, dead: Tombstones) -> Result:
        n = self.ntotal
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        kk = min(n, k + len(dead) + self.extra)
        if kk == 0:
            return [(np.empty(0, np.float32), np.empty(0, np.int64)) for _ in range(len(queries))]
        fd, fr = self._index.search(queries, kk)
        codes = self._codes.all
        tables = lookup_tables(queries, self.codebooks, self.metric)
        out = []
        for i in range(len(queries)):
            self.stats["queries"] += 1
            r = fr[i][fr[i] >= 0].astype(np.int64)
            d = adc_distances(tables[i], codes[r], self.metric)
            d, r = dead.filter(d, r)
            d, r = topk_float(d, r, k)
            if kk < n and r.size:
                # FAISS's own k-th candidate distance, in our sign convention
                last = -fd[i][kk - 1] if self.metric == "ip" else fd[i][kk - 1]
                tol = 1e-4 * max(1.0, abs(float(last)))
                if r.size < k or d[-1] >= last - tol:
                    self.stats["fallbacks"] += 1
                    d, r = self._exact.search(queries[i : i + 1], k, dead)[0]
            out.append((d, r))
        return out


@PQ_SEARCHERS.register("native")
class NativePQSearcher(NumpyPQSearcher):
    """Our C ADC scans (:mod:`distilhash.index.native`), exact (distance, row) order, deleted rows
    skipped inside the scan.

    * K = 16, and K = 256 on CPUs with AVX-512 VBMI: the quantized-table fast scan of
      :mod:`distilhash.index.fastscan` (codes kept only in its blocked layout; a short list chosen
      by an exact bound is re-scored with the float tables);
    * otherwise: a blocked float32 scan summing the M table entries in the reference order
      (bit-identical distances) with a per-query heap.

    Args:
        fastscan: ``auto`` (default; ``$DISTILHASH_FASTSCAN`` may name a kernel), ``off``, or a
            kernel name (``scalar``, ``ssse3``, ``avx2``, ``avx512``).
    """

    name = "native"

    def __init__(self, codebooks: np.ndarray, metric: str = "l2", fastscan: str = "auto", **options: object) -> None:
        from distilhash.index import native
        from distilhash.index.fastscan import FastScanCodes, choose_impl

        native.load()
        super().__init__(codebooks, metric, **options)
        m, kk, _ = self.codebooks.shape
        bits = {16: 4, 256: 8}.get(kk)
        self.fastscan = choose_impl(bits, fastscan) if bits is not None and m <= 256 else None
        self._fs = FastScanCodes(m, bits) if self.fastscan else None
        self.stats = {"queries": 0, "shortlist": 0}

    def add(self, codes: np.ndarray) -> None:
        if self._fs is None:
            super().add(codes)
        else:
            self._fs.add(codes)

    @property
    def ntotal(self) -> int:
        return super().ntotal if self._fs is None else self._fs.n

    def nbytes(self) -> int:
        return super().nbytes() if self._fs is None else self._fs.nbytes()

    def codes(self) -> np.ndarray:
        return super().codes() if self._fs is None else self._fs.codes()

    def search(self, queries: np.ndarray, k: int, dead: Tombstones) -> Result:
        from distilhash.index import native

        if self.ntotal == 0:
            return [(np.empty(0, np.float32), np.empty(0, np.int64)) for _ in range(len(queries))]
        tables = lookup_tables(queries, self.codebooks, self.metric)
        mask = dead.mask if len(dead) else None
        if self._fs is None:
            d, r, cnt = native.pq_adc_knn(self._codes.all, tables, k, self.metric == "ip", mask)
        else:
            d, r, cnt, cand = self._fs.knn(tables, k, self.metric == "ip", mask, self.fastscan)
            self.stats["queries"] += len(queries)
            self.stats["shortlist"] += int(cand.sum())
        return [(d[i, : cnt[i]].copy(), r[i, : cnt[i]].copy()) for i in range(len(queries))]
