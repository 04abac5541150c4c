"""The tunables of an open index (:class:`IndexOptions`): which searcher, when to snapshot or compact, following a writer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["IndexOptions"]


@dataclass
class IndexOptions:
    """Tunables of an open index (data, not behaviour switches).

    Attributes:
        backend: searcher name (binary: ``mih``, ``native``, ``faiss-flat``, ``faiss-flat-heap``,
            ``numpy``; pq: ``native``, ``faiss``, ``numpy``) or ``auto`` (binary: ``mih`` from
            ``mih_min_items`` items on, else the flat scan; flat scan = ``native`` when a C
            compiler is available, else FAISS, else numpy). All give identical results, except
            the approximate pq searcher ``ivf`` (:mod:`distilhash.index.ivf`; never chosen by
            ``auto``; options ``nlist``, ``nprobe``, ... in ``searcher_options``).
        bulk_threshold: an ``add`` of at least this many items writes a new snapshot directly
            instead of logging them.
        max_log_bytes: compact once the log grows past this.
        max_tombstones: compact once this many deleted items are pending.
        mih_min_items: see ``backend``.
        follow: a read-only handle that picks up what the index's writer (another process)
            commits: every read first applies the log records acknowledged since the last one
            and reloads a new generation (:mod:`~distilhash.index.follow`).
    """

    backend: str = "auto"
    bulk_threshold: int = 50_000
    max_log_bytes: int = 64 << 20
    max_tombstones: int = 1024
    mih_min_items: int = 50_000
    searcher_options: dict[str, Any] = field(default_factory=dict)
    follow: bool = False
