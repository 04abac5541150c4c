"""Connection limits for uvicorn: a deadline for request headers, and the server's options.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive`` seconds, but a
connection that never sends a complete request line and headers (opened and left silent, or fed
a byte at a time) is never timed out, and each one holds a socket and a slot of
``limit_concurrency`` forever. :func:`protocol_class` returns uvicorn's HTTP protocol with a
*header deadline*: from the moment a connection opens (or the first byte of a next request on a
kept-alive one), the headers must be complete within ``header_timeout`` seconds, else the
connection is closed. The deadline is overall, not per byte: a client feeding one byte a second gets no more time than a
silent one, and the request line + headers may hold at most ``max_header_bytes`` (else 431), the
request line alone at most :data:`MAX_LINE_BYTES` (else 414: the HTTP parser's address reader
fails past 65,535 bytes, which read as a plain-text "Invalid HTTP request received."). Requests
the HTTP parser cannot read get a JSON 400 like every other refusal.
Each client address may hold at most ``per_address`` connections at once; more are closed as soon
as they open, so one greedy client cannot take the ``limit_concurrency`` slots of everyone else.
Slow request *bodies* are the request guard's job (408, :mod:`distilhash.serve.guard`,
:mod:`distilhash.serve.limits`).
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["protocol_class", "check_port_free", "uvicorn_options", "raise_open_files", "HEADER_TIMEOUT_S", "MAX_HEADER_BYTES", "PER_ADDRESS",
           "HttpToolsWithDeadline", "H11WithDeadline"]

#: seconds a connection may take to send a complete request line + headers
HEADER_TIMEOUT_S = 10.0
#: most bytes of request line + headers (the fuzz run's 70 KB header line still passes)
MAX_HEADER_BYTES = 128 << 10
#: most bytes of the request line (method, address, version): the parser cannot read an address past 65,535
MAX_LINE_BYTES = 65_000
#: most connections open at once from one client address (0: no cap)
PER_ADDRESS = 256


def _raw_refusal(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 refusal with the service's JSON body (the connection is closed after it)."""
    import json

    body = json.dumps({"error": message, "status": status}, separators=(",", ":")).encode()
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
            % (status, reason.encode(), len(body), body))


_LINE_TOO_LONG = _raw_refusal(414, "URI Too Long", f"the request line is longer than {MAX_LINE_BYTES:,} bytes; an address "
                                                    "holds short parameters (query text: at most 500 characters)")
_NOT_HTTP = _raw_refusal(400, "Bad Request", "the request is not valid HTTP/1.1: a malformed request line or header, an "
                                             "unknown method, or a Content-Length / Transfer-Encoding that cannot be read")

_TOO_LARGE = _raw_refusal(431, "Request Header Fields Too Large", "the request line and headers are larger than 128 KB")


class _HeaderDeadline:
    """Mixin for a uvicorn HTTP protocol class (see module docstring)."""

    header_timeout: float = HEADER_TIMEOUT_S
    max_header_bytes: int = MAX_HEADER_BYTES
    per_address: int = PER_ADDRESS
    #: open connections per client address (of every server of this class in the process)
    open_by_address: dict[str, int] = {}
    _deadline: asyncio.TimerHandle | None = None
    _address: str | None = None
    _header_bytes: int = 0
    _line_bytes: int = 0  # bytes of the request line so far; -1 once it is complete

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, (tuple, list)) and peer else None
        if address is not None and self.per_address > 0:
            n = self.open_by_address.get(address, 0)
            if n >= self.per_address:
                transport.close()  # over the cap: closed before a byte is read
                return
            self.open_by_address[address] = n + 1
            self._address = address
        self._arm()

    def _waiting_for_headers(self) -> bool:
        cycle = getattr(self, "cycle", None)
        return cycle is None or cycle.response_complete

    def _arm(self) -> None:
        if self._deadline is None:
            self._header_bytes = self._line_bytes = 0
            self._deadline = self.loop.call_later(self.header_timeout, self._expire)  # type: ignore[attr-defined]

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        transport = getattr(self, "transport", None)
        if transport is not None and not transport.is_closing() and self._waiting_for_headers():
            transport.close()

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_headers():
            self._arm()
            end = data.find(b"\r\n\r\n")  # a chunk may carry the end of the headers and the start of the body
            self._header_bytes += len(data) if end < 0 else end + 4
            line_too_long = False
            if self._line_bytes >= 0:
                line_end = data.find(b"\n")
                self._line_bytes += len(data) if line_end < 0 else line_end
                line_too_long = self._line_bytes > MAX_LINE_BYTES + 1  # + its "\r"
                if line_end >= 0:
                    self._line_bytes = -1
            refusal = (_LINE_TOO_LONG if line_too_long else
                       _TOO_LARGE if self._header_bytes > self.max_header_bytes else None)
            if refusal is not None:
                transport = self.transport  # type: ignore[attr-defined]
                if not transport.is_closing():
                    transport.write(refusal)
                    transport.close()
                return
        super().data_received(data)  # type: ignore[misc]
        if not self._waiting_for_headers():
            self._disarm()

    def send_400_response(self, msg: str) -> None:
        """The HTTP parser's refusal (uvicorn's is plain text) as the service's JSON refusal."""
        transport = self.transport  # type: ignore[attr-defined]
        if not transport.is_closing():
            transport.write(_NOT_HTTP)
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._address is not None:
            left = self.open_by_address.get(self._address, 1) - 1
            if left > 0:
                self.open_by_address[self._address] = left
            else:
                self.open_by_address.pop(self._address, None)
            self._address = None
        super().connection_lost(exc)  # type: ignore[misc]


class H11WithDeadline(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with a header deadline."""


if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsWithDeadline(_HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol with a header deadline."""
else:  # pragma: no cover - httptools is optional
    HttpToolsWithDeadline = H11WithDeadline  # type: ignore[misc,assignment]


def protocol_class(header_timeout: float = HEADER_TIMEOUT_S, per_address: int = PER_ADDRESS,
                   max_header_bytes: int = MAX_HEADER_BYTES) -> type:
    """The fastest installed uvicorn HTTP protocol with these connection limits (see module docstring)."""
    base = HttpToolsWithDeadline
    if (header_timeout, per_address, max_header_bytes) == (HEADER_TIMEOUT_S, PER_ADDRESS, MAX_HEADER_BYTES):
        return base
    return type(base.__name__, (base,), {"header_timeout": float(header_timeout), "per_address": int(per_address),
                                         "max_header_bytes": int(max_header_bytes)})


def uvicorn_options(header_timeout: float = HEADER_TIMEOUT_S, keep_alive: int = 5, limit_concurrency: int = 4096,
                    importable: bool = False, per_address: int = PER_ADDRESS) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config``: protocol with a header deadline and a
    per-address cap, keep-alive timeout, most connections + tasks at once (beyond it uvicorn answers 503).

    ``importable``: give the protocol as an import string (for ``workers > 1``; default limits only).
    """
    http: Any = ("distilhash.serve.connections:HttpToolsWithDeadline" if importable
                 else protocol_class(header_timeout, per_address))
    return {"http": http, "timeout_keep_alive": int(keep_alive), "limit_concurrency": int(limit_concurrency)}


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft limit of open files towards ``wanted`` (within the hard limit); the new soft limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def check_port_free(host: str, port: int) -> None:
    """ConfigError when ``host:port`` cannot be listened on now (in use, or not an address of this machine).

    Checked before the index and the teacher load: uvicorn found it only after them (10 s to a minute),
    having already printed the address to open."""
    import errno
    import socket

    from distilhash.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a TIME_WAIT port is free
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is already in use (another distilhash serve?); choose another "
                                  "with --port, or stop the other server") from None
            raise ConfigError(f"cannot listen on {host} port {port}: {exc.strerror or exc}; check --host and --port") from None
