"""The single-writer lock of an index: an ``flock`` on the index directory itself.

A lock file can be deleted while its holder runs, after which a second writer creates a new
file and locks that one too. The directory cannot be unlinked while it holds the index, so
``flock`` on a descriptor of the directory is held for as long as the writer keeps it open,
whatever happens to the files inside. After locking, the held descriptor is checked to still be
the directory at that path (not one renamed away or replaced), and :meth:`WriterLock.check`
repeats that test before each commit.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from distilhash.errors import DistilhashError

__all__ = ["IndexLockedError", "WriterLock", "ReaderLock"]


class IndexLockedError(DistilhashError):
    """Another process (or another open handle) holds the index open for writing."""


def _flock_directory(directory: Path, mode: int, busy: str) -> int:
    """A descriptor of ``directory`` holding ``flock(mode)``; IndexLockedError saying ``busy`` when taken."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise IndexLockedError(f"{directory}: {busy}") from None
    return fd


class WriterLock:
    """Exclusive, non-blocking writer lock of ``directory``; released by :meth:`release`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd = _flock_directory(directory, fcntl.LOCK_EX,
                                    "another writer has this index open, or a read-only service (distilhash serve without "
                                    "--api-key) is serving it (one writer at a time, and never beside a service that would "
                                    "not see its changes)")
        try:
            self.check()
        except BaseException:
            self.release()
            raise

    def check(self) -> None:
        """Raise IndexLockedError unless the locked directory still is ``self.directory``."""
        held = os.fstat(self._fd)
        try:
            now = os.stat(self.directory)
        except FileNotFoundError:
            now = None
        if now is None or (held.st_dev, held.st_ino) != (now.st_dev, now.st_ino):
            raise IndexLockedError(f"{self.directory}: the locked index directory was moved or replaced; reopen the index")

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


class ReaderLock:
    """A shared ``flock`` on ``directory`` held by a long-lived reader (a read-only service).

    Writers take the same lock exclusively, so while a reader holds it no writer can open the
    index, and a reader cannot start while a writer has it open (IndexLockedError). Readers do not
    exclude each other. Short-lived readers (search, info, verify) need not take it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd = _flock_directory(directory, fcntl.LOCK_SH,
                                    "a writer has this index open (distilhash index add/delete/compact or a service with "
                                    "an API key); a read-only service would not see its changes, so it does not start beside one")

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
