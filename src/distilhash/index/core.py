"""The code index facade: binary or PQ codes + external ids + metadata, durable on disk.

Example:
    >>> import numpy as np, tempfile
    >>> from distilhash.codes import Encoded
    >>> from distilhash.index import create_index, open_index  # create_index: distilhash.index.create
    >>> d = tempfile.mkdtemp()
    >>> idx = create_index(d, kind="binary", n_bits=16)
    >>> codes = Encoded("binary", np.array([[1, 2], [1, 3], [255, 0]], np.uint8), 16)
    >>> idx.add(["a", "b", "c"], codes, [{"caption": "x"}, {}, {}])
    >>> idx.search(codes.take([0]), k=2)[0].ids
    ['a', 'b']
    >>> idx.close(); open_index(d).info()["count"]
    3

Rows: items are numbered in insertion order; a result list is ordered by (distance, row).
Deletes are tombstones (logged) until a compaction rewrites the snapshot without them; a search
never returns a deleted item. This module is the facade; storage lives in
:mod:`~distilhash.index.storage` (loading one consistent generation), :mod:`~distilhash.index.snapshot`
(writing one), :mod:`~distilhash.index.compaction` (the next generation from the live items),
:mod:`~distilhash.index.codelog` (the acknowledged log), :mod:`~distilhash.index.lock` (the writer
lock) and :mod:`~distilhash.index.verify`; :mod:`~distilhash.index.code_spec` checks that codes and
queries fit the index; :mod:`~distilhash.index.options` holds the tunables of an open index and
:mod:`~distilhash.index.results` turns searched rows into ids and metadata.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import CodeKind, Encoded
from distilhash.errors import ConfigError, DataError, IndexCorruptError
from distilhash.index import codelog
from distilhash.index.code_spec import CodeSpec
from distilhash.index.follow import LogFollower
from distilhash.index.compaction import (Pending, drop_files, generation_files, remove_orphans,
                                         write_next_generation)
from distilhash.index.format import FORMAT_VERSION
from distilhash.index.lock import IndexLockedError, WriterLock
from distilhash.index.options import IndexOptions
from distilhash.index.results import SearchResult, result_of_rows, results_of_batch
from distilhash.index.searchers import build_searcher, choose_backend
from distilhash.index.storage import IndexState, load_codebooks, load_state
from distilhash.index.topk import Tombstones
from distilhash.index.verify import VerifyReport, verify_index

__all__ = ["CodeIndex", "SearchResult", "VerifyReport", "IndexLockedError", "open_index", "verify_index", "IndexOptions"]


def open_index(
    directory: str | Path,
    writable: bool = False,
    verify_checksums: bool = True,
    options: IndexOptions | None = None,
) -> CodeIndex:
    """Open an index; every file is checked against the manifest (sizes and, by default, sha256)
    and the log against what its header says was acknowledged. Opening never modifies a damaged
    index.

    Raises:
        IndexCorruptError: the directory is not an index, or is damaged, truncated, lost
            acknowledged records or has an unsupported format version.
        IndexLockedError: ``writable=True`` and another writer has it open.
    """
    return CodeIndex(Path(directory), writable=writable, verify_checksums=verify_checksums, options=options)


def _locked(method):
    """Run ``method`` under the index's lock (one search or update at a time per open index)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _current(method):
    """:func:`_locked`, after catching up with what the writer committed (handles that follow the index)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            self._catch_up()
            return method(self, *args, **kwargs)

    return wrapper


class CodeIndex:
    """An open index (see module docstring). Create with :func:`create_index` / :func:`open_index`."""

    def __init__(self, directory: Path, writable: bool, verify_checksums: bool, options: IndexOptions | None) -> None:
        self.directory = directory
        self.options = options or IndexOptions()
        self.writable = writable
        self._writer_lock: WriterLock | None = None
        self._log: codelog.CodeLog | None = None
        self._state: IndexState | None = None
        self._searcher: Any = None
        self._follower: LogFollower | None = None
        self._lock = threading.RLock()  # searchers keep scratch state (MIH visited stamps)
        # one add/delete/compaction at a time; taken before _lock. A write holds _lock only to check
        # and to apply, not while its log record is fsynced, so searches go on during the sync
        self._write_mutex = threading.Lock()
        if writable:
            self._writer_lock = WriterLock(directory)
        try:
            self._set_state(load_state(directory, verify_checksums))
            m = self.manifest
            kind = CodeKind.parse(m["kind"], "index kind")
            self.spec = CodeSpec.from_manifest(m, load_codebooks(directory, m) if kind.needs_codebooks else None)
            self.kind: CodeKind = self.spec.kind
            self.n_bits: int = self.spec.n_bits
            self.code_size: int = self.spec.code_size
            self.metric: str = self.spec.metric
            self.codebooks: np.ndarray | None = self.spec.codebooks
            if writable:
                if int(m["format_version"]) < FORMAT_VERSION or self._state.log_version < 2:
                    self._compact()  # upgrade: rewrite as the current format (a new generation)
                else:
                    self._log = codelog.CodeLog(directory / m["log"], self._state.log_end, self._state.log_records)
                remove_orphans(directory, self.manifest)
            elif self.options.follow:
                self._follow(self._state)
        except BaseException:
            self.close()
            raise

    def _set_state(self, state: IndexState) -> None:
        if self._state is not None:
            self._state.close()
        self._state = state
        self.manifest: dict[str, Any] = state.manifest

    def _follow(self, state: IndexState) -> None:
        if self._follower is not None:
            self._follower.close()
        self._follower = LogFollower(self.directory, state.manifest, state.log_end, state.log_records, state.log_version)

    def _catch_up(self) -> None:
        """Apply what the writer committed since the last read (following handles; caller holds ``_lock``):
        a new generation is loaded whole, new log records are replayed (their codes added to the searcher)."""
        f = self._follower
        if f is None:
            return
        if f.generation_changed():
            state = load_state(self.directory, verify_checksums=False)
            self._set_state(state)
            self._follow(state)
            self._searcher = None  # rows may be renumbered: rebuilt on the next search
            return
        for rec in f.new_records():
            self._state.replay(rec)
            if rec.op == codelog.OP_ADD and self._searcher is not None:
                self._searcher.add(self.spec.unpacked(rec.codes))
        self._state.log_end, self._state.log_records = f.end, f.records

    def refresh(self) -> None:
        """Catch up with the writer now (a following handle; a no-op for others)."""
        with self._lock:
            self._catch_up()

    # -- public API ------------------------------------------------------------------------
    def __len__(self) -> int:
        if self._follower is not None:
            self.refresh()
        return len(self._state)

    @property
    def count(self) -> int:
        """Live (not deleted) items."""
        return len(self)

    def _require_writable(self) -> None:
        if not self.writable or self._log is None or self._writer_lock is None:
            raise ConfigError(f"{self.directory} is open read-only; use open_index(..., writable=True)")
        self._writer_lock.check()

    def add(
        self,
        ids: list[str],
        codes: Encoded | np.ndarray,
        metadata: list[dict[str, Any]] | None = None,
        snapshot: bool | None = None,
    ) -> None:
        """Add items; durable (fsynced) when this returns, and visible to searches only once durable.
        Ids must be new (not live in the index). Searches are not blocked while the log is synced.

        Args:
            ids: external string ids ``[n]``.
            codes: ``Encoded`` of this index's kind (or uint8 ``[n, code_size]``).
            metadata: one JSON-serialisable dict per item (default: empty dicts).
            snapshot: True writes the items into a new checksummed snapshot (what a build
                wants), False appends one log record; None (default) picks the snapshot from
                ``options.bulk_threshold`` items on.
        """
        with self._write_mutex:
            with self._lock:
                self._require_writable()
                ids = [str(i) for i in ids]
                data = self.spec.check_codes(codes)
                metadata = self._check_new_items(ids, data, metadata)
                if not ids:
                    return
                if snapshot or (snapshot is None and len(ids) >= self.options.bulk_threshold):
                    self._compact(pending=(ids, data, metadata))
                    return
                record = codelog.encode_add(self._state.next_seq, data, ids, metadata)
            self._log.append(record)  # the fsyncs: outside _lock (only this writer changes the state)
            with self._lock:
                self._state.log_records += 1
                self._state.apply_add(ids, data, metadata)
                if self._searcher is not None:
                    self._searcher.add(self.spec.unpacked(data))
                self._maybe_compact()

    def _check_new_items(self, ids: list[str], data: np.ndarray, metadata: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        """The metadata list of an add (default: empty dicts), after checking counts, ids and JSON."""
        n = len(ids)
        if data.shape[0] != n:
            raise DataError(f"{n} ids but {data.shape[0]} codes")
        metadata = [{} for _ in ids] if metadata is None else list(metadata)
        if len(metadata) != n:
            raise DataError(f"{n} ids but {len(metadata)} metadata entries")
        for i, md in enumerate(metadata):
            if not isinstance(md, dict):
                raise DataError(f"metadata of {ids[i]!r} must be a dict, got {type(md).__name__}")
        if len(set(ids)) != n:
            seen: set[str] = set()
            dup = next(i for i in ids if i in seen or seen.add(i))
            raise DataError(f"id {dup!r} appears twice in one add")
        present = self._state.resolve(ids)
        if present:
            raise DataError(f"{len(present)} ids are already in the index, e.g. {sorted(present)[:5]}; delete them first")
        try:
            json.dumps(metadata, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise DataError(f"metadata must be JSON-serialisable: {exc}") from None
        return metadata

    def delete(self, ids: list[str], missing_ok: bool = False) -> int:
        """Delete items by id (durable when this returns; searches see the delete once it is durable,
        and are not blocked while the log is synced); returns how many were deleted.

        Unknown ids raise DataError unless ``missing_ok``.
        """
        with self._write_mutex:
            with self._lock:
                self._require_writable()
                ids = list(dict.fromkeys(str(i) for i in ids))
                found = self._state.resolve(ids)
                missing = [i for i in ids if i not in found]
                if missing and not missing_ok:
                    raise DataError(f"{len(missing)} ids are not in the index, e.g. {missing[:5]}")
                if not found:
                    return 0
            self._log.append(codelog.encode_delete(list(found)))
            with self._lock:
                self._state.log_records += 1
                self._state.apply_delete(list(found.values()))
                self._maybe_compact()
            return len(found)

    def _maybe_compact(self) -> None:
        """Compact when the tombstones or the log grew past their limits (caller holds both locks)."""
        if len(self._state.dead) > self.options.max_tombstones or (self._log is not None and self._log.size > self.options.max_log_bytes):
            self._require_writable()
            self._compact()

    def compact(self) -> None:
        """Write a new snapshot holding every live item; empties the log and drops tombstones."""
        with self._write_mutex, self._lock:
            self._require_writable()
            self._compact()

    def _compact(self, pending: Pending | None = None) -> None:
        """Write generation N+1 = live items (+ ``pending`` new items, for bulk adds); commit by
        replacing the manifest; then switch to it and delete generation N."""
        old_names = generation_files(self.manifest)
        if self._writer_lock is not None:
            self._writer_lock.check()
        sealed = write_next_generation(self.directory, self._state, pending)
        renumbered = bool(self._state.dead)
        # the new generation is committed; switch over and drop the old files
        if self._log is not None:
            self._log.close()
            self._log = None
        self._set_state(load_state(self.directory, verify_checksums=False))
        if sealed != self.manifest:
            raise IndexCorruptError(f"{self.directory}: the manifest changed while this writer compacted (another writer?)")
        self._log = codelog.CodeLog(self.directory / sealed["log"], self._state.log_end, self._state.log_records)
        if renumbered:  # rows were renumbered
            self._searcher = None
        elif pending is not None and self._searcher is not None:
            self._searcher.add(self.spec.unpacked(pending[1]))
        drop_files(self.directory, old_names, sealed)

    # -- search ----------------------------------------------------------------------------
    def _backend_name(self) -> str:
        o = self.options
        return choose_backend(self.kind, self._state.n_rows, o.backend, o.mih_min_items)

    @property
    def backend(self) -> str:
        """Name of the searcher that answers queries (``native``, ``mih``, ``faiss``, ...; see :class:`IndexOptions`)."""
        return self._backend_name()

    def iter_metadata(self, chunk: int = 20_000, include_deleted: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(id, metadata)`` of every item in row (insertion) order, read ``chunk`` rows at a time.

        Deleted items are skipped unless ``include_deleted`` (they stay in the rows until a
        compaction). Each chunk is read under the index lock; do not add or delete while iterating.
        """
        if chunk <= 0:
            raise ConfigError(f"chunk must be positive, got {chunk}")
        self.refresh()
        start = 0
        while True:
            with self._lock:
                n = self._state.n_rows
                if start >= n:
                    return
                rows = np.arange(start, min(n, start + chunk))
                if not include_deleted:
                    rows = self._state.live_rows(rows)
                items = self._state.items_of_rows(rows)
            yield from items
            start += chunk

    @_current
    def sample_codes(self, n: int, seed: int = 0) -> np.ndarray:
        """Codes (binary: ``[min(n, live), code_size]``; pq: ``[min(n, live), M]``) of live items drawn at random."""
        rows = self._state.live_rows(np.arange(self._state.n_rows))
        pick = np.sort(np.random.default_rng(seed).choice(rows, size=min(int(n), len(rows)), replace=False))
        return np.ascontiguousarray(self.spec.unpacked(self._state.all_codes()[pick]))

    def searcher(self):
        """The in-memory searcher (built on first use from the stored codes; see :mod:`.searchers`)."""
        if self._searcher is None:
            self._searcher = build_searcher(
                self._backend_name(), self.kind, self.spec.unpacked(self._state.all_codes()), self.directory,
                code_size=self.code_size, codebooks=self.codebooks, metric=self.metric,
                options=self.options.searcher_options)
        return self._searcher

    def _tombstones(self) -> Tombstones:
        return self._state.tombstones()

    @_current
    def search_rows(self, query: Encoded | np.ndarray, k: int = 10) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query ``(distances [<=k], rows [<=k])`` ordered by (distance, row); no id lookup."""
        if k <= 0:
            raise ConfigError(f"k must be positive, got {k}")
        q = self.spec.check_query(query)
        return self.searcher().search(q, k, self._tombstones())

    @_locked
    def row_seqs(self, rows: np.ndarray) -> np.ndarray:
        """Insertion numbers (int64, stable across compactions) of the rows a ``search_rows`` returned."""
        return self._state.seqs[np.asarray(rows, dtype=np.int64)]

    @_locked
    def results_of_rows(self, dist: np.ndarray, rows: np.ndarray) -> SearchResult:
        """Ids and metadata of rows a ``search_rows`` returned (with their distances), in the given order."""
        return self._results(np.asarray(dist), np.asarray(rows, dtype=np.int64))

    @_current
    def search(self, query: Encoded | np.ndarray, k: int = 10) -> list[SearchResult]:
        """Top-k live items per query, with ids, distances (lower = closer) and metadata.

        Binary: Hamming distance to binary query codes. PQ: ADC distance of float queries
        ``[nq, M*d]`` (``l2``: squared distance; ``ip``: minus the inner product).
        """
        return self._results_batch(self.search_rows(query, k))

    def search_partial(self, query: Encoded | np.ndarray, k: int = 10) -> tuple[list[SearchResult], list[int]]:
        """:meth:`search` and no missing shard (one local index is always searched whole)."""
        return self.search(query, k), []

    @_current
    def search_radius(self, query: Encoded | np.ndarray, radius: int) -> list[SearchResult]:
        """Binary only: every live item within Hamming distance ``radius``, by (distance, row)."""
        if not self.kind.hamming:
            raise ConfigError("radius search is defined for binary indexes (Hamming distance)")
        q = self.spec.check_query(query)
        return self._results_batch(self.searcher().range_search(q, int(radius), self._tombstones()))

    def _results(self, dist: np.ndarray, rows: np.ndarray) -> SearchResult:
        return result_of_rows(self._state, dist, rows)

    def _results_batch(self, found: list[tuple[np.ndarray, np.ndarray]]) -> list[SearchResult]:
        return results_of_batch(self._state, found)

    @_current
    def get(self, ids: list[str]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
        """id -> (code uint8 [code_size] (pq: [M]), metadata) for the live ids among ``ids``."""
        found = self._state.resolve(list(ids))
        rows = np.searchsorted(self._state.seqs, np.array(list(found.values()), dtype=np.int64))
        codes = self.spec.unpacked(self._state.codes_of_rows(rows))
        metas = self._results(np.zeros(len(rows)), rows)
        return {i: (c, md) for i, c, md in zip(metas.ids, codes, metas.metadata)}

    # -- integrity -------------------------------------------------------------------------
    def verify(self) -> VerifyReport:
        """See :func:`verify_index` (re-reads the files on disk, not the in-memory state)."""
        return verify_index(self.directory)

    @_current
    def info(self) -> dict[str, Any]:
        """Summary: kind, bits, counts, generation, files and bytes per item (disk, memory)."""
        m, st = self.manifest, self._state
        disk = sum(e["bytes"] for e in m["files"].values())
        log_bytes = st.log_end if self._log is None else self._log.size
        codes_bytes = m["files"]["codes"]["bytes"] + sum(c.nbytes for c in st.log_codes)
        n = max(1, len(self))
        out = {
            "directory": str(self.directory),
            "kind": self.kind,
            "n_bits": self.n_bits,
            "code_size": self.code_size,
            "pq": m.get("pq"),
            "count": len(self),
            "rows": st.n_rows,
            "deleted_pending": len(st.dead),
            "generation": int(m["generation"]),
            "format_version": int(m["format_version"]),
            "log_records": st.log_records,
            "log_bytes": log_bytes,
            "model_dir": m.get("model_dir"),
            "teacher": m.get("teacher"),
            "extra": m.get("extra", {}),
            "created": m.get("created"),
            "updated": m.get("updated"),
            "backend": self._backend_name(),
            "disk_bytes": disk + log_bytes,
            "disk_bytes_per_item": (disk + log_bytes) / n,
            "code_bytes_per_item": codes_bytes / max(1, st.n_rows),
            "files": {k: {"name": e["name"], "bytes": e["bytes"]} for k, e in m["files"].items()},
        }
        if self._searcher is not None:
            out["memory_bytes_per_item"] = self._searcher.nbytes() / n
        return out

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        with self._write_mutex:  # after a write in progress (its log append) has finished
            self._close()

    def _close(self) -> None:
        if self._follower is not None:
            self._follower.close()
            self._follower = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._state is not None:
            self._state.close()
        if self._writer_lock is not None:
            self._writer_lock.release()
            self._writer_lock = None

    def __enter__(self) -> CodeIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CodeIndex({str(self.directory)!r}, kind={self.kind!r}, n_bits={self.n_bits}, count={len(self)})"
