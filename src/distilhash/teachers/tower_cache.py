"""On-disk cache of a frozen image tower's features per dataset item, filled lazily row by row.

Layout under ``cache_dir``, keyed by the dataset content hash, the tower's weights fingerprint and
the image size (``<key> = lite0-<dataset hash 16>-<weights sha 16>-s<size>``)::

    <key>.rows.npy    float32 [N, D]  features of item i in row i (rows not yet computed are zeros)
    <key>.done.npy    bool    [N]     which rows hold computed features (replaced atomically)
    <key>.lock        empty; the lock every writer holds while it touches the two files above

A request for some items computes only the rows not done yet, so the fit (split.train items) and a
later ``teacher extract`` (all items) together run the tower once per item; an interrupted run keeps
every finished chunk. Rows are written and flushed before the ``done`` mask that vouches for them.

Any number of processes (Ray actors, data-parallel workers, two CLI runs) may fill one cache at
once. Each chunk is *computed* without the lock (writers work in parallel; two may compute the
same rows) and *committed* under an exclusive lock (:func:`cache_lock`: ``fcntl.lockf`` on
``<key>.lock``, plus a thread lock for threads of one process): the writer re-reads ``done.npy``
from disk, writes only the rows still not done, flushes them, then replaces ``done.npy`` with the
union. A row is written once and never rewritten, so a reader never sees it change. Files are
(re)created only under the lock, through a temporary file renamed into place (a new inode), so a
process that has the old file mapped is never truncated under its feet (SIGBUS).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from distilhash.errors import FeatureError
from distilhash.io_utils import atomic_save_npy, fsync_dir

__all__ = ["cached_rows", "cache_lock"]

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextmanager
def cache_lock(path: str | Path) -> Iterator[None]:
    """Exclusive lock on ``path`` (created if missing) across processes and across threads of this one.

    POSIX record locks (``fcntl.lockf``) are per process, so threads also share a
    :class:`threading.Lock` per path. ``lockf`` works on local file systems and on NFS with lockd.
    """
    import fcntl

    key = os.path.abspath(path)
    with _THREAD_LOCKS_GUARD:
        tlock = _THREAD_LOCKS.setdefault(key, threading.Lock())
    with tlock:
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _read_done(done_path: Path, rows_path: Path, n_items: int, width: int) -> np.ndarray | None:
    """The done mask when both files exist with the expected shapes, else None (call under the lock)."""
    from numpy.lib.format import open_memmap

    if not (done_path.is_file() and rows_path.is_file()):
        return None
    try:
        done = np.load(done_path)
        rows = open_memmap(rows_path, mode="r")
        ok = done.shape == (n_items,) and done.dtype == np.bool_ and rows.shape == (n_items, width) \
            and rows.dtype == np.float32
        del rows
    except (OSError, ValueError):
        return None
    return done if ok else None


def _create(rows_path: Path, done_path: Path, n_items: int, width: int) -> np.ndarray:
    """New zero rows file and all-false done mask (call under the lock); returns the mask."""
    from numpy.lib.format import open_memmap

    if done_path.exists():
        os.unlink(done_path)  # a crash below leaves no done mask, so the next writer starts over
    tmp = rows_path.with_name(f".{rows_path.name}.{os.getpid()}.tmp")
    rows = open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n_items, width))
    rows.flush()
    del rows
    os.replace(tmp, rows_path)  # a new inode: old mappings of the previous file stay valid
    done = np.zeros(n_items, dtype=bool)
    atomic_save_npy(done_path, done)
    fsync_dir(rows_path.parent)
    return done


def cached_rows(cache_dir: str | Path | None, key: str, n_items: int, width: int, indices: np.ndarray,
                compute: Callable[[np.ndarray], np.ndarray], chunk: int = 512,
                on_rows: Callable[[int], object] | None = None) -> tuple[np.ndarray, int]:
    """Rows ``indices`` of the cache ``key`` (float32 ``[len(indices), width]``); returns (rows, n computed now).

    ``compute(idx)`` must return float32 ``[len(idx), width]`` for item indices ``idx`` (the same
    values whoever computes them). With ``cache_dir=None`` everything is computed and nothing
    stored. ``on_rows(k)`` is called after each computed chunk of k rows (progress bars). Safe for
    concurrent callers on one ``cache_dir`` (see the module docstring).
    """
    from numpy.lib.format import open_memmap

    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        raise FeatureError(f"tower cache {key}: item indices outside 0..{n_items - 1}")
    if cache_dir is None:
        out = np.empty((len(indices), width), np.float32)
        for s in range(0, len(indices), chunk):
            out[s:s + chunk] = compute(indices[s:s + chunk])
            if on_rows is not None:
                on_rows(len(indices[s:s + chunk]))
        return out, len(indices)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    rows_path, done_path, lock_path = cache / f"{key}.rows.npy", cache / f"{key}.done.npy", cache / f"{key}.lock"
    with cache_lock(lock_path):
        done = _read_done(done_path, rows_path, n_items, width)
        if done is None:
            done = _create(rows_path, done_path, n_items, width)
    todo = np.unique(indices[~done[indices]])
    for s in range(0, len(todo), chunk):
        idx = todo[s:s + chunk]
        block = np.asarray(compute(idx), dtype=np.float32)
        if block.shape != (len(idx), width) or not np.isfinite(block).all():
            raise FeatureError(f"tower cache {key}: computed rows have shape {block.shape} (or non-finite values), "
                               f"expected {(len(idx), width)}")
        _commit(rows_path, done_path, lock_path, n_items, width, idx, block)
        if on_rows is not None:
            on_rows(len(idx))
    with cache_lock(lock_path):  # the files as committed; every requested row is done by now
        done = _read_done(done_path, rows_path, n_items, width)
        if done is None or not done[indices].all():
            raise FeatureError(f"tower cache {key} in {cache}: rows vouched for went missing (was the cache "
                               "deleted or recreated by another program while in use?)")
        out = np.array(open_memmap(rows_path, mode="r")[indices])
    return out, len(todo)


def _commit(rows_path: Path, done_path: Path, lock_path: Path, n_items: int, width: int, idx: np.ndarray,
            block: np.ndarray) -> None:
    """Write rows ``idx`` not yet done by anyone, then the done mask grown by them (under the lock)."""
    from numpy.lib.format import open_memmap

    with cache_lock(lock_path):
        done = _read_done(done_path, rows_path, n_items, width)
        if done is None:  # deleted by someone else meanwhile: start a fresh file
            done = _create(rows_path, done_path, n_items, width)
        new = ~done[idx]
        if not new.any():
            return
        rows = open_memmap(rows_path, mode="r+")
        rows[idx[new]] = block[new]
        rows.flush()
        del rows
        done[idx[new]] = True
        atomic_save_npy(done_path, done)
