"""Inverted-file (IVF) searcher over product-quantised codes: approximate candidates, exact ADC.

Build (first non-empty ``add``): every code is decoded to its reconstruction
``x_hat = [C_0[x_0], ..., C_{M-1}[x_{M-1}]]`` (float32 ``[n, M * d]``); a coarse k-means with
``nlist`` centroids ``c_1..c_L`` is trained on a sample of ``train_sample`` reconstructions and
every item goes to one list:

* metric ``l2``: ``list(x) = argmin_l ||x_hat - c_l||^2`` (plain k-means);
* metric ``ip``: spherical k-means (unit centroids) and ``list(x) = argmax_l <x_hat, c_l>``.

Codes are kept grouped per list (one contiguous uint8 ``[n, M]`` array ordered by list, rows
increasing inside a list) with their row numbers; later ``add`` calls append to the existing
lists without retraining (the grouped array is rebuilt lazily before the next search).

Search, per query ``q``: the ``nprobe`` lists with the best coarse score (l2: smallest
``||q - c_l||``, ip: largest ``<q, c_l>``; ties by list number) form the candidate set; their
codes are ADC-scanned (:func:`distilhash.index.pq.lookup_tables`, then the native C kernel or
:func:`~distilhash.index.pq.adc_distances`) and the top-k is taken by (distance, row). Distances
are the exact ADC distances of :mod:`distilhash.index.pq` (bit-identical); only the candidate
set is approximate, and with ``nprobe >= nlist`` the results equal the exhaustive searchers'.

Persistence: an index binds the searcher to a state file beside it (:meth:`IVFPQSearcher.bind_state`,
format in :mod:`distilhash.index.ivf_state`); the first ``add`` then reuses the stored centroids when
they were made for the same codebooks, metric and options, and the stored lists for the prefix of
rows whose codes are unchanged (sha256), assigns only the rest, and rewrites the file when it had
to compute much. A damaged file is reported (a ``RuntimeWarning`` and ``stats["state"]``) and rebuilt.

When the probed lists hold fewer than ``k`` live (not deleted) items, the probe is widened to the
next lists in coarse order until ``k`` live candidates are found or every list is probed, so a
query returns ``min(k, live items)`` results like the exact searchers.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import ConfigError
from distilhash.index.ivf_state import STATE_FILE, IVFState, codes_digest, read_state, write_state
from distilhash.index.pq import PERSISTENT_SEARCHERS, PQ_SEARCHERS, Result, adc_distances, lookup_tables
from distilhash.index.topk import Tombstones, topk_float

__all__ = ["IVFPQSearcher", "reconstruct", "default_nlist"]

_TAIL_ROWS = 4096  # rows added since the main grouping kept apart (at least; 1/64 of the rows at scale)

_OPTIONS = ("nlist", "nprobe", "train_sample", "seed", "niter")


def reconstruct(codes: np.ndarray, codebooks: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """float32 ``[n, M * d]``: ``codebooks[m][codes[:, m]]`` concatenated over m."""
    m, _, d = codebooks.shape
    out = np.empty((codes.shape[0], m * d), np.float32)
    for s in range(0, codes.shape[0], chunk):
        c = codes[s : s + chunk]
        for j in range(m):
            out[s : s + len(c), j * d : (j + 1) * d] = codebooks[j][c[:, j]]
    return out


def default_nlist(n: int) -> int:
    """``round(sqrt(n))``, at least 1 and at most ``n`` (1,000 lists at 1M items).

    ``4 sqrt(n)`` (4,000 at 1M) cost 145 s to build on one loaded core (k-means on 200k samples +
    assigning 1M items against 4,000 centroids of width 256) against 23 s for 1,000 lists, and
    1,000 lists with ``nprobe`` 32 reached recall@10 0.90 at 0.8 ms/query (bench/results/index_ivf/index_ivf.md).
    """
    return max(1, min(n, int(round(math.sqrt(max(n, 1))))))


#: largest value of an integer option (faiss and the C kernels take 32-bit signed ints)
_INT_MAX = 2**31 - 1


def _bounded_int(name: str, value: Any, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= int(value) <= _INT_MAX:
        shown = str(value)[:40] if isinstance(value, (int, float, str)) else type(value).__name__
        raise ConfigError(f"ivf searcher option {name!r} must be an integer from {low} to {_INT_MAX:,}"
                          f"{' or None' if allow_none else ''}, got {shown}")
    return int(value)


def _positive_int(name: str, value: Any, allow_none: bool = False) -> int | None:
    return _bounded_int(name, value, 1, allow_none)


#: rows assigned at open beyond which the state file is rewritten
_RESAVE_ROWS = 4096


PERSISTENT_SEARCHERS["ivf"] = STATE_FILE


@PQ_SEARCHERS.register("ivf")
class IVFPQSearcher:
    """IVF searcher for PQ codes (module docstring).

    Args:
        codebooks: float32 ``[M, K, d]``; metric: ``l2`` or ``ip``.
        nlist: number of lists; ``None`` = :func:`default_nlist` of the first non-empty add
            (clamped to the number of items trained on; ``stats["nlist"]`` holds the value used).
        nprobe: lists scanned per query (default 32).
        train_sample: reconstructions the k-means is trained on (default ``min(n, max(50_000,
            64 * nlist))``, capped at 200,000); seed: sampling and k-means seed; niter: k-means
            iterations (default 10).
    """

    name = "ivf"
    concurrent_search = False  # not checked for concurrent queries: one at a time

    def __init__(self, codebooks: np.ndarray, metric: str = "l2", **options: Any) -> None:
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigError(f"unknown ivf searcher option(s) {unknown}; valid: {list(_OPTIONS)}")
        if metric not in ("l2", "ip"):
            raise ConfigError(f"ivf searcher metric {metric!r}; expected 'l2' or 'ip'")
        self.codebooks = np.ascontiguousarray(codebooks, dtype=np.float32)
        self.metric = metric
        self.nlist = _positive_int("nlist", options.get("nlist"), allow_none=True)
        self.nprobe = _positive_int("nprobe", options.get("nprobe", 32))
        self.train_sample = _positive_int("train_sample", options.get("train_sample"), allow_none=True)
        self.seed = int(_bounded_int("seed", options.get("seed", 0), 0))  # type: ignore[arg-type]
        self.niter = _positive_int("niter", options.get("niter", 10))
        m = self.codebooks.shape[0]
        self.centroids: np.ndarray | None = None  # float32 [L, M * d]
        self._assign = np.empty(0, np.int32)  # list of every row, [n]
        self._codes = np.empty((0, m), np.uint8)  # row order, [n, M]
        self._grouped: np.ndarray | None = None  # codes ordered by list, [n, M]
        self._rows: np.ndarray | None = None  # row of each grouped code, int64 [n]
        self._offsets: np.ndarray | None = None  # int64 [L + 1]
        self._grouped_n = 0  # rows [0, _grouped_n) are in the main grouping; later ones in the tail
        self._tail: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (codes, rows, offsets) of the rest, by list
        self._flushed_n = 0  # rows the groupings cover
        self._bufs: dict[str, np.ndarray] = {}  # growable storage behind _codes and _assign
        self.stats: dict[str, Any] = {"nlist": None, "trained_on": 0, "train_s": 0.0, "assign_s": 0.0, "widened": 0, "queries": 0,
                                      "state": None, "reused_rows": 0}
        self._state_path: Path | None = None
        try:
            from distilhash.index import native

            native.load()
            self._native = native
        except (ImportError, OSError):  # pragma: no cover - no compiler
            self._native = None

    # -- build --------------------------------------------------------------------------------
    def _train(self, codes: np.ndarray) -> None:
        import time

        import faiss

        t0 = time.perf_counter()
        n = codes.shape[0]
        nlist = min(self.nlist, n) if self.nlist is not None else default_nlist(n)
        sample = self.train_sample or min(200_000, max(50_000, 64 * nlist))
        sample = max(nlist, min(n, sample))
        rng = np.random.default_rng(self.seed)
        pick = np.sort(rng.choice(n, sample, replace=False)) if sample < n else np.arange(n)
        x = reconstruct(codes[pick], self.codebooks)
        km = faiss.Kmeans(x.shape[1], nlist, niter=self.niter, seed=self.seed, spherical=self.metric == "ip",
                          verbose=False, min_points_per_centroid=1, max_points_per_centroid=max(256, sample // nlist + 1))
        km.train(x)
        self.centroids = np.ascontiguousarray(km.centroids, dtype=np.float32)
        self.stats.update(nlist=nlist, trained_on=int(sample), train_s=round(time.perf_counter() - t0, 3))

    def _coarse_scores(self, x: np.ndarray) -> np.ndarray:
        """float32 ``[n, L]``, lower = better list: l2 ``||c||^2 - 2 <x, c>``, ip ``-<x, c>``."""
        ip = x @ self.centroids.T
        if self.metric == "ip":
            return -ip
        return (self.centroids * self.centroids).sum(1)[None, :] - 2 * ip

    def _assign_lists(self, codes: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
        out = np.empty(codes.shape[0], np.int32)
        for s in range(0, codes.shape[0], chunk):
            out[s : s + chunk] = self._coarse_scores(reconstruct(codes[s : s + chunk], self.codebooks)).argmin(1)
        return out

    def bind_state(self, path: str | Path) -> None:
        """Keep the coarse centroids and lists in ``path`` (read and written by the first ``add``)."""
        self._state_path = Path(path)

    def _state_key(self) -> dict[str, Any]:
        return {"format": 1, "metric": self.metric, "nlist": self.nlist, "train_sample": self.train_sample,
                "seed": self.seed, "niter": self.niter, "codebooks_shape": list(self.codebooks.shape),
                "codebooks_sha256": hashlib.sha256(self.codebooks.tobytes()).hexdigest()}

    def _first_add_with_state(self, codes: np.ndarray) -> int:
        """Load what the state file still holds for ``codes``; returns how many rows are assigned."""
        state, status = read_state(self._state_path, self._state_key())
        self.stats["state"] = status
        if status.startswith("damaged"):
            warnings.warn(f"{self._state_path}: {status}; rebuilding the IVF lists", RuntimeWarning, stacklevel=3)
        if state is None:
            self._train(codes)
            return 0
        self.centroids = state.centroids
        self.stats.update(nlist=int(state.centroids.shape[0]), trained_on=0, train_s=0.0)
        na = state.assign.shape[0]
        if na <= codes.shape[0] and codes_digest(codes[:na]) == state.codes_sha256:
            self._assign = state.assign
            self.stats["reused_rows"] = int(na)
            return na
        self.stats["state"] = "loaded centroids; stored rows changed, lists reassigned"
        return 0

    def _save_state(self) -> None:
        try:
            write_state(self._state_path, IVFState(self._state_key(), self.centroids, self._assign, codes_digest(self._codes)))
        except OSError as exc:  # a read-only directory: the lists still work, they are just not kept
            self.stats["state"] = f"{self.stats['state']}; not saved ({exc})"

    def add(self, codes: np.ndarray) -> None:
        """Train on the first non-empty batch (or load the bound state), then assign every code to
        its list (no retraining)."""
        import time

        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.shape[0] == 0:
            return
        first = self.centroids is None
        done = 0
        if first and self._state_path is not None:
            done = self._first_add_with_state(codes)
        elif first:
            self._train(codes)
        t0 = time.perf_counter()
        self._assign = self._append("assign", self._assign[: done or len(self._assign)], self._assign_lists(codes[done:]))
        self._codes = self._append("codes", self._codes, codes)
        if first:
            self._grouped = None  # the first grouping sorts every row
        self.stats["assign_s"] = round(self.stats["assign_s"] + time.perf_counter() - t0, 3)
        if first and self._state_path is not None and (self.stats["state"] != "loaded" or codes.shape[0] - done >= _RESAVE_ROWS):
            self._save_state()

    def _append(self, name: str, current: np.ndarray, new: np.ndarray) -> np.ndarray:
        """``current`` + ``new`` rows, in a buffer that doubles when full (an add copies its own rows,
        not all 1M before them); returns the view of the filled rows."""
        buf, n, m = self._bufs.get(name), current.shape[0], current.shape[0] + new.shape[0]
        if buf is None or current.base is not buf or buf.shape[0] < m:
            grown = np.empty((max(m, 2 * n, 1024),) + new.shape[1:], new.dtype)
            grown[:n] = current
            self._bufs[name] = buf = grown
        buf[n:m] = new
        return buf[:m]

    def _flush(self) -> None:
        """Bring the per-list groupings up to date after adds. Rows added since the main grouping
        form a small *tail* grouping (re-sorted alone, cheap); once the tail passes 1/64 of the rows
        (at least 4,096) it is merged into the main one by ``np.insert`` at the list ends (new rows
        are larger than every grouped row, so rows stay increasing inside a list). Neither re-sorts
        the 1M main rows, which held searches for ~0.1-1 s after every add."""
        n = int(self._codes.shape[0])
        if self._grouped is not None and self._flushed_n == n:
            return
        nlist = 0 if self.centroids is None else self.centroids.shape[0]
        if self._grouped is None or self._grouped_n == 0:
            self._grouped, self._rows, self._offsets = self._group(np.arange(n, dtype=np.int64), nlist)
            self._grouped_n, self._tail = n, None
        elif n - self._grouped_n > max(_TAIL_ROWS, n // 64):
            codes, new, off = self._group(np.arange(self._grouped_n, n, dtype=np.int64), nlist)
            at = np.repeat(self._offsets[1:], np.diff(off))  # the end of each new row's list
            self._grouped = np.insert(self._grouped, at, codes, axis=0)
            self._rows = np.insert(self._rows, at, new)
            self._offsets = self._offsets + off
            self._grouped_n, self._tail = n, None
        else:
            self._tail = self._group(np.arange(self._grouped_n, n, dtype=np.int64), nlist)
        self._flushed_n = n

    def _group(self, rows: np.ndarray, nlist: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(codes, rows, offsets ``[L + 1]``) of ``rows`` ordered by list, rows increasing inside a list."""
        lists = self._assign[rows]
        order = np.argsort(lists, kind="stable")
        offsets = np.zeros(nlist + 1, np.int64)
        np.cumsum(np.bincount(lists, minlength=nlist), out=offsets[1:])
        return np.ascontiguousarray(self._codes[rows[order]]), rows[order], offsets

    def _segments(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The groupings to scan: the main one and the tail (when rows were added since the last merge)."""
        return [(self._grouped, self._rows, self._offsets)] + ([self._tail] if self._tail is not None else [])

    @property
    def ntotal(self) -> int:
        return int(self._codes.shape[0])

    def nbytes(self) -> int:
        self._flush()
        return int(self._codes.nbytes + sum(c.nbytes + r.nbytes for c, r, _ in self._segments()) + self._assign.nbytes
                   + (0 if self.centroids is None else self.centroids.nbytes))

    def codes(self) -> np.ndarray:
        self._flush()
        return self._codes

    def list_sizes(self) -> np.ndarray:
        """int64 ``[L]``: items per list."""
        self._flush()
        return sum(np.diff(off) for _, _, off in self._segments())

    # -- search -------------------------------------------------------------------------------
    def _probe_order(self, scores: np.ndarray, nprobe: int) -> np.ndarray:
        """The ``nprobe`` best lists of one query, best first (ties by list number)."""
        if nprobe < scores.shape[0]:
            part = np.argpartition(scores, nprobe - 1)[:nprobe]
        else:
            part = np.arange(scores.shape[0])
        return part[np.lexsort((part, scores[part]))]

    def _scan(self, table: np.ndarray, lists: np.ndarray, k: int, dead: Tombstones) -> tuple[np.ndarray, np.ndarray, int]:
        """Top-k by (distance, row) among the live codes of ``lists``; also the number of live candidates.

        The live candidates are gathered into one block and scanned by the row-aware range kernel
        (ties settled by row in one pass, as in :meth:`_search_batch`), or in numpy without it.
        """
        spans = [(g[a:b], r[a:b]) for g, r, off in self._segments() for a, b in zip(off[lists].tolist(), off[lists + 1].tolist()) if b > a]
        if not spans:
            return np.empty(0, np.float32), np.empty(0, np.int64), 0
        if len(spans) == 1:
            codes, rows = spans[0]
        else:
            codes, rows = np.concatenate([c for c, _ in spans]), np.concatenate([r for _, r in spans])
        if len(dead):
            alive = ~dead.mask[rows]
            codes, rows = codes[alive], rows[alive]
        live = int(rows.shape[0])
        if live == 0:
            return np.empty(0, np.float32), np.empty(0, np.int64), 0
        if self._native is None:
            d = adc_distances(table, codes, self.metric)
            dd, rr = topk_float(d, rows, k)
            return dd, rr, live
        span = np.array([[0]], np.int64), np.array([[live]], np.int64)
        d, r, cnt = self._native.pq_adc_knn_ranges(codes, table[None], *span, k, self.metric == "ip", rows=rows)
        return d[0, : cnt[0]].copy(), r[0, : cnt[0]].copy(), live

    def search(self, queries: np.ndarray, k: int, dead: Tombstones) -> Result:
        self._flush()
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self._codes.shape[0] == 0:
            return [(np.empty(0, np.float32), np.empty(0, np.int64)) for _ in range(len(queries))]
        tables = lookup_tables(queries, self.codebooks, self.metric)
        scores = self._coarse_scores(queries)
        nlist = self.centroids.shape[0]
        nprobe = min(self.nprobe, nlist)
        if self._native is not None and nprobe < nlist:
            return self._search_batch(tables, scores, k, nprobe, dead)
        return [self._search_one(tables[i], scores[i], k, nprobe, dead) for i in range(len(queries))]

    def _search_batch(self, tables: np.ndarray, scores: np.ndarray, k: int, nprobe: int, dead: Tombstones) -> Result:
        """The whole batch's scans in one C call (interpreter lock released). The kernel keeps
        (distance, row) pairs, so ties at the k-th distance (duplicate codes are common) are settled
        in the same pass; a query with fewer than k live candidates goes through :meth:`_search_one` (widening).

        Deleted rows: the kernel is asked for ``k`` + the most deleted rows any query of the batch
        has in its probed lists, and each query drops its deleted rows: what is left starts with
        its exact top-k live items (each deleted row displaces at most one live row)."""
        part = np.argpartition(scores, nprobe - 1, axis=1)[:, :nprobe]
        segments = self._segments()
        dead_in = np.zeros(len(tables), np.int64)
        if len(dead):
            per_list = np.bincount(self._assign[dead.rows], minlength=self._offsets.shape[0] - 1)
            dead_in = per_list[part].sum(axis=1)
        live = sum((off[part + 1] - off[part]).sum(axis=1) for _, _, off in segments) - dead_in
        out: list = [None] * len(tables)
        for i in np.flatnonzero(live < k):
            out[i] = self._search_one(tables[i], scores[i], k, nprobe, dead)
        todo = np.flatnonzero(live >= k)
        if todo.size:
            kk = k + int(dead_in[todo].max())
            found = [self._native.pq_adc_knn_ranges(g, tables[todo], off[part[todo]], off[part[todo] + 1], kk,
                                                    self.metric == "ip", rows=rows) for g, rows, off in segments]
            mask = dead.mask if len(dead) else None
            for j, i in enumerate(todo.tolist()):
                dj, rj = found[0][0][j, : int(found[0][2][j])], found[0][1][j, : int(found[0][2][j])]
                if len(found) > 1:  # main + tail: merge the two top lists by (distance, row)
                    d2, r2, c2 = found[1]
                    dj, rj = np.concatenate([dj, d2[j, : int(c2[j])]]), np.concatenate([rj, r2[j, : int(c2[j])]])
                    order = np.lexsort((rj, dj))[:kk]
                    dj, rj = dj[order], rj[order]
                if mask is not None:
                    keep = ~mask[rj]
                    dj, rj = dj[keep], rj[keep]
                out[i] = (dj[:k].copy(), rj[:k].copy())
            self.stats["queries"] += int(todo.size)
        return out

    def _search_one(self, table: np.ndarray, scores: np.ndarray, k: int, nprobe: int, dead: Tombstones):
        """One query (table ``[M, K]``, coarse scores ``[nlist]``): probe, scan, widen when fewer than k live candidates."""
        nlist = self.centroids.shape[0]
        n_dead = len(dead)
        self.stats["queries"] += 1
        lists = self._probe_order(scores, nprobe)
        d, r, live = self._scan(table, lists, k, dead)
        if live < k and nprobe < nlist and self._codes.shape[0] - n_dead > live:
            # widen: probe lists in coarse order until k live candidates (or all lists)
            self.stats["widened"] += 1
            full = self._probe_order(scores, nlist)
            sizes = sum(np.diff(off) for _, _, off in self._segments())[full]
            need = np.searchsorted(np.cumsum(sizes), k + n_dead) + 1
            lists = full[: max(nprobe, min(nlist, int(need)))]
            d, r, live = self._scan(table, lists, k, dead)
            if live < k and lists.shape[0] < nlist:
                d, r, live = self._scan(table, full, k, dead)
        return d, r
