"""The global insertion number of every item of one shard, by local insertion number (seq).

A shard is a normal :class:`~distilhash.index.core.CodeIndex`; it numbers its own items
``seq = 0, 1, 2, ...`` in insertion order. A sharded index numbers all items ``g = 0, 1, 2, ...``
across shards. Each item's ``g`` is stored durably with the item (metadata key ``_gseq``, written
in the same log record), and, for search, cached per shard in an append-only file::

    INDEX_DIR/order-007.bin      int64 little-endian; entry s = g of the shard's item with seq s

appended (and fsynced) after each add to the shard. A crash between the shard's add and the
append leaves the file short; :meth:`ShardOrder.load` then recovers the missing tail from the
items' metadata, so the file is a cache that can always be rebuilt, never a second truth.

Lookup is one array index: ``g = order[shard.row_seqs(rows)]`` (:func:`shard_candidates`: a shard's top-k in
global order numbers).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from distilhash.errors import IndexCorruptError
from distilhash.io_utils import fsync_dir

__all__ = ["ShardOrder", "ORDER_KEY", "shard_candidates"]

#: metadata key holding an item's global insertion number (hidden from callers).
ORDER_KEY = "_gseq"


class ShardOrder:
    """``g`` by local seq for one shard (see module docstring)."""

    def __init__(self, path: Path, order: np.ndarray) -> None:
        self.path = path
        self.order = order

    @classmethod
    def load(cls, path: str | Path, shard) -> ShardOrder:
        """Read ``path`` and complete it from ``shard``'s metadata when it is behind the shard."""
        path = Path(path)
        raw = path.read_bytes() if path.is_file() else b""
        order = np.frombuffer(raw[: len(raw) // 8 * 8], dtype="<i8").astype(np.int64)
        rows = int(shard.info()["rows"])
        if rows:
            seqs = shard.row_seqs(np.arange(rows))
            tail = np.flatnonzero(seqs >= len(order))
            if tail.size:
                md = shard.results_of_rows(np.zeros(tail.size), tail).metadata
                try:
                    g = np.array([m[ORDER_KEY] for m in md], dtype=np.int64)
                except KeyError:
                    raise IndexCorruptError(f"{shard.directory}: an item has no {ORDER_KEY!r} in its metadata "
                                            "(the shard was not written through ShardedIndex.add)") from None
                full = np.full(int(seqs[-1]) + 1, -1, dtype=np.int64)
                full[: len(order)] = order
                full[seqs[tail]] = g
                order = full
        return cls(path, order)

    def append(self, seqs: np.ndarray, g: np.ndarray) -> None:
        """Record ``g`` of newly added local ``seqs`` (contiguous, after every known seq); durable on return."""
        seqs = np.asarray(seqs, dtype=np.int64)
        if seqs.size == 0:
            return
        start = int(seqs[0])
        if start < len(self.order) or not np.array_equal(seqs, np.arange(start, start + seqs.size)):
            raise IndexCorruptError(f"{self.path}: new seqs {start}.. do not follow the {len(self.order)} known ones")
        gap = np.full(start - len(self.order), -1, dtype=np.int64)  # seqs of items added and compacted away unseen
        new = np.concatenate([gap, np.asarray(g, dtype=np.int64)])
        with open(self.path, "ab") as f:
            if f.tell() != len(self.order) * 8:  # a torn or stale file: rewrite it whole
                f.truncate(0)
                new = np.concatenate([self.order, new])
            f.write(new.astype("<i8").tobytes())
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(self.path.parent)
        self.order = np.concatenate([self.order, new[-(start + seqs.size - len(self.order)):]])

    def __getitem__(self, seqs: np.ndarray) -> np.ndarray:
        return self.order[seqs]


def shard_candidates(shard, order: ShardOrder, query, k: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per query, the shard's top-k as ``(distances, global order numbers, shard rows)``, by (distance, row)."""
    return [(d, order[shard.row_seqs(r)], r) for d, r in shard.search_rows(query, k)]
