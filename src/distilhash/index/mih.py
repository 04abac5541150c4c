"""Multi-index hashing (MIH): exact Hamming k-NN and radius search, sublinear on clustered codes.

Norouzi, Punjani & Fleet (CVPR 2012). The code bits are split into ``m`` disjoint fields; field
``j`` has a hash table mapping each field value to the rows holding it (a CSR layout: rows
sorted by field value + offsets). Pigeonhole: if ``d(q, x) = sum_j d_j(q, x)`` then some field
has ``d_j <= floor(d / m)``. Probing radius ``s`` in fields ``0..j`` (and ``s - 1`` in the others)
therefore finds every item with

    d(q, x) <= m * s + j.

The search probes ``s = 0, 1, ...`` field by field, computes exact distances of newly found
rows, and stops as soon as k found items lie within that bound: the top-k, ties included, are
then exactly those of a brute-force scan. When the candidates grow past ``max_candidates`` (as
they must on uniform random codes, whose k-th neighbour is far) the query falls back to the flat
scan, so MIH is never much slower than brute force.
"""

from __future__ import annotations

import math

import numpy as np

from distilhash.index.binary import BINARY_SEARCHERS, NumpyBinarySearcher, best_flat, to_words
from distilhash.index.flip_masks import flip_masks
from distilhash.index.topk import Tombstones, topk_int

__all__ = ["MIHSearcher", "plan_fields"]

Result = list[tuple[np.ndarray, np.ndarray]]


def plan_fields(code_size: int, n_items: int, field_bits: int | None = None) -> list[tuple[int, int, int]]:
    """Split the ``8 * code_size`` bits into fields ``(word, shift, bits)`` inside uint64 words.

    Field length defaults to ``log2(n_items)`` clamped to [8, 24] (Norouzi et al.'s choice: about
    one item per bucket). Fields never span words.
    """
    if field_bits is None:
        field_bits = int(min(24, max(8, round(math.log2(max(n_items, 2))))))
    fields = []
    for w in range((code_size + 7) // 8):
        real = 8 * min(8, code_size - 8 * w)  # bits of this word that hold code bytes
        parts = max(1, math.ceil(real / field_bits))
        sizes = [real // parts + (1 if i < real % parts else 0) for i in range(parts)]
        shift = 0
        for b in sizes:
            fields.append((w, shift, b))
            shift += b
    return fields


@BINARY_SEARCHERS.register("mih")
class MIHSearcher:
    """Exact k-NN / radius search by multi-index hashing over a flat store (see module docstring).

    Args:
        code_size: bytes per code.
        field_bits: bits per hash field (default: log2 of the item count at build time).
        max_candidates: per query, give up probing and scan everything once candidates + bucket
            probes pass this (default: ``max(2048, n / 1000)`` with the native flat scan,
            ``max(4096, n / 50)`` with slower ones; see :meth:`_max_work`).
        max_probes: give up when one radius step would probe more buckets than this.
    """

    name = "mih"
    concurrent_search = False  # keeps visited-row stamps between calls: one query at a time

    def __init__(
        self,
        code_size: int,
        field_bits: int | None = None,
        max_candidates: int | None = None,
        max_probes: int = 200_000,
        **_: object,
    ) -> None:
        self.code_size = code_size
        self.field_bits = field_bits
        self.max_candidates = max_candidates
        self.max_probes = max_probes
        self._flat = best_flat(code_size)  # fallback scan; also stores the words when it can
        self._shared = isinstance(self._flat, NumpyBinarySearcher)
        self._skip = 0  # queries left to send straight to the flat scan
        self._skip_len = 16
        self._streak = 0  # consecutive fallbacks
        self._words_parts: list[np.ndarray] = []
        self._words = np.empty((0, (code_size + 7) // 8), dtype=np.uint64)
        self._n_indexed = 0
        self.fields: list[tuple[int, int, int]] = []
        self._tables: list[tuple[np.ndarray, np.ndarray]] = []
        self._visited = np.zeros(0, dtype=bool)
        self._native = None  # C probing loop (distilhash.index.native.MIHTables) when available
        self.stats = {"queries": 0, "fallbacks": 0, "direct": 0, "candidates": 0}

    # -- storage ---------------------------------------------------------------------------
    def add(self, packed: np.ndarray) -> None:
        self._flat.add(packed)
        if not self._shared:
            self._words_parts.append(to_words(packed))

    @property
    def ntotal(self) -> int:
        return self._flat.ntotal

    def _words_all(self) -> np.ndarray:
        if self._shared:
            self._words = self._flat._words.view
            return self._words
        if self._words_parts:
            self._words = np.concatenate([self._words, *self._words_parts])
            self._words_parts = []
        return self._words

    def nbytes(self) -> int:
        tables = sum(o.nbytes + r.nbytes for o, r in self._tables)
        own = 0 if self._shared else self._words.nbytes
        visited = self._native.visited.nbytes if self._native is not None else self._visited.nbytes
        return int(self._flat.nbytes() + own + tables + visited)

    def build(self) -> None:
        """(Re)build the hash tables over every stored row."""
        words = self._words_all()
        n = words.shape[0]
        self.fields = plan_fields(self.code_size, n, self.field_bits)
        row_dtype = np.int32 if n < 2**31 else np.int64
        self._tables = []
        for w, shift, b in self.fields:
            keys = ((words[:, w] >> np.uint64(shift)) & np.uint64((1 << b) - 1)).astype(np.uint32)
            order = np.argsort(keys, kind="stable").astype(row_dtype)
            counts = np.bincount(keys, minlength=1 << b)
            offsets = np.zeros((1 << b) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            self._tables.append((offsets, order))
        self._n_indexed = n
        self._native = None
        self._visited = np.zeros(0, dtype=bool)
        if n < 2**31:
            try:
                from distilhash.index.native import MIHTables

                self._native = MIHTables(self.fields, self._tables, n, self.max_probes)
            except ImportError:
                pass
        if self._native is None:
            self._visited = np.zeros(n, dtype=bool)

    def _ensure_built(self) -> None:
        n = self.ntotal
        tail = n - self._n_indexed
        if not self._tables or tail > max(65_536, self._n_indexed // 8):
            self.build()
        else:
            self._words_all()

    # -- search ----------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, dead: Tombstones) -> Result:
        """Exact top-k per query. Adaptive: after a run of queries that all fell back to the flat
        scan (far neighbours, e.g. uniform random codes), the next queries go straight to the
        flat scan (batched), re-trying MIH after 16, 32, ... 512 of them."""
        self._ensure_built()
        nq = len(queries)
        qwords = to_words(queries)
        out: list = [None] * nq
        direct: list[int] = []  # skipped (adaptive) or fallen back: answered by the flat scan
        n_skipped = 0
        dead_mask = dead.mask if len(dead) else None
        max_cand = self._max_work()
        i = 0
        while i < nq:
            if self._skip > 0:
                take = min(self._skip, nq - i)
                self._skip -= take
                n_skipped += take
                direct.extend(range(i, i + take))
                i += take
                continue
            if self._native is None:
                out[i] = self._one(qwords[i], queries[i : i + 1], k, None, dead)
                i += 1
                continue
            j = min(nq, i + 16)
            d, r, cnt, cand = self._native.knn(self._words, qwords[i:j], k, dead_mask, max_cand)
            for t in range(j - i):
                self.stats["queries"] += 1
                self.stats["candidates"] += int(cand[t])
                fell_back = bool(cnt[t] < 0)
                self._note(fell_back)
                if fell_back:
                    self.stats["fallbacks"] += 1
                    direct.append(i + t)
                else:
                    out[i + t] = (d[t, : cnt[t]].copy(), r[t, : cnt[t]].copy())
            i = j
        self.stats["direct"] += n_skipped
        if direct:
            for i, res in zip(direct, self._flat.search(queries[direct], k, dead)):
                out[i] = res
        return out

    def _max_work(self) -> int:
        """Candidates + bucket probes a query may spend before falling back to the flat scan.

        A candidate costs a random memory access (~100-200 ns); the native flat scan costs
        ~0.25 ns per item, so break-even is near n/1000 candidates; slower flat scans (FAISS,
        numpy: ~2 ns per item) allow n/50.
        """
        if self.max_candidates:
            return int(self.max_candidates)
        n = self.ntotal
        return max(2048, n // 1000) if self._flat.name == "native" else max(4096, n // 50)

    def _note(self, fell_back: bool) -> None:
        if not fell_back:
            self._streak, self._skip_len = 0, 16
            return
        self._streak += 1
        if self._streak >= 4:
            self._skip = self._skip_len
            self._skip_len = min(512, self._skip_len * 2)
            self._streak = 0

    def range_search(self, queries: np.ndarray, radius: int, dead: Tombstones) -> Result:
        self._ensure_built()
        if self._visited.shape[0] != self._n_indexed:
            self._visited = np.zeros(self._n_indexed, dtype=bool)
        return [self._one(q, queries[i : i + 1], None, radius, dead) for i, q in enumerate(to_words(queries))]

    def _one(self, q: np.ndarray, q_packed: np.ndarray, k: int | None, radius: int | None, dead: Tombstones) -> tuple[np.ndarray, np.ndarray]:
        self.stats["queries"] += 1
        words = self._words
        n_idx = self._n_indexed
        n_total = words.shape[0]
        max_cand = self._max_work()
        dead_mask = dead.mask if len(dead) else None
        m = len(self.fields)
        n_bits = 64 * words.shape[1]
        hist = np.zeros(n_bits + 1, dtype=np.int64)
        found_d: list[np.ndarray] = []
        found_r: list[np.ndarray] = []
        n_found = 0

        def collect(rows: np.ndarray) -> int:
            """Distances of the live ``rows`` (within ``radius``) into found_d / found_r / hist; their count."""
            if dead_mask is not None:
                rows = rows[~dead_mask[rows]]
            rows = rows.astype(np.int64, copy=False)
            d = _hamming_rows(words, rows, q)
            if radius is not None:
                keep = d <= radius
                d, rows = d[keep], rows[keep]
            found_d.append(d)
            found_r.append(rows)
            hist[:] += np.bincount(d, minlength=n_bits + 1)
            return rows.size

        # rows appended after the tables were built are scanned directly
        if n_total > n_idx:
            n_found += collect(np.arange(n_idx, n_total, dtype=np.int64))
        visited = self._visited
        touched: list[np.ndarray] = []
        target = k if k is not None else None
        done = n_idx == 0
        fallback = False
        s = 0
        max_field = max((b for _, _, b in self.fields), default=0)
        try:
            while not done and s <= max_field:
                for j, (w, shift, b) in enumerate(self.fields):
                    offsets, order = self._tables[j]
                    key = (int(q[w]) >> shift) & ((1 << b) - 1)
                    if s == 0:
                        cand = order[offsets[key] : offsets[key + 1]]
                    else:
                        if s > b:
                            cand = order[:0]
                        else:
                            if math.comb(b, s) > self.max_probes:
                                fallback = True
                                break
                            keys = np.uint32(key) ^ flip_masks(b, s)
                            n_found += keys.size  # a probe costs about as much as a candidate
                            starts = offsets[keys]
                            lens = offsets[keys + 1] - starts
                            total = int(lens.sum())
                            if total:
                                ends = np.cumsum(lens)
                                idx = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lens), lens)
                                cand = order[idx]
                            else:
                                cand = order[:0]
                    if cand.size:
                        new = cand[~visited[cand]]
                        if new.size:
                            visited[new] = True
                            touched.append(new)
                            n_found += collect(new)
                    bound = m * s + j  # every item with d <= bound has been found
                    if target is not None and hist[: bound + 1].sum() >= target:
                        done = True
                        break
                    if radius is not None and bound >= radius:
                        done = True
                        break
                    if n_found > max_cand:
                        fallback = True
                        break
                if fallback:
                    break
                s += 1
        finally:
            for t in touched:
                visited[t] = False
        self.stats["candidates"] += n_found
        if k is not None:
            self._note(fallback)
        if fallback:
            self.stats["fallbacks"] += 1
            if k is not None:
                return self._flat.search(q_packed, k, dead)[0]
            return self._flat.range_search(q_packed, int(radius), dead)[0]
        if not found_d:
            return np.empty(0, np.int32), np.empty(0, np.int64)
        d_all = np.concatenate(found_d)
        r_all = np.concatenate(found_r)
        return topk_int(d_all, r_all, k if k is not None else r_all.size)


def _hamming_rows(words: np.ndarray, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamming distances int64 ``[len(rows)]`` between ``words[rows]`` and the query words ``q``."""
    sub = words[rows]
    d = np.bitwise_count(sub[:, 0] ^ q[0]).astype(np.int64)
    for w in range(1, sub.shape[1]):
        d += np.bitwise_count(sub[:, w] ^ q[w])
    return d
