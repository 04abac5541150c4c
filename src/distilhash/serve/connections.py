"""Connection limits for uvicorn: a deadline for request headers, and the server's options.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive`` seconds, but a
connection that never sends a complete request line and headers (opened and left silent, or fed
a byte at a time) is never timed out, and each one holds a socket and a slot of
``limit_concurrency`` forever. :func:`protocol_class` returns uvicorn's HTTP protocol with a
*header deadline*: from the moment a connection opens (or the first byte of a next request on a
kept-alive one), the headers must be complete within ``header_timeout`` seconds, else the
connection is closed. Slow request *bodies* are the request guard's job (408,
:mod:`distilhash.serve.guard`).
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["protocol_class", "uvicorn_options", "HEADER_TIMEOUT_S", "HttpToolsWithDeadline", "H11WithDeadline"]

#: seconds a connection may take to send a complete request line + headers
HEADER_TIMEOUT_S = 10.0


class _HeaderDeadline:
    """Mixin for a uvicorn HTTP protocol class (see module docstring)."""

    header_timeout: float = HEADER_TIMEOUT_S
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def _waiting_for_headers(self) -> bool:
        cycle = getattr(self, "cycle", None)
        return cycle is None or cycle.response_complete

    def _arm(self) -> None:
        if self._deadline is None:
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
        super().data_received(data)  # type: ignore[misc]
        if not self._waiting_for_headers():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]


class H11WithDeadline(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with a header deadline."""


if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HttpToolsWithDeadline(_HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol with a header deadline."""
else:  # pragma: no cover - httptools is optional
    HttpToolsWithDeadline = H11WithDeadline  # type: ignore[misc,assignment]


def protocol_class(header_timeout: float = HEADER_TIMEOUT_S) -> type:
    """The fastest installed uvicorn HTTP protocol with a ``header_timeout`` deadline."""
    base = HttpToolsWithDeadline
    if header_timeout == HEADER_TIMEOUT_S:
        return base
    return type(base.__name__, (base,), {"header_timeout": float(header_timeout)})


def uvicorn_options(header_timeout: float = HEADER_TIMEOUT_S, keep_alive: int = 5, limit_concurrency: int = 1024,
                    importable: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config``: protocol with a header deadline,
    keep-alive timeout, most connections + tasks at once (beyond it uvicorn answers 503).

    ``importable``: give the protocol as an import string (for ``workers > 1``; default deadline only).
    """
    http: Any = "distilhash.serve.connections:HttpToolsWithDeadline" if importable else protocol_class(header_timeout)
    return {"http": http, "timeout_keep_alive": int(keep_alive), "limit_concurrency": int(limit_concurrency)}
