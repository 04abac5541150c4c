"""Exact Hamming search over packed binary codes: the numpy reference and the FAISS flat scan.

Codes are packed bits uint8 ``[n, B]`` (``B = ceil(L / 8)``). Hamming distance
``d(q, x) = popcount(q XOR x)``. Results are ordered by ``(d, row)`` (stable ties), deleted rows
(:class:`~distilhash.index.topk.Tombstones`) never appear.

Every searcher returns, per query, a pair ``(dist int32 [<=k], rows int64 [<=k])``.
"""

from __future__ import annotations

import numpy as np

from distilhash.index.topk import Tombstones, topk_int
from distilhash.registry import Registry

__all__ = ["to_words", "hamming_to", "NumpyBinarySearcher", "NativeBinarySearcher", "FaissFlatSearcher", "BINARY_SEARCHERS", "best_flat"]

#: name -> factory(code_size: int, **options) of a binary searcher. Searchers in their own module
#: register there and are declared here by module (imported when first asked for).
BINARY_SEARCHERS: Registry = Registry("binary searcher", modules={"mih": "distilhash.index.mih"})

Result = list[tuple[np.ndarray, np.ndarray]]


def to_words(packed: np.ndarray) -> np.ndarray:
    """uint8 ``[n, B]`` -> uint64 ``[n, ceil(B / 8)]`` (zero padded; same Hamming distances)."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    n, b = packed.shape
    w = (b + 7) // 8
    if b != w * 8:
        padded = np.zeros((n, w * 8), dtype=np.uint8)
        padded[:, :b] = packed
        packed = padded
    return packed.view(np.uint64).reshape(n, w)


def hamming_to(words: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamming distances uint ``[n]`` from one query (uint64 ``[W]``) to ``words`` ``[n, W]``."""
    d = np.bitwise_count(words[:, 0] ^ q[0]).astype(np.int32)
    for w in range(1, words.shape[1]):
        d += np.bitwise_count(words[:, w] ^ q[w])
    return d


class _Growable:
    """An append-only 2-d array with amortised O(1) appends (capacity doubling)."""

    def __init__(self, width: int, dtype) -> None:
        self._buf = np.empty((0, width), dtype=dtype)
        self.n = 0

    def append(self, rows: np.ndarray) -> None:
        need = self.n + rows.shape[0]
        if need > self._buf.shape[0]:
            cap = max(need, int(self._buf.shape[0] * 1.5) + 1024) if self.n else need
            buf = np.empty((cap, self._buf.shape[1]), dtype=self._buf.dtype)
            buf[: self.n] = self._buf[: self.n]
            self._buf = buf
        self._buf[self.n : need] = rows
        self.n = need

    @property
    def view(self) -> np.ndarray:
        return self._buf[: self.n]


@BINARY_SEARCHERS.register("numpy")
class NumpyBinarySearcher:
    """Brute-force reference: every distance computed with numpy, exact (distance, row) order."""

    name = "numpy"
    concurrent_search = True

    def __init__(self, code_size: int, **_: object) -> None:
        self.code_size = code_size
        self._words = _Growable((code_size + 7) // 8, np.uint64)

    def add(self, packed: np.ndarray) -> None:
        self._words.append(to_words(packed))

    @property
    def ntotal(self) -> int:
        return self._words.n

    def nbytes(self) -> int:
        return int(self._words.view.nbytes)

    def search(self, queries: np.ndarray, k: int, dead: Tombstones) -> Result:
        words = self._words.view
        rows = np.arange(words.shape[0], dtype=np.int64)
        out = []
        for q in to_words(queries):
            d = hamming_to(words, q)
            r = rows
            if len(dead):
                alive = ~dead.mask
                d, r = d[alive], rows[alive]
            out.append(topk_int(d, r, k))
        return out

    def range_search(self, queries: np.ndarray, radius: int, dead: Tombstones) -> Result:
        words = self._words.view
        out = []
        for q in to_words(queries):
            d = hamming_to(words, q)
            hit = d <= radius
            if len(dead):
                hit &= ~dead.mask
            r = np.flatnonzero(hit)
            out.append(topk_int(d[r], r, r.size))
        return out


@BINARY_SEARCHERS.register("faiss-flat")
class FaissFlatSearcher:
    """FAISS ``IndexBinaryFlat`` scan.

    ``use_heap=False`` (default) selects FAISS's counting top-k (``hammings_knn_mc``), faster than
    its heap for small k on 64-bit codes; both keep ties in row order (checked by the tests
    against :class:`NumpyBinarySearcher`). Deleted rows: asks for ``k + len(dead)`` and filters,
    so the index bounds the number of tombstones by compacting.
    """

    name = "faiss-flat"
    concurrent_search = True

    def __init__(self, code_size: int, use_heap: bool = False, **_: object) -> None:
        import faiss

        self.code_size = code_size
        self._index = faiss.IndexBinaryFlat(code_size * 8)
        self._index.use_heap = bool(use_heap)

    def add(self, packed: np.ndarray) -> None:
        self._index.add(np.ascontiguousarray(packed, dtype=np.uint8))

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def nbytes(self) -> int:
        return self.ntotal * self.code_size

    def search(self, queries: np.ndarray, k: int, dead: Tombstones) -> Result:
        n = self.ntotal
        kk = min(n, k + len(dead))
        if kk == 0:
            return [(np.empty(0, np.int32), np.empty(0, np.int64)) for _ in range(len(queries))]
        dist, rows = self._index.search(np.ascontiguousarray(queries, dtype=np.uint8), kk)
        out = []
        for d, r in zip(dist, rows):
            r = r.astype(np.int64)
            valid = r >= 0
            d, r = dead.filter(d[valid], r[valid])
            out.append((d[:k].astype(np.int32), r[:k]))
        return out

    def range_search(self, queries: np.ndarray, radius: int, dead: Tombstones) -> Result:
        # FAISS keeps distances strictly below the radius it is given.
        lims, dist, rows = self._index.range_search(np.ascontiguousarray(queries, dtype=np.uint8), radius + 1)
        out = []
        for i in range(len(queries)):
            d, r = dist[lims[i] : lims[i + 1]], rows[lims[i] : lims[i + 1]].astype(np.int64)
            d, r = dead.filter(d, r)
            out.append(topk_int(d, r, r.size))
        return out


@BINARY_SEARCHERS.register("faiss-flat-heap")
class FaissFlatHeapSearcher(FaissFlatSearcher):
    """FAISS ``IndexBinaryFlat`` with its default heap top-k (``use_heap=True``)."""

    name = "faiss-flat-heap"

    def __init__(self, code_size: int, **options: object) -> None:
        options.pop("use_heap", None)
        super().__init__(code_size, use_heap=True, **options)


@BINARY_SEARCHERS.register("native")
class NativeBinarySearcher(NumpyBinarySearcher):
    """Our C scan (:mod:`distilhash.index.native`): blocked popcount + per-query heap, exact
    (distance, row) order, deleted rows skipped inside the scan. Radius search as the reference."""

    name = "native"

    def __init__(self, code_size: int, **options: object) -> None:
        from distilhash.index import native

        native.load()  # ImportError when no compiler: callers fall back
        super().__init__(code_size, **options)

    def search(self, queries: np.ndarray, k: int, dead: Tombstones) -> Result:
        from distilhash.index import native

        words = self._words.view
        if words.shape[0] == 0:
            return [(np.empty(0, np.int32), np.empty(0, np.int64)) for _ in range(len(queries))]
        mask = dead.mask if len(dead) else None
        d, r, cnt = native.hamming_knn(words, to_words(queries), k, mask)
        return [(d[i, : cnt[i]].copy(), r[i, : cnt[i]].copy()) for i in range(len(queries))]


def best_flat(code_size: int):
    """The fastest exact flat searcher available: native, else FAISS, else numpy."""
    for name in ("native", "faiss-flat", "numpy"):
        try:
            return BINARY_SEARCHERS.create(name, code_size)
        except ImportError:
            continue
    raise AssertionError("unreachable: the numpy searcher always exists")
