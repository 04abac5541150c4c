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

from pathlib import Path

from distilhash.index.lock import ReaderLock

__all__ = ["hold_reader_locks", "release_all"]


def hold_reader_locks(index_dirs: list[str | Path]) -> list[ReaderLock]:
    """Shared locks on every served index directory (all or none; IndexLockedError when a writer holds one)."""
    from distilhash.index import layout

    held: list[ReaderLock] = []
    try:
        for d in index_dirs:
            for sub in layout.index_dirs(d):  # the directories a writer locks: the index, or each shard
                if sub.is_dir():
                    held.append(ReaderLock(sub))
    except BaseException:
        release_all(held)
        raise
    return held


def release_all(locks: list[ReaderLock]) -> None:
    for lock in locks:
        lock.release()
