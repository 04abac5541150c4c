"""One writer behind several server processes: writes forwarded over a Unix socket, searches everywhere.

A writable service with ``workers > 1`` (:func:`distilhash.serve.server.start_service`) runs as

* **the writer**: the parent process holds each index open for writing (the index's one writer,
  :class:`~distilhash.index.lock.WriterLock`) inside a :class:`~distilhash.serve.engine.SearchService`
  that answers no HTTP: :class:`WriterChannel` takes adds and deletes from a Unix socket in a
  private (0700) directory and runs them through that service (checks, the model's codes, the
  durable log append, the thumbnail), one connection per write;
* **N server processes** (uvicorn workers on one port): each opens the indexes read-only,
  *following* them (``IndexOptions(follow=True)``, :mod:`distilhash.index.follow`), answers every
  search and fetch itself, and forwards each add or delete it receives with :func:`forward`,
  answering the client when the writer has answered.

Read-your-writes: the writer answers only once the write is durable and committed in the log's
commit block; every read of a following index first applies what is committed. So any request
that starts after a write was acknowledged (the same client's next request, whichever process
takes it) sees that write; the process that forwarded an add answers with the item as its own
index now holds it.

Wire format (both directions): ``u32`` length + JSON header, then (requests) ``u64`` length +
the image bytes. Answers: ``{"status": 200|201, "answer": {...}}`` or ``{"status": N, "error": "..."}``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any

from distilhash.serve.refusal import ServiceError

__all__ = ["WriterChannel", "forward", "lower_priority", "SOCKET_NAME"]

_log = logging.getLogger("distilhash.serve")

SOCKET_NAME = "writer.sock"
_HEAD = struct.Struct("<I")
_BODY = struct.Struct("<Q")
_MAX_HEADER = 1 << 20  # an id, a caption and the metadata (64 KB) fit many times over
_TIMEOUT_S = 120.0  # a write waits at most this long for the writer (an add encodes an image)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise ConnectionError(f"the connection closed after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _send_json(sock: socket.socket, obj: dict[str, Any], body: bytes | None = None) -> None:
    head = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    parts = [_HEAD.pack(len(head)), head]
    if body is not None:
        parts += [_BODY.pack(len(body)), body]
    sock.sendall(b"".join(parts))


def _recv_json(sock: socket.socket) -> dict[str, Any]:
    (n,) = _HEAD.unpack(_recv_exact(sock, _HEAD.size))
    if n > _MAX_HEADER:
        raise ConnectionError(f"a {n}-byte header; at most {_MAX_HEADER} expected")
    return json.loads(_recv_exact(sock, n))


def forward(path: str | Path, op: str, fields: dict[str, Any], image: bytes | None = None,
            timeout: float = _TIMEOUT_S) -> dict[str, Any]:
    """Send one write (``op`` ``add`` | ``delete``, its form ``fields``, the image bytes) to the
    writer at ``path`` and return its answer; ServiceError with the writer's status when it
    refused, 503 when no writer answers."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            _send_json(sock, {"op": op, **fields}, image or b"")
            reply = _recv_json(sock)
    except (OSError, ConnectionError, ValueError) as exc:
        _log.error("the index writer did not answer: %s", exc)
        raise ServiceError(503, "the index's writer process is not answering; the write was not made or not confirmed: "
                           "look the item up before sending it again") from None
    status = int(reply.get("status", 500))
    if "error" in reply:
        raise ServiceError(status, str(reply["error"]))
    return reply["answer"]


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        if self.server.nice:  # this thread runs the write (its image encoding): below the searches' priority
            lower_priority(self.server.nice)
        sock.settimeout(_TIMEOUT_S)
        try:
            req = _recv_json(sock)
            (n,) = _BODY.unpack(_recv_exact(sock, _BODY.size))
            image = _recv_exact(sock, n) if n else None
        except (OSError, ConnectionError, ValueError) as exc:
            _log.error("a forwarded write could not be read: %s", exc)
            return
        try:
            reply = {"status": 201 if req.get("op") == "add" else 200, "answer": self.server.run(req, image)}
        except ServiceError as exc:
            reply = {"status": exc.status, "error": exc.message}
        except Exception as exc:  # noqa: BLE001 (the worker gets a 500; the details go to this log)
            _log.error("a forwarded write failed", exc_info=exc)
            reply = {"status": 500, "error": "the index's writer failed on this write; the server log has the details"}
        try:
            _send_json(sock, reply)
        except OSError as exc:  # the worker gave up waiting: the write stands (it is durable), the answer is lost
            _log.error("the answer to a forwarded write could not be sent: %s", exc)


def lower_priority(nice: int) -> None:
    """Raise the calling thread's nice value by ``nice`` (Linux: per thread; elsewhere the process)."""
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError as exc:  # not allowed or not supported: the write still runs, at the usual priority
        _log.warning("could not lower the writer thread's priority: %s", exc)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, service: Any, nice: int = 0) -> None:
        self.service = service
        self.nice = int(nice)
        super().__init__(path, _Handler)

    def run(self, req: dict[str, Any], image: bytes | None) -> dict[str, Any]:
        op = req.get("op")
        if op == "add":
            return self.service.add_item(req.get("id"), req.get("caption"), image, req.get("metadata"), req.get("target"))
        if op == "delete":
            return self.service.delete_item(req.get("id"), req.get("target"))
        raise ServiceError(400, "unknown write operation")


class WriterChannel:
    """The writer's end: a Unix socket in a new private directory, served by threads; :meth:`close` stops it.

    Args:
        service: a writable :class:`~distilhash.serve.engine.SearchService` (its ``add_item`` /
            ``delete_item`` run each forwarded write).
        nice: added to the nice value of the threads that run the writes (0-19; 0: unchanged), so
            that when the CPU is short the server processes' searches get it before the writes'
            image encoding, which then waits (writes slow down, searches do not).
    """

    def __init__(self, service: Any, nice: int = 0) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="distilhash-writer-"))  # mode 0700: only this user connects
        self.path = str(self.directory / SOCKET_NAME)
        self._server = _Server(self.path, service, nice)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="index-writer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        try:
            self.directory.rmdir()
        except OSError:
            pass

    def __enter__(self) -> WriterChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
