"""The code index: binary or PQ codes + external ids + metadata, durable on disk.

Example:
    >>> import numpy as np, tempfile
    >>> from distilhash.codes import Encoded
    >>> from distilhash.index import create_index, open_index
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
never returns a deleted item.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import threading
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import ConfigError, DataError, DistilhashError, IndexCorruptError
from distilhash.index import codelog
from distilhash.index.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    LOCK,
    MANIFEST,
    check_files,
    gen_name,
    read_manifest,
    write_manifest,
)
from distilhash.index.metastore import MetaStore, write_store
from distilhash.index.topk import Tombstones
from distilhash.io_utils import atomic_write_bytes, sha256_file

__all__ = ["CodeIndex", "SearchResult", "VerifyReport", "IndexLockedError", "create_index", "open_index", "verify_index", "IndexOptions"]


class IndexLockedError(DistilhashError):
    """Another process holds the index open for writing."""


class SearchResult(NamedTuple):
    """Results of one query, best first: external ids, distances (lower = closer), metadata."""

    ids: list[str]
    distances: np.ndarray
    metadata: list[dict[str, Any]]


@dataclass
class VerifyReport:
    """Outcome of :meth:`CodeIndex.verify`: ``ok`` is False when any problem was found."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files_checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


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
    """

    backend: str = "auto"
    bulk_threshold: int = 50_000
    max_log_bytes: int = 64 << 20
    max_tombstones: int = 1024
    mih_min_items: int = 50_000
    searcher_options: dict[str, Any] = field(default_factory=dict)


_GEN_FILE = re.compile(r"^(codes|seqs|meta|log)\.g(\d+)\.(npy|sqlite|bin)$")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _file_entry(directory: Path, name: str, data: bytes | None = None) -> dict[str, Any]:
    import hashlib

    path = directory / name
    digest = hashlib.sha256(data).hexdigest() if data is not None else sha256_file(path)
    return {"name": name, "bytes": path.stat().st_size, "sha256": digest}


def create_index(
    directory: str | Path,
    kind: str = "binary",
    n_bits: int | None = None,
    codebooks: np.ndarray | None = None,
    metric: str = "l2",
    model_dir: str | Path | None = None,
    teacher: str | None = None,
    extra: dict[str, Any] | None = None,
    options: IndexOptions | None = None,
) -> CodeIndex:
    """Create an empty index in ``directory`` (must not hold one) and open it for writing.

    Args:
        kind: ``binary`` (packed bits, Hamming) or ``pq`` (codeword indices, ADC).
        n_bits: code length L for binary codes (for pq it follows from the codebooks).
        codebooks: float32 ``[M, K, d]`` for pq.
        metric: pq query metric, ``l2`` or ``ip``.
        model_dir, teacher: the model and teacher that made the codes (used by the query path).
        extra: anything else to record in the manifest.
    """
    directory = Path(directory)
    if (directory / MANIFEST).exists():
        raise ConfigError(f"{directory} already holds an index; open it with open_index or choose another directory")
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    pq_info = None
    if kind == "binary":
        if not n_bits or n_bits <= 0:
            raise ConfigError("a binary index needs n_bits > 0")
        code_size = (n_bits + 7) // 8
    elif kind == "pq":
        if codebooks is None or np.asarray(codebooks).ndim != 3:
            raise ConfigError("a pq index needs codebooks float32 [M, K, d]")
        if metric not in ("l2", "ip"):
            raise ConfigError(f"pq metric {metric!r}; expected 'l2' or 'ip'")
        codebooks = np.ascontiguousarray(codebooks, dtype=np.float32)
        m, k, d = codebooks.shape
        if k > 256:
            raise ConfigError(f"pq codebooks have K={k} codewords; codes are uint8, so K <= 256")
        code_size = m
        bits = int(np.ceil(np.log2(k)))
        if n_bits is not None and n_bits != m * bits:
            raise ConfigError(f"n_bits={n_bits} contradicts codebooks [M={m}, K={k}] (M*log2 K = {m * bits})")
        n_bits = m * bits
        data = _npy_bytes(codebooks)
        atomic_write_bytes(directory / "codebooks.npy", data)
        files["codebooks"] = _file_entry(directory, "codebooks.npy", data)
        pq_info = {"M": m, "K": k, "d": d, "metric": metric}
    else:
        raise ConfigError(f"index kind {kind!r}; expected 'binary' or 'pq'")
    uid = uuidlib.uuid4()
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "n_bits": int(n_bits),
        "code_size": int(code_size),
        "pq": pq_info,
        "model_dir": str(model_dir) if model_dir is not None else None,
        "teacher": teacher,
        "extra": extra or {},
        "uuid": uid.hex,
        "generation": 0,
        "count": 0,
        "next_seq": 0,
        "created": _now(),
        "updated": _now(),
        "files": files,
        "log": gen_name("log", 0, ".bin"),
    }
    _write_generation(directory, manifest, np.zeros((0, code_size), np.uint8), np.zeros(0, np.int64), None, [], [])
    return open_index(directory, writable=True, options=options)


def _write_generation(
    directory: Path,
    manifest: dict[str, Any],
    codes: np.ndarray,
    seqs: np.ndarray,
    base_store: Path | None,
    delete_seqs: list[int],
    new_items: list[tuple[int, str, dict[str, Any]]],
) -> dict[str, Any]:
    """Write snapshot files of ``manifest['generation']`` and then the manifest (the commit point)."""
    g = int(manifest["generation"])
    files = {k: v for k, v in manifest["files"].items() if k == "codebooks"}
    for role, array in (("codes", codes), ("seqs", seqs)):
        name = gen_name(role, g, ".npy")
        data = _npy_bytes(np.ascontiguousarray(array))
        atomic_write_bytes(directory / name, data)
        files[role] = _file_entry(directory, name, data)
    meta_name = gen_name("meta", g, ".sqlite")
    write_store(directory / meta_name, base_store, delete_seqs, new_items)
    files["meta"] = _file_entry(directory, meta_name)
    log_name = gen_name("log", g, ".bin")
    codelog.write_empty_log(directory / log_name, bytes.fromhex(manifest["uuid"]), g)
    out = dict(manifest, files=files, log=log_name, count=int(codes.shape[0]), updated=_now())
    return write_manifest(directory, out)


def open_index(
    directory: str | Path,
    writable: bool = False,
    verify_checksums: bool = True,
    options: IndexOptions | None = None,
) -> CodeIndex:
    """Open an index; every file is checked against the manifest (sizes and, by default, sha256).

    Raises:
        IndexCorruptError: the directory is not an index, or is damaged, truncated or of an
            unsupported format version.
        IndexLockedError: ``writable=True`` and another process is writing.
    """
    return CodeIndex(Path(directory), writable=writable, verify_checksums=verify_checksums, options=options)


def verify_index(directory: str | Path, options: IndexOptions | None = None) -> VerifyReport:
    """Re-read every file of an index without trusting it: manifest seal, sizes and sha256, log
    record checksums, SQLite integrity, agreement between codes, seqs and the metadata store,
    and a full replay of the log. Never raises for damage; the report lists what is wrong."""
    rep = VerifyReport()
    d = Path(directory)
    try:
        m = read_manifest(d)
    except IndexCorruptError as exc:
        rep.problems.append(str(exc))
        return rep
    rep.files_checked.append(MANIFEST)
    rep.problems += check_files(d, m, checksums=True)
    rep.files_checked += [e["name"] for e in m["files"].values()]
    if rep.problems:
        return rep
    try:
        contents = codelog.read_log(d / m["log"], bytes.fromhex(m["uuid"]), int(m["generation"]), int(m["code_size"]))
        rep.files_checked.append(m["log"])
        rep.notes.append(f"log: {len(contents.records)} records, {contents.valid_end} bytes")
        if contents.torn_bytes:
            rep.notes.append(f"log ends with an interrupted append of {contents.torn_bytes} bytes (never acknowledged; ignored)")
        store = MetaStore(d / m["files"]["meta"]["name"])
        try:
            rep.problems += store.integrity_problems()
            seqs = np.load(d / m["files"]["seqs"]["name"], allow_pickle=False)
            if not np.array_equal(store.all_seqs(), seqs):
                rep.problems.append("metadata store and seqs file list different items")
        finally:
            store.close()
        CodeIndex(d, writable=False, verify_checksums=False, options=options).close()
    except (IndexCorruptError, ValueError, OSError) as exc:
        rep.problems.append(str(exc))
    return rep


def _locked(method):
    """Run ``method`` under the index's lock (one search or update at a time per open index)."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class CodeIndex:
    """An open index (see module docstring). Create with :func:`create_index` / :func:`open_index`."""

    def __init__(self, directory: Path, writable: bool, verify_checksums: bool, options: IndexOptions | None) -> None:
        self.directory = directory
        self.options = options or IndexOptions()
        self.writable = writable
        self._lock_fd: int | None = None
        self._log: codelog.CodeLog | None = None
        self._store: MetaStore | None = None
        self._searcher: Any = None
        self._lock = threading.RLock()  # searchers keep scratch state (MIH visited stamps)
        if writable:
            self._acquire_lock()
        try:
            self._load(verify_checksums)
            if writable:
                self._log = codelog.CodeLog(directory / self.manifest["log"], self._log_end)
                self._remove_orphans()
        except BaseException:
            self.close()
            raise

    # -- opening ---------------------------------------------------------------------------
    def _acquire_lock(self) -> None:
        fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IndexLockedError(f"{self.directory}: another process has this index open for writing") from None
        self._lock_fd = fd

    def _load(self, verify_checksums: bool) -> None:
        d = self.directory
        m = read_manifest(d)
        problems = check_files(d, m, checksums=verify_checksums)
        if problems:
            raise IndexCorruptError(f"{d}: " + "; ".join(problems))
        self.manifest = m
        self.kind: str = m["kind"]
        self.n_bits: int = int(m["n_bits"])
        self.code_size: int = int(m["code_size"])
        self.metric: str = (m.get("pq") or {}).get("metric", "l2")
        self.codebooks: np.ndarray | None = None
        if self.kind == "pq":
            self.codebooks = self._load_npy("codebooks", np.float32, None)
            pq = m["pq"]
            if self.codebooks.shape != (pq["M"], pq["K"], pq["d"]):
                raise IndexCorruptError(f"{d}: codebooks have shape {self.codebooks.shape}; manifest says {(pq['M'], pq['K'], pq['d'])}")
        count = int(m["count"])
        codes = self._load_npy("codes", np.uint8, (count, self.code_size))
        seqs = self._load_npy("seqs", np.int64, (count,))
        if count and (np.any(np.diff(seqs) <= 0) or seqs[0] < 0 or seqs[-1] >= int(m["next_seq"])):
            raise IndexCorruptError(f"{d}: {m['files']['seqs']['name']} is not strictly ascending below next_seq")
        if self.kind == "pq" and count and int(codes.max()) >= m["pq"]["K"]:
            raise IndexCorruptError(f"{d}: pq codes reference codeword {int(codes.max())} >= K={m['pq']['K']}")
        self._store = MetaStore(d / m["files"]["meta"]["name"])
        if self._store.count() != count:
            raise IndexCorruptError(f"{d}: metadata store holds {self._store.count()} items; manifest says {count}")
        self._snap_codes = codes
        self._snap_count = count
        self._seq_parts: list[np.ndarray] = [seqs]
        self._seqs_cache: np.ndarray | None = seqs
        self._log_codes: list[np.ndarray] = []
        self._log_items: dict[int, tuple[str, dict[str, Any]]] = {}  # seq -> (id, meta)
        self._log_ids: dict[str, int] = {}  # id -> newest seq added through the log
        self._dead: set[int] = set()  # deleted seqs
        self._next_seq = int(m["next_seq"])
        self._n_rows = count
        self._tomb: Tombstones | None = None
        contents = codelog.read_log(d / m["log"], bytes.fromhex(m["uuid"]), int(m["generation"]), self.code_size)
        self._log_end = contents.valid_end
        self._log_torn = contents.torn_bytes
        self._log_records = len(contents.records)
        for rec in contents.records:
            self._replay(rec)

    def _load_npy(self, role: str, dtype, shape: tuple[int, ...] | None) -> np.ndarray:
        entry = self.manifest["files"][role]
        path = self.directory / entry["name"]
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise IndexCorruptError(f"{path}: unreadable array ({exc})") from None
        if arr.dtype != dtype or (shape is not None and arr.shape != shape):
            raise IndexCorruptError(f"{path}: array {arr.dtype} {arr.shape}; expected {np.dtype(dtype)} {shape}")
        return arr

    def _replay(self, rec: codelog.LogRecord) -> None:
        if rec.op == codelog.OP_ADD:
            if rec.first_seq != self._next_seq:
                raise IndexCorruptError(f"{self.directory}: log add starts at seq {rec.first_seq}; expected {self._next_seq}")
            self._apply_add(rec.ids, rec.codes, rec.meta)
        else:
            found = self._resolve(rec.ids)
            missing = [i for i in rec.ids if i not in found]
            if missing:
                raise IndexCorruptError(f"{self.directory}: log deletes unknown ids {missing[:5]}")
            self._apply_delete(list(found.values()))

    def _remove_orphans(self) -> None:
        """Delete files of other generations left by an interrupted compaction."""
        keep = {e["name"] for e in self.manifest["files"].values()} | {self.manifest["log"]}
        for p in self.directory.iterdir():
            if (_GEN_FILE.match(p.name) and p.name not in keep) or (p.name.startswith(".") and p.name.endswith(".tmp")):
                p.unlink(missing_ok=True)

    # -- bookkeeping -----------------------------------------------------------------------
    @property
    def _seqs(self) -> np.ndarray:
        if self._seqs_cache is None:
            self._seqs_cache = np.concatenate(self._seq_parts)
            self._seq_parts = [self._seqs_cache]
        return self._seqs_cache

    def _apply_add(self, ids: list[str], codes: np.ndarray, meta: list[dict[str, Any]]) -> None:
        n = len(ids)
        seqs = np.arange(self._next_seq, self._next_seq + n, dtype=np.int64)
        for s, i, md in zip(seqs.tolist(), ids, meta):
            self._log_items[s] = (i, md)
            self._log_ids[i] = s
        self._log_codes.append(codes)
        self._seq_parts.append(seqs)
        self._seqs_cache = None
        self._next_seq += n
        self._n_rows += n
        if self._searcher is not None:
            self._searcher.add(codes)
        self._tomb = None

    def _apply_delete(self, seqs: list[int]) -> None:
        self._dead.update(seqs)
        self._tomb = None

    def _tombstones(self) -> Tombstones:
        if self._tomb is None:
            dead = np.fromiter(self._dead, dtype=np.int64, count=len(self._dead))
            rows = np.searchsorted(self._seqs, np.sort(dead))
            self._tomb = Tombstones(rows, self._n_rows)
        return self._tomb

    def _resolve(self, ids: list[str]) -> dict[str, int]:
        """id -> seq of the live items among ``ids``."""
        out: dict[str, int] = {}
        if self._n_rows == len(self._dead):
            return out
        rest = []
        for i in ids:
            s = self._log_ids.get(i)
            if s is not None and s not in self._dead:
                out[i] = s
            else:
                rest.append(i)
        if rest and self._store is not None:
            for i, s in self._store.seqs_of(rest).items():
                if s not in self._dead:
                    out[i] = s
        return out

    def _all_codes(self) -> np.ndarray:
        parts = [np.asarray(self._snap_codes)] + self._log_codes
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    # -- public API ------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n_rows - len(self._dead)

    @property
    def count(self) -> int:
        """Live (not deleted) items."""
        return len(self)

    def _check_codes(self, codes: Encoded | np.ndarray, what: str = "codes") -> np.ndarray:
        if isinstance(codes, Encoded):
            if codes.kind != self.kind:
                raise DataError(f"{what} are {codes.kind!r} codes; this index holds {self.kind!r} codes")
            if self.kind == "binary" and codes.n_bits != self.n_bits:
                raise DataError(f"{what} have {codes.n_bits} bits; this index holds {self.n_bits}-bit codes")
            if self.kind == "pq":
                if codes.metric != self.metric:
                    raise DataError(f"{what} use metric {codes.metric!r}; this index uses {self.metric!r}")
                if not np.array_equal(np.asarray(codes.codebooks, np.float32), self.codebooks):
                    raise DataError(f"{what} were made with other codebooks than this index's")
            data = codes.data
        else:
            data = np.asarray(codes)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != self.code_size:
            raise DataError(f"{what} must be uint8 [n, {self.code_size}]; got {data.dtype} {data.shape}")
        if self.kind == "pq" and data.size and int(data.max()) >= self.manifest["pq"]["K"]:
            raise DataError(f"{what} reference codeword {int(data.max())}; codebooks have K={self.manifest['pq']['K']}")
        return np.ascontiguousarray(data)

    def _require_writable(self) -> None:
        if not self.writable or self._log is None:
            raise ConfigError(f"{self.directory} is open read-only; use open_index(..., writable=True)")

    @_locked
    def add(self, ids: list[str], codes: Encoded | np.ndarray, metadata: list[dict[str, Any]] | None = None) -> None:
        """Add items; durable (fsynced) when this returns. Ids must be new (not live in the index).

        Args:
            ids: external string ids ``[n]``.
            codes: ``Encoded`` of this index's kind (or uint8 ``[n, code_size]``).
            metadata: one JSON-serialisable dict per item (default: empty dicts).
        """
        self._require_writable()
        ids = [str(i) for i in ids]
        data = self._check_codes(codes)
        n = len(ids)
        if data.shape[0] != n:
            raise DataError(f"{n} ids but {data.shape[0]} codes")
        metadata = [{} for _ in ids] if metadata is None else list(metadata)
        if len(metadata) != n:
            raise DataError(f"{n} ids but {len(metadata)} metadata entries")
        for i, md in enumerate(metadata):
            if not isinstance(md, dict):
                raise DataError(f"metadata of {ids[i]!r} must be a dict, got {type(md).__name__}")
        if n == 0:
            return
        if len(set(ids)) != n:
            seen: set[str] = set()
            dup = next(i for i in ids if i in seen or seen.add(i))
            raise DataError(f"id {dup!r} appears twice in one add")
        present = self._resolve(ids)
        if present:
            raise DataError(f"{len(present)} ids are already in the index, e.g. {sorted(present)[:5]}; delete them first")
        try:
            json.dumps(metadata, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise DataError(f"metadata must be JSON-serialisable: {exc}") from None
        if n >= self.options.bulk_threshold:
            self._compact(pending=(ids, data, metadata))
            return
        self._log.append(codelog.encode_add(self._next_seq, data, ids, metadata))
        self._log_records += 1
        self._apply_add(ids, data, metadata)
        self._maybe_compact()

    @_locked
    def delete(self, ids: list[str], missing_ok: bool = False) -> int:
        """Delete items by id (durable when this returns); returns how many were deleted.

        Unknown ids raise DataError unless ``missing_ok``.
        """
        self._require_writable()
        ids = list(dict.fromkeys(str(i) for i in ids))
        found = self._resolve(ids)
        missing = [i for i in ids if i not in found]
        if missing and not missing_ok:
            raise DataError(f"{len(missing)} ids are not in the index, e.g. {missing[:5]}")
        if not found:
            return 0
        self._log.append(codelog.encode_delete(list(found)))
        self._log_records += 1
        self._apply_delete(list(found.values()))
        self._maybe_compact()
        return len(found)

    def _maybe_compact(self) -> None:
        if len(self._dead) > self.options.max_tombstones or (self._log is not None and self._log.size > self.options.max_log_bytes):
            self.compact()

    @_locked
    def compact(self) -> None:
        """Write a new snapshot holding every live item; empties the log and drops tombstones."""
        self._require_writable()
        self._compact()

    def _compact(self, pending: tuple[list[str], np.ndarray, list[dict[str, Any]]] | None = None) -> None:
        """Write generation N+1 = live items (+ ``pending`` new items, for bulk adds); commit by
        replacing the manifest; then switch the in-memory state and delete generation N."""
        import itertools

        m = self.manifest
        seqs = self._seqs
        codes = self._all_codes()
        dead = self._dead
        if dead:
            alive = ~np.isin(seqs, np.fromiter(dead, np.int64, len(dead)))
            seqs, codes = seqs[alive], codes[alive]
        delete_snap = sorted(s for s in dead if s not in self._log_items)  # deleted snapshot items
        new_items: Any = ((s, i, md) for s, (i, md) in self._log_items.items() if s not in dead)  # seq order
        next_seq = self._next_seq
        if pending is not None:
            p_ids, p_codes, p_meta = pending
            p_seqs = np.arange(next_seq, next_seq + len(p_ids), dtype=np.int64)
            seqs = np.concatenate([seqs, p_seqs])
            codes = np.concatenate([codes, p_codes])
            new_items = itertools.chain(new_items, zip(p_seqs.tolist(), p_ids, p_meta))
            next_seq += len(p_ids)
        new_manifest = dict(m, generation=int(m["generation"]) + 1, next_seq=next_seq)
        old_names = {e["name"] for e in m["files"].values()} | {m["log"]}
        old_store = self.directory / m["files"]["meta"]["name"]
        sealed = _write_generation(self.directory, new_manifest, codes, seqs, old_store, delete_snap, new_items)
        # the new generation is committed; switch over and drop the old files
        if self._store is not None:
            self._store.close()
        if self._log is not None:
            self._log.close()
        self.manifest = sealed
        self._store = MetaStore(self.directory / sealed["files"]["meta"]["name"])
        self._snap_codes = np.load(self.directory / sealed["files"]["codes"]["name"], mmap_mode="r")
        self._snap_count = int(sealed["count"])
        self._seq_parts = [seqs]
        self._seqs_cache = seqs
        self._log_codes, self._log_items, self._log_ids = [], {}, {}
        renumbered = bool(dead)
        self._next_seq = next_seq
        if pending is not None and self._searcher is not None and not renumbered:
            self._searcher.add(pending[1])
        self._dead = set()
        self._n_rows = self._snap_count
        self._tomb = None
        self._log = codelog.CodeLog(self.directory / sealed["log"], codelog.HEADER_SIZE)
        self._log_end, self._log_torn, self._log_records = codelog.HEADER_SIZE, 0, 0
        if renumbered:
            self._searcher = None
        keep = {e["name"] for e in sealed["files"].values()} | {sealed["log"]}
        for name in old_names - keep:
            (self.directory / name).unlink(missing_ok=True)

    # -- search ----------------------------------------------------------------------------
    def _backend_name(self) -> str:
        name = self.options.backend
        if name != "auto":
            return name
        from distilhash.index import native

        try:
            import faiss  # noqa: F401

            has_faiss = True
        except ImportError:  # pragma: no cover - faiss is optional
            has_faiss = False
        flat = "native" if native.available() else ("faiss" if has_faiss else "numpy")
        if self.kind == "pq":
            return flat
        if self._n_rows >= self.options.mih_min_items:
            return "mih"
        return "faiss-flat" if flat == "faiss" else flat

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
        start = 0
        while True:
            with self._lock:
                n = self._n_rows
                if start >= n:
                    return
                rows = np.arange(start, min(n, start + chunk))
                if self._dead and not include_deleted:
                    seqs = self._seqs[rows]
                    rows = rows[~np.isin(seqs, np.fromiter(self._dead, np.int64, len(self._dead)))]
                res = self._results(np.zeros(len(rows)), rows)
            yield from zip(res.ids, res.metadata)
            start += chunk

    @_locked
    def sample_codes(self, n: int, seed: int = 0) -> np.ndarray:
        """Codes uint8 ``[min(n, live), code_size]`` of live items drawn at random without replacement."""
        rows = np.arange(self._n_rows)
        if self._dead:
            rows = rows[~np.isin(self._seqs[rows], np.fromiter(self._dead, np.int64, len(self._dead)))]
        pick = np.sort(np.random.default_rng(seed).choice(rows, size=min(int(n), len(rows)), replace=False))
        return np.ascontiguousarray(self._all_codes()[pick])

    def searcher(self):
        """The in-memory searcher (built on first use from the stored codes)."""
        if self._searcher is None:
            name = self._backend_name()
            if self.kind == "binary":
                from distilhash.index.binary import BINARY_SEARCHERS
                from distilhash.index import mih  # noqa: F401  (registers "mih")

                s = BINARY_SEARCHERS.create(name, self.code_size, **self.options.searcher_options)
            else:
                from distilhash.index import ivf  # noqa: F401  (registers "ivf")
                from distilhash.index.pq import PQ_SEARCHERS

                s = PQ_SEARCHERS.create(name, self.codebooks, self.metric, **self.options.searcher_options)
            s.add(self._all_codes())
            self._searcher = s
        return self._searcher

    def _check_query(self, query: Encoded | np.ndarray) -> np.ndarray:
        if self.kind == "binary":
            return self._check_codes(query, what="queries")
        if isinstance(query, Encoded):
            if query.kind != "float":
                raise DataError(f"a pq index is searched with continuous (float) queries, got {query.kind!r} codes")
            data = query.data
        else:
            data = np.asarray(query)
        m, _, d = self.codebooks.shape
        if data.ndim != 2 or data.shape[1] != m * d:
            raise DataError(f"queries must be float32 [nq, {m * d}]; got {data.shape}")
        if not np.isfinite(data).all():
            raise DataError("queries contain NaN or infinite values")
        return np.ascontiguousarray(data, dtype=np.float32)

    @_locked
    def search_rows(self, query: Encoded | np.ndarray, k: int = 10) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query ``(distances [<=k], rows [<=k])`` ordered by (distance, row); no id lookup."""
        if k <= 0:
            raise ConfigError(f"k must be positive, got {k}")
        q = self._check_query(query)
        return self.searcher().search(q, k, self._tombstones())

    @_locked
    def search(self, query: Encoded | np.ndarray, k: int = 10) -> list[SearchResult]:
        """Top-k live items per query, with ids, distances (lower = closer) and metadata.

        Binary: Hamming distance to binary query codes. PQ: ADC distance of float queries
        ``[nq, M*d]`` (``l2``: squared distance; ``ip``: minus the inner product).
        """
        return [self._results(d, r) for d, r in self.search_rows(query, k)]

    @_locked
    def search_radius(self, query: Encoded | np.ndarray, radius: int) -> list[SearchResult]:
        """Binary only: every live item within Hamming distance ``radius``, by (distance, row)."""
        if self.kind != "binary":
            raise ConfigError("radius search is defined for binary indexes (Hamming distance)")
        q = self._check_query(query)
        return [self._results(d, r) for d, r in self.searcher().range_search(q, int(radius), self._tombstones())]

    def _results(self, dist: np.ndarray, rows: np.ndarray) -> SearchResult:
        seqs = self._seqs[rows].tolist()
        found: dict[int, tuple[str, dict[str, Any]]] = {}
        need = []
        for s in seqs:
            if s in self._log_items:
                found[s] = self._log_items[s]
            else:
                need.append(s)
        if need:
            found.update(self._store.items_of(need))
        missing = [s for s in seqs if s not in found]
        if missing:
            raise IndexCorruptError(f"{self.directory}: rows without metadata entries (seqs {missing[:5]})")
        return SearchResult([found[s][0] for s in seqs], dist, [found[s][1] for s in seqs])

    @_locked
    def get(self, ids: list[str]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
        """id -> (code uint8 [code_size], metadata) for the live ids among ``ids``."""
        found = self._resolve(list(ids))
        rows = np.searchsorted(self._seqs, np.array(list(found.values()), dtype=np.int64))
        codes = self._all_codes()
        metas = self._results(np.zeros(len(rows)), rows)
        return {i: (codes[r], md) for i, r, md in zip(metas.ids, rows, metas.metadata)}

    # -- integrity -------------------------------------------------------------------------
    def verify(self) -> VerifyReport:
        """See :func:`verify_index` (re-reads the files on disk, not the in-memory state)."""
        return verify_index(self.directory, self.options)

    @_locked
    def info(self) -> dict[str, Any]:
        """Summary: kind, bits, counts, generation, files and bytes per item (disk, memory)."""
        m = self.manifest
        disk = sum((self.directory / e["name"]).stat().st_size for e in m["files"].values())
        log_bytes = (self.directory / m["log"]).stat().st_size
        codes_bytes = m["files"]["codes"]["bytes"] + sum(c.nbytes for c in self._log_codes)
        n = max(1, len(self))
        out = {
            "directory": str(self.directory),
            "kind": self.kind,
            "n_bits": self.n_bits,
            "code_size": self.code_size,
            "pq": m.get("pq"),
            "count": len(self),
            "rows": self._n_rows,
            "deleted_pending": len(self._dead),
            "generation": int(m["generation"]),
            "log_records": self._log_records,
            "log_bytes": log_bytes,
            "model_dir": m.get("model_dir"),
            "teacher": m.get("teacher"),
            "extra": m.get("extra", {}),
            "created": m.get("created"),
            "updated": m.get("updated"),
            "backend": self._backend_name(),
            "disk_bytes": disk + log_bytes,
            "disk_bytes_per_item": (disk + log_bytes) / n,
            "code_bytes_per_item": codes_bytes / max(1, self._n_rows),
            "files": {k: {"name": e["name"], "bytes": e["bytes"]} for k, e in m["files"].items()},
        }
        if self._searcher is not None:
            out["memory_bytes_per_item"] = self._searcher.nbytes() / n
        return out

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> CodeIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CodeIndex({str(self.directory)!r}, kind={self.kind!r}, n_bits={self.n_bits}, count={len(self)})"
