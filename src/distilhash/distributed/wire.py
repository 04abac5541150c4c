"""Binary encoding of a shard search: the query going to a shard actor and its top-k coming back.

One format for both transports of the Ray fan-out (the data-plane socket and the Ray call that
backs it up), so both give bit-identical answers. No pickle: a peer can only send arrays, numbers,
strings and JSON metadata.

Arrays: ``u8 len, dtype str (ascii, numpy's .str, e.g. '<f4'), u8 ndim, u64 x ndim shape, raw
C-order bytes``. Strings: ``u32 len, utf-8``.

Query: ``b"A"`` + array (a continuous query, float32 ``[Q, D]``), or ``b"E"`` + kind string, u32
n_bits, metric string, data array, u8 has_codebooks, [codebooks array] (an
:class:`~distilhash.codes.Encoded`).

Answer: ``u32 Q``, then per query: distances array ``[k']``, global order numbers array
``[k']`` (int64), ids (``u32 n``, ``u32 x n`` byte lengths, the utf-8 bytes back to back),
metadata (one JSON array of ``n`` objects, as a string).
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

__all__ = ["encode_query", "decode_query", "encode_items", "decode_items", "WireError"]

_U8, _U32, _U64 = struct.Struct("<B"), struct.Struct("<I"), struct.Struct("<Q")
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class WireError(ValueError):
    """Bytes that are not a well-formed query or answer (names what was expected)."""


class _Reader:
    """Cursor over a bytes buffer; every read checks that the bytes are there."""

    def __init__(self, buf: bytes | memoryview) -> None:
        self.buf, self.at = memoryview(buf), 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.at + n > len(self.buf):
            raise WireError(f"truncated message: wanted {n} bytes at offset {self.at} of {len(self.buf)}")
        out = self.buf[self.at:self.at + n]
        self.at += n
        return out

    def u(self, s: struct.Struct) -> int:
        return int(s.unpack(self.take(s.size))[0])

    def string(self) -> str:
        return bytes(self.take(self.u(_U32))).decode("utf-8")

    def array(self) -> np.ndarray:
        dtype = np.dtype(bytes(self.take(self.u(_U8))).decode("ascii"))
        if dtype.hasobject:
            raise WireError(f"array of dtype {dtype}: only plain numeric arrays travel")
        shape = tuple(self.u(_U64) for _ in range(self.u(_U8)))
        n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        return np.frombuffer(self.take(n), dtype=dtype).reshape(shape).copy()

    def done(self) -> None:
        if self.at != len(self.buf):
            raise WireError(f"{len(self.buf) - self.at} stray bytes after the message")


def _string(out: list[bytes], s: str) -> None:
    b = s.encode("utf-8")
    out += [_U32.pack(len(b)), b]


def _array(out: list[bytes], a: np.ndarray) -> None:
    a = np.ascontiguousarray(a)
    dt = a.dtype.str.encode("ascii")
    out += [_U8.pack(len(dt)), dt, _U8.pack(a.ndim), *(_U64.pack(d) for d in a.shape), a.tobytes()]


def encode_query(query: Any) -> bytes:
    """A query batch (an ``Encoded`` or a float array ``[Q, D]``) as bytes."""
    from distilhash.codes import Encoded

    out: list[bytes] = []
    if isinstance(query, Encoded):
        out.append(b"E")
        _string(out, str(query.kind))
        out.append(_U32.pack(int(query.n_bits)))
        _string(out, query.metric)
        _array(out, query.data)
        out.append(_U8.pack(query.codebooks is not None))
        if query.codebooks is not None:
            _array(out, query.codebooks)
    elif isinstance(query, np.ndarray):
        out.append(b"A")
        _array(out, query)
    else:
        raise WireError(f"query of type {type(query).__name__}: expected an Encoded or a numpy array")
    return b"".join(out)


def decode_query(buf: bytes | memoryview) -> Any:
    """Inverse of :func:`encode_query`."""
    from distilhash.codes import Encoded

    r = _Reader(buf)
    tag = bytes(r.take(1))
    if tag == b"A":
        query: Any = r.array()
    elif tag == b"E":
        kind, n_bits, metric, data = r.string(), r.u(_U32), r.string(), r.array()
        codebooks = r.array() if r.u(_U8) else None
        query = Encoded(kind, data, n_bits, codebooks, metric)
    else:
        raise WireError(f"query tag {tag!r}: expected b'A' (array) or b'E' (Encoded)")
    r.done()
    return query


def encode_items(items: list[tuple[np.ndarray, np.ndarray, list[str], list[dict[str, Any]]]]) -> bytes:
    """Per query ``(distances [n], global order numbers [n], ids [n], metadata [n])`` as bytes."""
    out: list[bytes] = [_U32.pack(len(items))]
    for dist, gseq, ids, metadata in items:
        _array(out, np.asarray(dist))
        _array(out, np.asarray(gseq, dtype=np.int64))
        raw = [i.encode("utf-8") for i in ids]
        out += [_U32.pack(len(raw)), np.fromiter(map(len, raw), dtype="<u4", count=len(raw)).tobytes(), *raw]
        _string(out, _JSON(metadata))
    return b"".join(out)


def decode_items(buf: bytes | memoryview) -> list[tuple[np.ndarray, np.ndarray, list[str], list[dict[str, Any]]]]:
    """Inverse of :func:`encode_items`."""
    r = _Reader(buf)
    out = []
    for _ in range(r.u(_U32)):
        dist, gseq = r.array(), r.array()
        n = r.u(_U32)
        lengths = np.frombuffer(r.take(4 * n), dtype="<u4")
        ids = [bytes(r.take(int(m))).decode("utf-8") for m in lengths]
        metadata = json.loads(r.string())
        if not (len(dist) == len(gseq) == n == len(metadata)):
            raise WireError(f"answer lengths differ: {len(dist)} distances, {len(gseq)} order numbers, {n} ids, "
                            f"{len(metadata)} metadata")
        out.append((dist, gseq, ids, metadata))
    r.done()
    return out
