"""Per-item ids and metadata of an index snapshot, in SQLite (stdlib ``sqlite3``).

One table ``items(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, meta TEXT NOT NULL)``:
``seq`` is the item's insertion number (rows of the snapshot are in ascending ``seq``), ``id``
the external string id, ``meta`` a JSON object (caption, image path, anything). A snapshot file
is written once by :func:`write_store` (into a temporary file, fsynced, renamed) and then only
read, with ``immutable=1``; its sha256 is in the manifest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import IndexCorruptError
from distilhash.io_utils import fsync_dir

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson comes with the serve extra
    _orjson = None

__all__ = ["MetaStore", "write_store"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS items (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, meta TEXT NOT NULL)"
_CHUNK = 900  # stay under SQLite's bound-parameter limit
_LONG_DIGITS = re.compile(r"[0-9]{19}")


def _loads(text: str) -> Any:
    """``json.loads(text)``, by orjson when it is installed and gives the same objects (about 2x
    faster: ten items of every search answer are parsed here). orjson reads integers beyond 64 bits
    as floats, so a text with a run of 19 digits goes to ``json``, as does anything orjson refuses
    (``NaN``, lone surrogates, numbers beyond the float range)."""
    if _orjson is None or _LONG_DIGITS.search(text):
        return json.loads(text)
    try:
        return _orjson.loads(text)
    except _orjson.JSONDecodeError:
        return json.loads(text)


class MetaStore:
    """Read-only view of a snapshot's ``items`` table."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            self._db.execute("SELECT count(*) FROM items").fetchone()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{path}: unreadable metadata database ({exc})") from None

    def count(self) -> int:
        return int(self._q("SELECT count(*) FROM items")[0][0])

    def seqs_of(self, ids: Sequence[str]) -> dict[str, int]:
        """id -> seq for the ids present."""
        out: dict[str, int] = {}
        for i in range(0, len(ids), _CHUNK):
            part = list(ids[i : i + _CHUNK])
            marks = ",".join("?" * len(part))
            out.update({row[0]: int(row[1]) for row in self._q(f"SELECT id, seq FROM items WHERE id IN ({marks})", part)})
        return out

    def items_of(self, seqs: Iterable[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        """seq -> (id, metadata) for the seqs present."""
        seqs = [int(s) for s in seqs]
        out: dict[int, tuple[str, dict[str, Any]]] = {}
        for i in range(0, len(seqs), _CHUNK):
            part = seqs[i : i + _CHUNK]
            marks = ",".join("?" * len(part))
            for seq, id_, meta in self._q(f"SELECT seq, id, meta FROM items WHERE seq IN ({marks})", part):
                try:
                    out[int(seq)] = (id_, _loads(meta))
                except json.JSONDecodeError:
                    raise IndexCorruptError(f"{self.path}: metadata of item {id_!r} is not valid JSON") from None
        return out

    def all_seqs(self) -> np.ndarray:
        return np.array([r[0] for r in self._q("SELECT seq FROM items ORDER BY seq")], dtype=np.int64)

    def integrity_problems(self) -> list[str]:
        rows = self._q("PRAGMA integrity_check")
        return [] if rows == [("ok",)] else [f"{self.path.name}: {r[0]}" for r in rows]

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"{self.path}: metadata database damaged ({exc})") from None

    def close(self) -> None:
        self._db.close()


def write_store(
    path: Path,
    base: Path | None,
    delete_seqs: Iterable[int],
    new_items: Iterable[tuple[int, str, dict[str, Any]]],
) -> None:
    """Write a new snapshot store at ``path``: ``base`` minus ``delete_seqs`` plus ``new_items``.

    Built in a temporary file next to ``path``, fsynced, then renamed over it.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    if tmp.exists():
        tmp.unlink()
    if base is not None:
        shutil.copyfile(base, tmp)
    db = sqlite3.connect(tmp)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(_SCHEMA)
        dels = [(int(s),) for s in delete_seqs]
        if dels:
            db.executemany("DELETE FROM items WHERE seq = ?", dels)
        enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        db.executemany(
            "INSERT INTO items (seq, id, meta) VALUES (?, ?, ?)",
            ((s, i, enc(m) if m else "{}") for s, i, m in new_items),
        )
        db.commit()
        if dels:
            db.execute("VACUUM")
    finally:
        db.close()
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
