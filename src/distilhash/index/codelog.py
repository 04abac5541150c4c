"""Append-only operation log: durable incremental adds and deletes between snapshots.

File layout (little-endian, version 2)::

    file header   b"DHLOG\\0" + u16 version + 16-byte index uuid + u64 generation + u32 crc32   (36 B)
    commit block  u64 acknowledged_bytes + u64 acknowledged_records + u32 crc32              (20 B)
    record        b"RC" + u8 op + u8 0 + u32 payload_len + u32 crc32(first 8 bytes)
                  payload + u32 crc32(payload)

``op`` 1 = add: payload ``u64 first_seq, u32 n, u32 code_size, codes (n * code_size bytes),
JSON {"ids": [...], "meta": [...]}``; op 2 = delete: payload JSON ``{"ids": [...]}``.

An append writes the record after the acknowledged end and ``fsync``s it, then rewrites the
commit block in place (one 20-byte ``pwrite`` inside the first sector) and ``fdatasync``s:
only then does :meth:`CodeLog.append` return. So the file itself says how much of it was
acknowledged:

- bytes past ``acknowledged_bytes`` are an append that was interrupted before it was
  acknowledged (a crash between the two syncs, or inside the first): ignored, and trimmed by
  the next writer;
- a file shorter than ``acknowledged_bytes``, a record cut by that end, a different record count
  or any checksum mismatch is damage (IndexCorruptError): acknowledged data would otherwise be
  lost silently. A log cut exactly at a record boundary is therefore caught too.

Version 1 logs (format 1 indexes) have no commit block: they are read as before (a cut at a
record boundary cannot be told from a shorter log) and upgraded by the first writer.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import IndexCorruptError

__all__ = ["CodeLog", "LogRecord", "LogContents", "read_log", "decode_records", "read_commit", "write_empty_log", "OP_ADD", "OP_DELETE", "HEADER_SIZE"]

OP_ADD = 1
OP_DELETE = 2
_FILE_MAGIC = b"DHLOG\x00"
_VERSION = 2
_LEGACY_VERSION = 1
_FILE_HEADER = struct.Struct("<6sH16sQ")  # magic, version, uuid, generation
_COMMIT = struct.Struct("<QQ")  # acknowledged bytes, acknowledged records
_REC_HEADER = struct.Struct("<2sBBI")  # magic, op, flags, payload length
_ADD_HEAD = struct.Struct("<QII")  # first seq, n, code size
_CRC = struct.Struct("<I")
_COMMIT_AT = _FILE_HEADER.size + _CRC.size  # offset of the commit block
HEADER_SIZE = _COMMIT_AT + _COMMIT.size + _CRC.size  # first record of a version-2 log
_LEGACY_HEADER_SIZE = _COMMIT_AT


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass
class LogRecord:
    """One decoded log record."""

    op: int
    ids: list[str]
    first_seq: int = 0
    codes: np.ndarray | None = None
    meta: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class LogContents:
    """The acknowledged records of a log, where they end, and what follows them."""

    records: list[LogRecord]
    valid_end: int  # byte offset just past the last acknowledged record
    file_size: int
    version: int = _VERSION

    @property
    def torn_bytes(self) -> int:
        """Bytes of an interrupted, unacknowledged last append (0 when there is none)."""
        return self.file_size - self.valid_end


def _commit_block(end: int, records: int) -> bytes:
    body = _COMMIT.pack(end, records)
    return body + _CRC.pack(_crc(body))


def file_header(uuid: bytes, generation: int) -> bytes:
    """Header + commit block of an empty version-2 log."""
    head = _FILE_HEADER.pack(_FILE_MAGIC, _VERSION, uuid, generation)
    return head + _CRC.pack(_crc(head)) + _commit_block(HEADER_SIZE, 0)


def write_empty_log(path: Path, uuid: bytes, generation: int) -> None:
    """Atomically create a log holding only its header."""
    from distilhash.io_utils import atomic_write_bytes

    atomic_write_bytes(path, file_header(uuid, generation))


def encode_add(first_seq: int, codes: np.ndarray, ids: list[str], meta: list[dict[str, Any]]) -> bytes:
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    body = json.dumps({"ids": ids, "meta": meta}, ensure_ascii=False, separators=(",", ":")).encode()
    payload = _ADD_HEAD.pack(first_seq, codes.shape[0], codes.shape[1]) + codes.tobytes() + body
    return _frame(OP_ADD, payload)


def encode_delete(ids: list[str]) -> bytes:
    return _frame(OP_DELETE, json.dumps({"ids": ids}, ensure_ascii=False, separators=(",", ":")).encode())


def _frame(op: int, payload: bytes) -> bytes:
    head = _REC_HEADER.pack(b"RC", op, 0, len(payload))
    return head + _CRC.pack(_crc(head)) + payload + _CRC.pack(_crc(payload))


def _read_header(path: Path, data: bytes, uuid: bytes, generation: int) -> tuple[int, int, int | None]:
    """(version, first record offset, acknowledged end or None for version 1); raises on damage."""
    if len(data) < _LEGACY_HEADER_SIZE:
        raise IndexCorruptError(f"{path}: log header truncated ({len(data)} of {HEADER_SIZE} bytes)")
    head = data[: _FILE_HEADER.size]
    (crc,) = _CRC.unpack_from(data, _FILE_HEADER.size)
    if _crc(head) != crc:
        raise IndexCorruptError(f"{path}: log header checksum mismatch")
    magic, version, file_uuid, gen = _FILE_HEADER.unpack(head)
    if magic != _FILE_MAGIC or version not in (_VERSION, _LEGACY_VERSION):
        raise IndexCorruptError(f"{path}: not a distilhash log (version {version}; expected {_VERSION})")
    if file_uuid != uuid or gen != generation:
        raise IndexCorruptError(f"{path}: log belongs to another index or generation ({gen}; manifest says {generation})")
    if version == _LEGACY_VERSION:
        return version, _LEGACY_HEADER_SIZE, None
    if len(data) < HEADER_SIZE:
        raise IndexCorruptError(f"{path}: log header truncated ({len(data)} of {HEADER_SIZE} bytes)")
    body = data[_COMMIT_AT : _COMMIT_AT + _COMMIT.size]
    (crc,) = _CRC.unpack_from(data, _COMMIT_AT + _COMMIT.size)
    if _crc(body) != crc:
        raise IndexCorruptError(f"{path}: log commit block checksum mismatch (cannot tell what was acknowledged)")
    end, _ = _COMMIT.unpack(body)
    if end < HEADER_SIZE:
        raise IndexCorruptError(f"{path}: log commit block says {end} bytes, less than the {HEADER_SIZE}-byte header")
    return version, HEADER_SIZE, end


def read_log(path: Path, uuid: bytes, generation: int, code_size: int) -> LogContents:
    """Decode every acknowledged record of ``path``; raise IndexCorruptError on any damage,
    including acknowledged records that are no longer there."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IndexCorruptError(f"{path}: the operation log named by the manifest is missing") from None
    version, pos, acked_end = _read_header(path, data, uuid, generation)
    acked_records = _COMMIT.unpack_from(data, _COMMIT_AT)[1] if acked_end is not None else None
    if acked_end is not None and len(data) < acked_end:
        raise IndexCorruptError(
            f"{path}: has {len(data)} bytes but its {acked_records} acknowledged records end at byte {acked_end}: "
            f"acknowledged adds/deletes were cut off (file truncated)"
        )
    end = len(data) if acked_end is None else acked_end
    records, pos = decode_records(path, data, pos, end, code_size, strict=acked_end is not None)
    if acked_records is not None and len(records) != acked_records:
        raise IndexCorruptError(f"{path}: {len(records)} records before byte {acked_end}; the commit block acknowledges {acked_records}")
    return LogContents(records, pos, len(data), version)


def decode_records(path: Path, data: bytes, pos: int, end: int, code_size: int, strict: bool = True,
                   base: int = 0) -> tuple[list[LogRecord], int]:
    """The records of ``data[pos:end]`` and the offset past the last whole one.

    ``strict`` (version 2: ``end`` is acknowledged): a record cut by ``end`` is damage; otherwise
    (version 1) it is an interrupted append and ends the list. ``base``: the file offset of
    ``data[0]`` (for messages).
    """
    records: list[LogRecord] = []
    hsize = _REC_HEADER.size + _CRC.size
    while pos < end:
        at = base + pos
        if end - pos < hsize:
            if not strict:
                break  # version 1: interrupted append, header cut short
            raise IndexCorruptError(f"{path}: record at byte {at} is cut by the acknowledged end {base + end}")
        head = data[pos : pos + _REC_HEADER.size]
        (hcrc,) = _CRC.unpack_from(data, pos + _REC_HEADER.size)
        if _crc(head) != hcrc:
            raise IndexCorruptError(f"{path}: record header checksum mismatch at byte {at}")
        magic, op, _flags, length = _REC_HEADER.unpack(head)
        if magic != b"RC" or op not in (OP_ADD, OP_DELETE):
            raise IndexCorruptError(f"{path}: bad record header at byte {at}")
        rec_end = pos + hsize + length + _CRC.size
        if rec_end > end:
            if not strict:
                break  # version 1: interrupted append, payload cut short
            raise IndexCorruptError(f"{path}: record at byte {at} runs past the acknowledged end {base + end}")
        payload = data[pos + hsize : pos + hsize + length]
        (pcrc,) = _CRC.unpack_from(data, rec_end - _CRC.size)
        if _crc(payload) != pcrc:
            raise IndexCorruptError(f"{path}: record payload checksum mismatch at byte {at}")
        records.append(_decode(op, payload, code_size, path, at))
        pos = rec_end
    return records, pos


def read_commit(fd: int, path: Path) -> tuple[int, int] | None:
    """(acknowledged bytes, acknowledged records) from the commit block of an open version-2 log,
    or None when the block does not check (a read racing the writer's 20-byte rewrite: read again)."""
    block = os.pread(fd, _COMMIT.size + _CRC.size, _COMMIT_AT)
    if len(block) < _COMMIT.size + _CRC.size:
        raise IndexCorruptError(f"{path}: log header truncated ({len(block)} bytes of commit block)")
    (crc,) = _CRC.unpack_from(block, _COMMIT.size)
    if _crc(block[: _COMMIT.size]) != crc:
        return None
    end, records = _COMMIT.unpack_from(block, 0)
    return int(end), int(records)


def _decode(op: int, payload: bytes, code_size: int, path: Path, pos: int) -> LogRecord:
    try:
        if op == OP_DELETE:
            return LogRecord(OP_DELETE, list(json.loads(payload)["ids"]))
        first_seq, n, cs = _ADD_HEAD.unpack_from(payload, 0)
        if cs != code_size:
            raise ValueError(f"code size {cs}, index has {code_size}")
        start = _ADD_HEAD.size
        codes = np.frombuffer(payload, dtype=np.uint8, count=n * cs, offset=start).reshape(n, cs).copy()
        body = json.loads(payload[start + n * cs :])
        ids, meta = list(body["ids"]), list(body["meta"])
        if len(ids) != n or len(meta) != n:
            raise ValueError(f"{n} codes but {len(ids)} ids and {len(meta)} metadata entries")
        return LogRecord(OP_ADD, ids, first_seq, codes, meta)
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise IndexCorruptError(f"{path}: undecodable record at byte {pos}: {exc}") from None


class LogBrokenError(IndexCorruptError):
    """An append failed after its record may have been committed; the open index must be reopened."""


class CodeLog:
    """Appender for an existing version-2 log (the writer holds the index lock).

    Args:
        valid_end, records: the acknowledged end and record count (from :func:`read_log`);
            bytes after ``valid_end`` were never acknowledged and are trimmed.
    """

    def __init__(self, path: Path, valid_end: int, records: int) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR)
        self._broken = False
        size = os.fstat(self._fd).st_size
        if size > valid_end:  # drop an unacknowledged append before writing after it
            os.ftruncate(self._fd, valid_end)
            os.fsync(self._fd)
        self.size = valid_end
        self.records = records

    def append(self, record: bytes) -> None:
        """Write one framed record, fsync, then commit it in the header; durable when this returns."""
        if self._broken:
            raise LogBrokenError(f"{self.path}: an earlier append failed while committing; reopen the index")
        try:
            written = 0
            while written < len(record):
                written += os.pwrite(self._fd, record[written:], self.size + written)
            os.fsync(self._fd)
        except BaseException:
            os.ftruncate(self._fd, self.size)  # never leave half a record before the next one
            raise
        try:
            os.pwrite(self._fd, _commit_block(self.size + len(record), self.records + 1), _COMMIT_AT)
            os.fdatasync(self._fd)
        except BaseException:
            self._broken = True  # on disk the record may or may not be committed now
            raise
        self.size += len(record)
        self.records += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
