"""A read-only service and writers of its index: the service does not run beside one.

A read-only service (no API key) loads its indexes once. Another process that changed them
(``distilhash index add/delete/compact``) would leave it answering from the old state, holding the
files that compaction deleted. So the service holds a shared lock on each index directory (and on
each shard of a sharded index) for as long as it runs (:class:`distilhash.index.lock.ReaderLock`):
it refuses to start while a writer has an index open, and a writer started while it serves is
refused with a message that names the service. Stop the service, change the index, start it
again (or serve with ``--api-key`` and change the index through the service).
"""

from __future__ import annotations

import json
from pathlib import Path

from distilhash.index.lock import ReaderLock

__all__ = ["hold_reader_locks", "release_all"]


def _lock_dirs(index_dir: Path) -> list[Path]:
    """The directories a writer of ``index_dir`` locks: the index, or each shard of a sharded index."""
    from distilhash.index.sharded import SHARDED_MANIFEST, is_sharded

    if is_sharded(index_dir):
        names = json.loads((index_dir / SHARDED_MANIFEST).read_text()).get("shards") or []
        return [index_dir / n for n in names]
    return [index_dir]


def hold_reader_locks(index_dirs: list[str | Path]) -> list[ReaderLock]:
    """Shared locks on every served index directory (all or none; IndexLockedError when a writer holds one)."""
    held: list[ReaderLock] = []
    try:
        for d in index_dirs:
            for sub in _lock_dirs(Path(d)):
                if sub.is_dir():
                    held.append(ReaderLock(sub))
    except BaseException:
        release_all(held)
        raise
    return held


def release_all(locks: list[ReaderLock]) -> None:
    for lock in locks:
        lock.release()
