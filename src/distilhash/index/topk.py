"""Exact, stable top-k selection shared by every searcher.

Every searcher orders results by ``(distance, row)``: ties are broken by the smaller row, so a
result list is a pure function of the stored codes, never of the backend.
"""

from __future__ import annotations

import numpy as np

__all__ = ["topk_int", "topk_float", "EMPTY_ROW", "Tombstones", "NO_TOMBSTONES"]

#: row value used to pad result arrays when fewer than k items exist.
EMPTY_ROW = -1
_ROW_BITS = 40  # rows < 2**40 (10^12 items)


def topk_int(dist: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of integer distances ``[n]`` with rows ``[n]`` by (distance, row).

    Packs ``key = dist << 40 | row`` (unique per row), partitions, then sorts the k survivors.
    Returns (dist int32 ``[min(k, n)]``, rows int64 ``[min(k, n)]``).
    """
    n = dist.shape[0]
    if n == 0 or k <= 0:
        return np.empty(0, np.int32), np.empty(0, np.int64)
    key = (dist.astype(np.int64) << _ROW_BITS) | rows.astype(np.int64)
    if k < n:
        key = np.partition(key, k - 1)[:k]
    key.sort()
    return (key >> _ROW_BITS).astype(np.int32), key & ((1 << _ROW_BITS) - 1)


def topk_float(dist: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of float distances ``[n]`` with rows ``[n]`` by (distance, row), exact.

    Finds the k-th smallest value v_k with a partition, keeps every item with ``d <= v_k`` (all
    ties at the boundary) and sorts those by (distance, row).
    """
    n = dist.shape[0]
    if n == 0 or k <= 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    if k < n:
        vk = np.partition(dist, k - 1)[k - 1]
        keep = np.flatnonzero(dist <= vk)
        dist, rows = dist[keep], rows[keep]
    order = np.lexsort((rows, dist))[:k]
    return dist[order].astype(np.float32), rows[order].astype(np.int64)


class Tombstones:
    """Deleted rows, as a sorted array (``rows``) and a lazily built bool mask over ``n`` rows."""

    def __init__(self, rows: np.ndarray, n: int) -> None:
        self.rows = np.unique(np.asarray(rows, dtype=np.int64))
        self.n = int(n)
        self._mask: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.rows.size)

    @property
    def mask(self) -> np.ndarray:
        """bool ``[n]``, True where the row is deleted."""
        if self._mask is None or self._mask.shape[0] != self.n:
            mask = np.zeros(self.n, dtype=bool)
            mask[self.rows] = True
            self._mask = mask
        return self._mask

    def filter(self, dist: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drop deleted rows from a result list (order kept)."""
        if not len(self) or rows.size == 0:
            return dist, rows
        keep = ~np.isin(rows, self.rows, assume_unique=False)
        return dist[keep], rows[keep]


NO_TOMBSTONES = Tombstones(np.empty(0, np.int64), 0)
