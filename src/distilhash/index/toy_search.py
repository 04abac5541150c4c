"""TOY (scratch, not for merging): a brute-force binary searcher over unpacked bits (``backend="toy-bits"``)."""

from __future__ import annotations

import numpy as np

from distilhash.index.binary import BINARY_SEARCHERS
from distilhash.index.topk import Tombstones, topk_int

Result = list[tuple[np.ndarray, np.ndarray]]


@BINARY_SEARCHERS.register("toy-bits")
class ToyBitsSearcher:
    """Hamming distance as the count of differing unpacked bits, uint8 ``[n, 8 * code_size]``."""

    name = "toy-bits"

    def __init__(self, code_size: int, **_: object) -> None:
        self._bits = np.zeros((0, 8 * code_size), np.uint8)

    def add(self, packed: np.ndarray) -> None:
        self._bits = np.concatenate([self._bits, np.unpackbits(packed, axis=1)])

    @property
    def ntotal(self) -> int:
        return self._bits.shape[0]

    def nbytes(self) -> int:
        return int(self._bits.nbytes)

    def _dist(self, q: np.ndarray, dead: Tombstones) -> tuple[np.ndarray, np.ndarray]:
        d = (self._bits != np.unpackbits(q)).sum(axis=1).astype(np.int64)
        rows = np.arange(d.size, dtype=np.int64)
        if len(dead):
            alive = ~dead.mask
            d, rows = d[alive], rows[alive]
        return d, rows

    def search(self, queries: np.ndarray, k: int, dead: Tombstones) -> Result:
        return [topk_int(*self._dist(q, dead), k) for q in queries]

    def range_search(self, queries: np.ndarray, radius: int, dead: Tombstones) -> Result:
        out = []
        for q in queries:
            d, rows = self._dist(q, dead)
            hit = d <= radius
            out.append(topk_int(d[hit], rows[hit], int(hit.sum())))
        return out
