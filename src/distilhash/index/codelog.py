"""Append-only operation log: durable incremental adds and deletes between snapshots.

File layout (little-endian)::

    file header  b"DHLOG\\0" + u16 version + 16-byte index uuid + u64 generation + u32 crc32
    record       b"RC" + u8 op + u8 0 + u32 payload_len + u32 crc32(first 8 bytes)
                 payload + u32 crc32(payload)

``op`` 1 = add: payload ``u64 first_seq, u32 n, u32 code_size, codes (n * code_size bytes),
JSON {"ids": [...], "meta": [...]}``; op 2 = delete: payload JSON ``{"ids": [...]}``.

A record is written with one ``write`` then ``fsync``; :meth:`CodeLog.append` returns only after
that, so an acknowledged record survives a crash. Reading: a record cut short by the end of the
file is the interrupted last append (never acknowledged) and is ignored ("torn tail"); any
checksum mismatch in a complete record is corruption (IndexCorruptError), since acknowledged
data would otherwise be lost silently.
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

__all__ = ["CodeLog", "LogRecord", "LogContents", "read_log", "write_empty_log", "OP_ADD", "OP_DELETE"]

OP_ADD = 1
OP_DELETE = 2
_FILE_MAGIC = b"DHLOG\x00"
_VERSION = 1
_FILE_HEADER = struct.Struct("<6sH16sQ")  # magic, version, uuid, generation
_REC_HEADER = struct.Struct("<2sBBI")  # magic, op, flags, payload length
_ADD_HEAD = struct.Struct("<QII")  # first seq, n, code size
_CRC = struct.Struct("<I")


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
    records: list[LogRecord]
    valid_end: int  # byte offset just past the last complete record
    file_size: int

    @property
    def torn_bytes(self) -> int:
        """Bytes of an interrupted last append (0 when the file ends on a record boundary)."""
        return self.file_size - self.valid_end


def file_header(uuid: bytes, generation: int) -> bytes:
    head = _FILE_HEADER.pack(_FILE_MAGIC, _VERSION, uuid, generation)
    return head + _CRC.pack(_crc(head))


HEADER_SIZE = _FILE_HEADER.size + _CRC.size


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


def read_log(path: Path, uuid: bytes, generation: int, code_size: int) -> LogContents:
    """Decode every complete record of ``path``; raise IndexCorruptError on any damage."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IndexCorruptError(f"{path}: the operation log named by the manifest is missing") from None
    if len(data) < HEADER_SIZE:
        raise IndexCorruptError(f"{path}: log header truncated ({len(data)} of {HEADER_SIZE} bytes)")
    head = data[: _FILE_HEADER.size]
    (crc,) = _CRC.unpack_from(data, _FILE_HEADER.size)
    if _crc(head) != crc:
        raise IndexCorruptError(f"{path}: log header checksum mismatch")
    magic, version, file_uuid, gen = _FILE_HEADER.unpack(head)
    if magic != _FILE_MAGIC or version != _VERSION:
        raise IndexCorruptError(f"{path}: not a distilhash log (version {version}; expected {_VERSION})")
    if file_uuid != uuid or gen != generation:
        raise IndexCorruptError(f"{path}: log belongs to another index or generation ({gen}; manifest says {generation})")
    records: list[LogRecord] = []
    pos = HEADER_SIZE
    hsize = _REC_HEADER.size + _CRC.size
    while pos < len(data):
        if len(data) - pos < hsize:
            break  # interrupted append: header cut short
        head = data[pos : pos + _REC_HEADER.size]
        (hcrc,) = _CRC.unpack_from(data, pos + _REC_HEADER.size)
        if _crc(head) != hcrc:
            raise IndexCorruptError(f"{path}: record header checksum mismatch at byte {pos}")
        magic, op, _flags, length = _REC_HEADER.unpack(head)
        if magic != b"RC" or op not in (OP_ADD, OP_DELETE):
            raise IndexCorruptError(f"{path}: bad record header at byte {pos}")
        end = pos + hsize + length + _CRC.size
        if end > len(data):
            break  # interrupted append: payload cut short
        payload = data[pos + hsize : pos + hsize + length]
        (pcrc,) = _CRC.unpack_from(data, end - _CRC.size)
        if _crc(payload) != pcrc:
            raise IndexCorruptError(f"{path}: record payload checksum mismatch at byte {pos}")
        records.append(_decode(op, payload, code_size, path, pos))
        pos = end
    return LogContents(records, pos, len(data))


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


class CodeLog:
    """Appender for an existing log file (the writer holds the index lock)."""

    def __init__(self, path: Path, valid_end: int) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR)
        size = os.fstat(self._fd).st_size
        if size > valid_end:  # drop an interrupted append before writing after it
            os.ftruncate(self._fd, valid_end)
            os.fsync(self._fd)
        self.size = valid_end

    def append(self, record: bytes) -> None:
        """Write one framed record and fsync; durable when this returns."""
        os.lseek(self._fd, self.size, os.SEEK_SET)
        try:
            written = 0
            while written < len(record):
                written += os.write(self._fd, record[written:])
            os.fsync(self._fd)
        except BaseException:
            os.ftruncate(self._fd, self.size)  # never leave half a record before the next one
            raise
        self.size += len(record)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
