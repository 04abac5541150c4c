"""The Ray fan-out's data plane: a small authenticated TCP endpoint in each shard actor.

Ray places, watches and replaces the shard actors; a search does not go through Ray's task path
(~2 ms per call on a 2-core host) but through a direct socket to each shard's actor, all shards
at once: the driver writes the request to every shard's connection, then reads the answers.

Which address is bound, on a port the kernel picks: 127.0.0.1 when the actor runs on the driver's
host (the driver's Ray node, or a node registered at the same address: a local session or
several raylets on one machine); otherwise the actor's node address *as
Ray knows it* (the node table's ``NodeManagerAddress``: the ``--node-ip-address`` the node was
started with, the address Ray's own traffic to that node uses). Never a wildcard: a node whose
Ray address is ``0.0.0.0`` or ``::`` is refused (:class:`DataPlaneError`), and the fan-out then
serves that shard through Ray calls. The address reaches the driver through Ray (the actor's
``hello`` call).

Authentication: the driver draws a 32-byte secret per fan-out and hands it to its actors as a
constructor argument, through Ray (whose own connections are authenticated by the cluster token
with ``RAY_AUTH_MODE=token``). Each connection starts with a mutual challenge: the server sends a
16-byte nonce, the client answers with its own nonce and HMAC-SHA256(secret, "c" + both nonces),
the server checks it (constant-time) and proves itself with HMAC-SHA256(secret, "s" + both
nonces), which the client checks. A peer without the secret is dropped before it can send a
query; a client never trusts an answer from a process that took over a dead actor's port.
Traffic after the handshake is neither encrypted nor signed (cluster-internal networks only).

Frames: ``u8 type, u32 k, u64 length`` then ``length`` bytes: type 1 a query (``k`` its k, the
body :func:`distilhash.distributed.wire.encode_query`), 2 an answer (the body
:func:`~distilhash.distributed.wire.encode_items`), 3 an error (the body its utf-8 message).
"""

from __future__ import annotations

import hmac
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable

__all__ = ["DataPlaneServer", "DataPlaneClient", "DataPlaneError", "RemoteError", "bind_address"]

_log = logging.getLogger("distilhash.distributed")

_HEAD = struct.Struct("<BIQ")
QUERY, ANSWER, ERROR = 1, 2, 3
_NONCE = 16
_MAC = 32
#: largest frame body accepted (a query batch or an answer); more is a protocol error
MAX_FRAME = 1 << 30


class DataPlaneError(ConnectionError):
    """A data-plane connection could not be made, was refused, broke, or answered with an error."""


class RemoteError(DataPlaneError):
    """The endpoint was reached and authenticated, and its handler raised: the error frame's message."""


def bind_address(node_ip: str) -> str:
    """The address a shard actor's endpoint listens on: its node's Ray address; wildcards refused."""
    if node_ip in ("", "0.0.0.0", "::", "[::]"):
        raise DataPlaneError(f"the node's Ray address is {node_ip!r}, a wildcard: the data plane binds only to a "
                             "node's own cluster address (start the node with --node-ip-address)")
    return node_ip


def _mac(secret: bytes, side: bytes, server_nonce: bytes, client_nonce: bytes) -> bytes:
    return hmac.new(secret, side + server_nonce + client_nonce, "sha256").digest()


def _recv_exact(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        m = sock.recv_into(view[got:], n - got)
        if m == 0:
            raise DataPlaneError(f"connection closed after {got} of {n} bytes")
        got += m
    return buf


def _send_frame(sock: socket.socket, kind: int, k: int, body: bytes) -> None:
    sock.sendall(_HEAD.pack(kind, k, len(body)) + body)


def _recv_frame(sock: socket.socket, first: int = 1 << 16) -> tuple[int, int, memoryview]:
    """One frame, read with as few ``recv`` calls as possible (usually one: each call releases and retakes
    the GIL, which costs up to a switch interval in a busy process). One frame is in flight per connection,
    so nothing follows it."""
    buf = bytearray(first)
    got = 0
    while got < _HEAD.size:
        m = sock.recv_into(memoryview(buf)[got:])
        if m == 0:
            raise DataPlaneError(f"connection closed after {got} bytes of a frame")
        got += m
    kind, k, n = _HEAD.unpack_from(buf)
    if kind not in (QUERY, ANSWER, ERROR) or n > MAX_FRAME:
        raise DataPlaneError(f"bad frame header (type {kind}, {n} bytes)")
    total = _HEAD.size + n
    if total > len(buf):
        buf = buf[:got] + bytearray(total - got)
    view = memoryview(buf)
    while got < total:
        m = sock.recv_into(view[got:total])
        if m == 0:
            raise DataPlaneError(f"connection closed after {got} of {total} bytes of a frame")
        got += m
    if got > total:
        raise DataPlaneError(f"{got - total} bytes after a frame (one request at a time per connection)")
    return kind, k, view[_HEAD.size:total]


def _set_blocking_timeout(sock: socket.socket, seconds: float) -> None:
    """Blocking socket whose sends and receives fail after ``seconds`` (kernel timeouts: no poll() per call)."""
    sock.settimeout(None)
    tv = struct.pack("ll", int(seconds), int((seconds % 1) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)


class DataPlaneServer:
    """Listens on ``(host, port 0)``; each authenticated connection gets a thread calling ``handler(query bytes, k)``.

    Args:
        handler: answers one query frame: ``(body, k) -> answer bytes``; an exception becomes an
            error frame carrying its message (the connection stays open).
        host: the address to bind (:func:`bind_address`).
        secret: the shared secret (>= 16 bytes) clients must prove.
        handshake_timeout: seconds a new connection has to authenticate.
    """

    def __init__(self, handler: Callable[[bytes, int], bytes], host: str, secret: bytes,
                 handshake_timeout: float = 5.0) -> None:
        if len(secret) < 16:
            raise DataPlaneError("the data-plane secret must be at least 16 bytes")
        self.handler, self.secret, self.handshake_timeout = handler, secret, handshake_timeout
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((bind_address(host), 0), family=family, backlog=64)
        self.address: tuple[str, int] = (host, int(self._sock.getsockname()[1]))
        self._closed = threading.Event()
        self.refused = 0  # connections dropped for a failed handshake
        threading.Thread(target=self._accept, name="data-plane-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), name="data-plane-conn", daemon=True).start()

    def _handshake(self, conn: socket.socket) -> bool:
        nonce = os.urandom(_NONCE)
        conn.settimeout(self.handshake_timeout)
        conn.sendall(nonce)
        reply = _recv_exact(conn, _NONCE + _MAC)
        client_nonce, mac = bytes(reply[:_NONCE]), bytes(reply[_NONCE:])
        if not hmac.compare_digest(mac, _mac(self.secret, b"c", nonce, client_nonce)):
            return False
        conn.sendall(_mac(self.secret, b"s", nonce, client_nonce))
        conn.settimeout(None)
        return True

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if not self._handshake(conn):
                    self.refused += 1
                    return
                while True:
                    kind, k, body = _recv_frame(conn)
                    if kind != QUERY:
                        return
                    try:
                        answer, out_kind = self.handler(body.tobytes(), k), ANSWER
                    except Exception as exc:  # noqa: BLE001 - the client gets the message and decides
                        answer, out_kind = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace"), ERROR
                    _send_frame(conn, out_kind, 0, answer)
            except (OSError, DataPlaneError):
                return  # the client went away, or spoke nonsense

    def close(self) -> None:
        """Stop listening (a thread blocked in accept() keeps a closed socket listening: shut it down first)."""
        self._closed.set()
        for stop in (lambda: self._sock.shutdown(socket.SHUT_RDWR), self._sock.close):
            try:
                stop()
            except OSError:
                pass


class DataPlaneClient:
    """Authenticated connections to shard endpoints, pooled per endpoint; safe to use from several threads.

    Args:
        secret: the fan-out's shared secret.
        timeout: seconds allowed to connect, and to wait for each answer, before the call counts as failed
            (kernel socket timeouts, ``SO_RCVTIMEO``: a late answer fails with an ``OSError``).
    """

    def __init__(self, secret: bytes, timeout: float = 2.0) -> None:
        self.secret, self.timeout = secret, timeout
        self._idle: dict[tuple[str, int], list[socket.socket]] = {}
        self._lock = threading.Lock()

    def _connect(self, address: tuple[str, int]) -> socket.socket:
        sock = socket.create_connection(address, timeout=self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            nonce = bytes(_recv_exact(sock, _NONCE))
            mine = os.urandom(_NONCE)
            sock.sendall(mine + _mac(self.secret, b"c", nonce, mine))
            if not hmac.compare_digest(bytes(_recv_exact(sock, _MAC)), _mac(self.secret, b"s", nonce, mine)):
                raise DataPlaneError(f"{address[0]}:{address[1]} did not prove the fan-out's secret")
            _set_blocking_timeout(sock, self.timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    def _take(self, address: tuple[str, int]) -> socket.socket:
        with self._lock:
            idle = self._idle.get(address)
            if idle:
                return idle.pop()
        return self._connect(address)

    def _give_back(self, address: tuple[str, int], sock: socket.socket) -> None:
        with self._lock:
            self._idle.setdefault(address, []).append(sock)

    def call_many(self, calls: dict[int, tuple[tuple[str, int], bytes, int]]) -> tuple[dict[int, bytes], dict[int, Exception]]:
        """``{key: (address, query bytes, k)}`` -> ``({key: answer bytes}, {key: why it failed})``.

        Every request is written before any answer is read, so the shards work at the same time."""
        socks: dict[int, socket.socket] = {}
        failed: dict[int, Exception] = {}
        for key, (address, body, k) in calls.items():
            sock: socket.socket | None = None
            try:
                sock = self._take(address)
                _send_frame(sock, QUERY, k, body)
                socks[key] = sock
            except (OSError, DataPlaneError) as exc:
                failed[key] = exc
                if sock is not None:
                    sock.close()
        answers: dict[int, bytes] = {}
        for key, sock in socks.items():
            try:
                kind, _, body = _recv_frame(sock)
            except (OSError, DataPlaneError) as exc:
                sock.close()
                failed[key] = exc
                continue
            self._give_back(calls[key][0], sock)
            if kind == ERROR:
                failed[key] = RemoteError(f"the shard answered with an error: {body.tobytes().decode('utf-8', 'replace')}")
            else:
                answers[key] = body.tobytes()
        return answers, failed

    def forget(self, address: tuple[str, int]) -> None:
        """Close the pooled connections to ``address`` (its actor is gone)."""
        with self._lock:
            socks = self._idle.pop(address, [])
        for s in socks:
            s.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for socks in idle.values():
            for s in socks:
                s.close()
