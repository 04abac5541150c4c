"""``verify_index``: re-read every file of an index without trusting it.

Checks, against one consistent generation (re-checked and retried when a concurrent writer
compacts, see :func:`distilhash.index.storage.read_consistent`): the manifest seal and format
version; every snapshot file's size and sha256; the log's header, its commit block (how many
bytes and records were acknowledged: a shorter log or a missing record is reported) and every
record's checksums; SQLite's ``integrity_check``; that the store and the seqs file list the
same items; and a full load and replay of the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import IndexCorruptError
from distilhash.index import codelog
from distilhash.index.format import MANIFEST, check_files
from distilhash.index.metastore import MetaStore
from distilhash.index.storage import load_state, read_consistent

__all__ = ["VerifyReport", "verify_index"]


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_index`: ``ok`` is False when any problem was found."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files_checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_generation(d: Path, m: dict[str, Any]) -> VerifyReport:
    """All checks against manifest ``m``; raises IndexCorruptError on the first problem found."""
    rep = VerifyReport(files_checked=[MANIFEST])
    problems = check_files(d, m, checksums=True)
    if problems:
        raise IndexCorruptError(f"{d}: " + "; ".join(problems))
    rep.files_checked += [e["name"] for e in m["files"].values()]
    contents = codelog.read_log(d / m["log"], bytes.fromhex(m["uuid"]), int(m["generation"]), int(m["code_size"]))
    rep.files_checked.append(m["log"])
    rep.notes.append(f"log: {len(contents.records)} acknowledged records, {contents.valid_end} bytes")
    if contents.version == 1:
        rep.notes.append("format 1 index: its log does not record what was acknowledged, so a log cut at a record "
                         "boundary cannot be detected; opening it once for writing upgrades it to format 2")
    if contents.torn_bytes:
        rep.notes.append(f"log ends with an interrupted append of {contents.torn_bytes} bytes (never acknowledged; ignored)")
    store = MetaStore(d / m["files"]["meta"]["name"])
    try:
        problems = store.integrity_problems()
        if problems:
            raise IndexCorruptError(f"{d}: " + "; ".join(problems))
        seqs = np.load(d / m["files"]["seqs"]["name"], allow_pickle=False)
        if not np.array_equal(store.all_seqs(), seqs):
            raise IndexCorruptError(f"{d}: {m['files']['meta']['name']} and {m['files']['seqs']['name']} list different items")
    finally:
        store.close()
    return rep


def verify_index(directory: str | Path, options: Any = None) -> VerifyReport:
    """Check an index (see module docstring). Never raises for damage; the report lists it.

    ``options`` is accepted for API compatibility (verification does not depend on the searcher).
    """
    d = Path(directory)
    try:
        rep = read_consistent(d, lambda m: _check_generation(d, m))
        state = load_state(d, verify_checksums=False)
        state.close()
    except (IndexCorruptError, ValueError, OSError) as exc:
        return VerifyReport(problems=[str(exc)], files_checked=[])
    return rep
