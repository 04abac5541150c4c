"""Loading one consistent generation of an index into memory, and the bookkeeping of its rows.

:func:`load_state` reads the manifest, checks every file it names (size, sha256), loads the
snapshot (codes mmapped, seqs, metadata store) and replays the acknowledged records of the log.
A compaction by a concurrent writer can switch the generation (and delete the old files) while
a reader is doing this; :func:`load_state` then sees the manifest change and starts again with
the new generation, so a reader never mistakes a compaction for damage. Damage is reported only
when it is still there with the manifest unchanged.

Rows: items are numbered in insertion order (``seq``); row ``r`` of the index is the ``r``-th
smallest seq among snapshot + log items; deletes are tombstones (``dead`` seqs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from distilhash.codes import CodeKind
from distilhash.errors import IndexCorruptError
from distilhash.index import codelog
from distilhash.index.format import check_files, read_manifest
from distilhash.index.metastore import MetaStore
from distilhash.index.topk import Tombstones

__all__ = ["IndexState", "load_state", "read_consistent"]

T = TypeVar("T")
_RETRIES = 20  # generation switches in a row before giving up (a writer compacting non-stop)
_SETTLE_S = 0.005  # pause before re-reading an unchanged index that looked damaged


def read_consistent(directory: Path, read: Callable[[dict[str, Any]], T]) -> T:
    """``read(manifest)`` against one generation: retried while a concurrent writer changes the
    manifest under it; raises the IndexCorruptError only if it repeats with the manifest unchanged.

    A missing file becomes an IndexCorruptError naming it.
    """
    last_error: IndexCorruptError | None = None
    settled = False
    for _ in range(_RETRIES):
        manifest = read_manifest(directory)
        try:
            return read(manifest)
        except FileNotFoundError as exc:
            last_error = IndexCorruptError(f"{directory}: {Path(exc.filename or '?').name} is missing ({exc.strerror})")
        except IndexCorruptError as exc:
            last_error = exc
        try:
            changed = read_manifest(directory) != manifest
        except IndexCorruptError:
            changed = False
        if not changed:
            if settled:
                break
            settled = True  # maybe a torn read of a header being rewritten: look once more
            time.sleep(_SETTLE_S)
    assert last_error is not None
    raise last_error


class IndexState:
    """Rows, ids and tombstones of one generation (snapshot + replayed log), in memory."""

    def __init__(self, directory: Path, manifest: dict[str, Any], codes: np.ndarray, seqs: np.ndarray, store: MetaStore) -> None:
        self.directory = directory
        self.manifest = manifest
        self.code_size = int(manifest["code_size"])
        self.store = store
        self.snap_codes = codes
        self.snap_count = int(codes.shape[0])
        # every row's seq: the snapshot's (mmapped) until the first add, then a buffer that grows
        # when full, so an add appends its own seqs instead of copying all the rows' (8 MB at 1M
        # items, under the index lock, on every add a following reader replays)
        self._seqs: np.ndarray = seqs
        self._seq_buf: np.ndarray | None = None
        self.log_codes: list[np.ndarray] = []
        self.log_items: dict[int, tuple[str, dict[str, Any]]] = {}  # seq -> (id, meta)
        self.log_ids: dict[str, int] = {}  # id -> newest seq added through the log
        self.dead: set[int] = set()  # deleted seqs
        self.next_seq = int(manifest["next_seq"])
        self.n_rows = self.snap_count
        self._tomb: Tombstones | None = None
        self.log_end = codelog.HEADER_SIZE  # acknowledged end of the log
        self.log_records = 0
        self.log_version = 2

    # -- rows --------------------------------------------------------------------------------
    @property
    def seqs(self) -> np.ndarray:
        """int64 ``[n_rows]``: the seq of every row, ascending (a view: never modified, later adds
        write past its end or into a new buffer)."""
        return self._seqs

    def _append_seqs(self, new: np.ndarray) -> None:
        n, m = self._seqs.shape[0], self._seqs.shape[0] + new.shape[0]
        buf = self._seq_buf
        if buf is None or buf.shape[0] < m:
            buf = np.empty(max(m, n + n // 4 + 1024), np.int64)  # grows by a quarter: amortised O(1) per row
            buf[:n] = self._seqs
            self._seq_buf = buf
        buf[n:m] = new
        self._seqs = buf[:m]

    def __len__(self) -> int:
        return self.n_rows - len(self.dead)

    def all_codes(self) -> np.ndarray:
        """uint8 ``[n_rows, code_size]`` (deleted rows included)."""
        parts = [np.asarray(self.snap_codes)] + self.log_codes
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def codes_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """uint8 ``[len(rows), code_size]``: the codes of ``rows``, read from the snapshot and the log's
        parts without concatenating every code (what :meth:`all_codes` does: 8 MB per call at 1M items)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((rows.shape[0], self.code_size), np.uint8)
        in_snap = rows < self.snap_count
        out[in_snap] = np.asarray(self.snap_codes)[rows[in_snap]]
        if not in_snap.all():  # the log's rows: few between compactions
            out[~in_snap] = np.concatenate(self.log_codes)[rows[~in_snap] - self.snap_count]
        return out

    def apply_add(self, ids: list[str], codes: np.ndarray, meta: list[dict[str, Any]]) -> None:
        n = len(ids)
        seqs = np.arange(self.next_seq, self.next_seq + n, dtype=np.int64)
        for s, i, md in zip(seqs.tolist(), ids, meta):
            self.log_items[s] = (i, md)
            self.log_ids[i] = s
        self.log_codes.append(codes)
        self._append_seqs(seqs)
        self.next_seq += n
        self.n_rows += n
        self._tomb = None

    def apply_delete(self, seqs: list[int]) -> None:
        self.dead.update(seqs)
        self._tomb = None

    def replay(self, rec: codelog.LogRecord) -> None:
        """Apply one log record; a record that does not fit the state is damage."""
        if rec.op == codelog.OP_ADD:
            if rec.first_seq != self.next_seq:
                raise IndexCorruptError(f"{self.directory}: log add starts at seq {rec.first_seq}; expected {self.next_seq}")
            present = self.resolve(rec.ids)
            if present or len(set(rec.ids)) != len(rec.ids):
                raise IndexCorruptError(f"{self.directory}: log adds ids that are already live, e.g. {sorted(present)[:5]}")
            self.apply_add(rec.ids, rec.codes, rec.meta)
        else:
            found = self.resolve(rec.ids)
            missing = [i for i in rec.ids if i not in found]
            if missing:
                raise IndexCorruptError(f"{self.directory}: log deletes unknown ids {missing[:5]}")
            self.apply_delete(list(found.values()))

    def tombstones(self) -> Tombstones:
        if self._tomb is None:
            dead = np.fromiter(self.dead, dtype=np.int64, count=len(self.dead))
            rows = np.searchsorted(self.seqs, np.sort(dead))
            self._tomb = Tombstones(rows, self.n_rows)
        return self._tomb

    def live_rows(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` without the deleted ones."""
        if not self.dead:
            return rows
        dead = np.fromiter(self.dead, np.int64, len(self.dead))
        return rows[~np.isin(self.seqs[rows], dead)]

    # -- ids and metadata --------------------------------------------------------------------
    def resolve(self, ids: list[str]) -> dict[str, int]:
        """id -> seq of the live items among ``ids``."""
        out: dict[str, int] = {}
        if self.n_rows == len(self.dead):
            return out
        rest = []
        for i in ids:
            s = self.log_ids.get(i)
            if s is not None and s not in self.dead:
                out[i] = s
            else:
                rest.append(i)
        if rest:
            for i, s in self.store.seqs_of(rest).items():
                if s not in self.dead:
                    out[i] = s
        return out

    def items_of_rows(self, rows: np.ndarray) -> list[tuple[str, dict[str, Any]]]:
        """``(id, metadata)`` of each row."""
        seqs = self.seqs[rows].tolist()
        found: dict[int, tuple[str, dict[str, Any]]] = {}
        need = []
        for s in seqs:
            if s in self.log_items:
                found[s] = self.log_items[s]
            else:
                need.append(s)
        if need:
            found.update(self.store.items_of(need))
        missing = [s for s in seqs if s not in found]
        if missing:
            raise IndexCorruptError(f"{self.directory}: rows without metadata entries (seqs {missing[:5]})")
        return [found[s] for s in seqs]

    def close(self) -> None:
        self.store.close()


def _load_npy(directory: Path, entry: dict[str, Any], dtype, shape: tuple[int, ...] | None) -> np.ndarray:
    path = directory / entry["name"]
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise IndexCorruptError(f"{path}: unreadable array ({exc})") from None
    if arr.dtype != dtype or (shape is not None and arr.shape != shape):
        raise IndexCorruptError(f"{path}: array {arr.dtype} {arr.shape}; expected {np.dtype(dtype)} {shape}")
    return arr


def load_codebooks(directory: Path, manifest: dict[str, Any]) -> np.ndarray:
    """PQ codebooks float32 ``[M, K, d]``, checked against the manifest's shape."""
    pq = manifest["pq"]
    cb = _load_npy(directory, manifest["files"]["codebooks"], np.float32, (pq["M"], pq["K"], pq["d"]))
    return np.ascontiguousarray(cb)


def _load_generation(directory: Path, m: dict[str, Any], verify_checksums: bool) -> IndexState:
    d = directory
    problems = check_files(d, m, checksums=verify_checksums)
    if problems:
        raise IndexCorruptError(f"{d}: " + "; ".join(problems))
    count, code_size = int(m["count"]), int(m["code_size"])
    codes = _load_npy(d, m["files"]["codes"], np.uint8, (count, code_size))
    seqs = np.asarray(_load_npy(d, m["files"]["seqs"], np.int64, (count,)))
    if count and (np.any(np.diff(seqs) <= 0) or seqs[0] < 0 or seqs[-1] >= int(m["next_seq"])):
        raise IndexCorruptError(f"{d}: {m['files']['seqs']['name']} is not strictly ascending below next_seq")
    if CodeKind.parse(m["kind"], "index kind").needs_codebooks and count:
        packed = bool(m["pq"].get("packed"))  # indexes made before 4-bit packing: False
        top = max(int((codes & 15).max()), int((codes >> 4).max())) if packed else int(codes.max())
        if top >= m["pq"]["K"]:
            raise IndexCorruptError(f"{d}: pq codes reference codeword {top} >= K={m['pq']['K']}")
    meta_path = d / m["files"]["meta"]["name"]
    if not meta_path.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(meta_path))
    store = MetaStore(meta_path)
    try:
        if store.count() != count:
            raise IndexCorruptError(f"{d}: metadata store holds {store.count()} items; manifest says {count}")
        state = IndexState(d, m, codes, seqs, store)
        contents = codelog.read_log(d / m["log"], bytes.fromhex(m["uuid"]), int(m["generation"]), code_size)
        state.log_end = contents.valid_end
        state.log_records, state.log_version = len(contents.records), contents.version
        for rec in contents.records:
            state.replay(rec)
    except BaseException:
        store.close()
        raise
    return state


def load_state(directory: Path, verify_checksums: bool = True) -> IndexState:
    """The index's current generation, loaded consistently (see module docstring).

    Raises:
        IndexCorruptError: a file is missing, truncated or damaged, or acknowledged log records
            are gone; the message names the file and what was expected.
    """
    return read_consistent(directory, lambda m: _load_generation(directory, m, verify_checksums))
