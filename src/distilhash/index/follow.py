"""Following an index that a writer in another process changes: what it committed since we last looked.

A read-only handle opened with ``IndexOptions(follow=True)`` keeps a :class:`LogFollower` on the
generation it loaded. Before each read the handle asks it (under its own lock):

1. :meth:`LogFollower.generation_changed`: one ``stat`` of ``manifest.json``. The writer replaces
   the manifest (a new inode) only to commit a new generation (compaction, bulk add); the handle
   then reloads the new generation whole.
2. :meth:`LogFollower.new_records`: one 20-byte ``pread`` of the log's commit block through the
   descriptor held since loading (it stays readable after a compaction unlinks the file). When
   the acknowledged end moved, the bytes between the old and the new end are read and decoded:
   the records the writer acknowledged meanwhile, in order.

The writer rewrites the commit block only after the record is written and fsynced, and
acknowledges an add or delete only after that: so a read that starts after an acknowledgement
finds its record (a write the manifest check did not see went to the generation the handle holds).
A commit block read while the writer rewrites it fails its checksum and is read again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from distilhash.errors import IndexCorruptError
from distilhash.index import codelog
from distilhash.index.format import MANIFEST, read_manifest

__all__ = ["LogFollower"]

_COMMIT_RETRIES = 50  # reads of a commit block that did not check before calling it damage
_COMMIT_PAUSE_S = 0.0002


def _signature(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns, st.st_size


class LogFollower:
    """The acknowledged tail of one generation's log, read as a writer elsewhere appends to it.

    Args:
        directory: the index directory; ``manifest``: the generation loaded.
        log_end, log_records: where the loaded state's acknowledged log ends, and its record count.
    """

    def __init__(self, directory: Path, manifest: dict[str, Any], log_end: int, log_records: int, log_version: int) -> None:
        self.directory = directory
        self.manifest_path = directory / MANIFEST
        self.generation = int(manifest["generation"])
        self.uuid = bytes.fromhex(manifest["uuid"])
        self.code_size = int(manifest["code_size"])
        self.path = directory / manifest["log"]
        self.end = log_end
        self.records = log_records
        self.version = log_version
        # taken at the first check, from a manifest read back with this generation: a compaction that
        # committed between loading and here is then still seen
        self._signature: tuple[int, int, int] | None = None
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:  # compacted away since it was loaded: the next check reloads
            self._fd = -1

    def generation_changed(self) -> bool:
        """True when the manifest now names another generation than the one loaded."""
        if self._fd < 0:
            return True
        try:
            sig = _signature(self.manifest_path)
        except FileNotFoundError:  # the manifest is replaced by rename, never removed: the directory went away
            raise IndexCorruptError(f"{self.manifest_path}: the manifest of a followed index is gone") from None
        if sig == self._signature:
            return False
        try:
            m = read_manifest(self.directory)
        except IndexCorruptError:
            return False  # a manifest being replaced: the next read sees the new one
        if int(m["generation"]) != self.generation or bytes.fromhex(m["uuid"]) != self.uuid:
            return True
        self._signature = sig  # the generation loaded (first check) or rewritten with it: nothing to reload
        return False

    def new_records(self) -> list[codelog.LogRecord]:
        """The records acknowledged since the last call (or since loading), in log order."""
        if self.version < 2:
            return []  # a version-1 log has no commit block; the writer upgrades it (a new generation)
        for _ in range(_COMMIT_RETRIES):
            commit = codelog.read_commit(self._fd, self.path)
            if commit is not None:
                break
            time.sleep(_COMMIT_PAUSE_S)
        else:
            raise IndexCorruptError(f"{self.path}: log commit block checksum mismatch (cannot tell what was acknowledged)")
        end, records = commit
        if end == self.end:
            return []
        if end < self.end:
            raise IndexCorruptError(f"{self.path}: the acknowledged end went back from byte {self.end} to {end}")
        data = os.pread(self._fd, end - self.end, self.end)
        if len(data) != end - self.end:
            raise IndexCorruptError(f"{self.path}: acknowledged records end at byte {end} but the file ends before it")
        found, pos = codelog.decode_records(self.path, data, 0, len(data), self.code_size, strict=True, base=self.end)
        if self.records + len(found) != records:
            raise IndexCorruptError(f"{self.path}: {self.records + len(found)} records before byte {end}; "
                                    f"the commit block acknowledges {records}")
        self.end, self.records = end, records
        return found

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
