"""Limits against slow and greedy clients: how a request body is received, and how many at once.

* :class:`BodyLimits` (data): a request body must arrive at ``min_rate`` bytes/s on average after
  a ``grace_s`` start (a client dripping one byte every few seconds is cut off after the grace),
  with no pause longer than ``stall_s``, and completely within ``deadline_s``; past any of these
  the answer is 408. Bodies are written to a spool (:class:`tempfile.SpooledTemporaryFile`) that
  moves to disk past ``spool_bytes``, so a stalled near-cap upload holds ~``spool_bytes`` of
  memory, not the upload.
* :class:`UploadSlots`: at most ``max_uploads`` requests with a body are received and handled at
  once; one more is answered 503 (with ``Retry-After``) at once instead of waiting. Requests
  without a body (every search by text, item fetches, thumbnails) never take a slot, so they
  keep working while uploads are throttled.

Connections (per-address cap, header deadline and size) are :mod:`distilhash.serve.connections`.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["BodyLimits", "UploadSlots", "BodyTooSlow", "receive_body", "SPOOL_CHUNK"]

#: bytes handed to the application per ``http.request`` message when a spooled body is replayed
SPOOL_CHUNK = 64 << 10


@dataclass(frozen=True)
class BodyLimits:
    """How a request body must arrive (see module docstring)."""

    stall_s: float = 15.0
    grace_s: float = 5.0
    min_rate: float = 16 << 10
    deadline_s: float = 120.0
    spool_bytes: int = 64 << 10
    max_uploads: int = 16


class BodyTooSlow(Exception):
    """The body broke a :class:`BodyLimits` rule; ``message`` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UploadSlots:
    """A non-blocking counter of requests with a body being received or handled."""

    def __init__(self, n: int) -> None:
        self.n, self.used, self.refused = int(n), 0, 0

    def try_take(self) -> bool:
        if self.used >= self.n:
            self.refused += 1
            return False
        self.used += 1
        return True

    def give_back(self) -> None:
        self.used -= 1


async def receive_body(receive: Any, limits: BodyLimits, cap: int) -> tuple[IO[bytes] | None, int]:
    """Read a request body into a spool: (spool rewound to 0, size), or (None, 0) when the client left.

    Raises:
        BodyTooSlow: stalled, below the minimum rate after the grace, or past the deadline (a 408).
        OverflowError: more than ``cap`` bytes (a 413).
    """
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=limits.spool_bytes)
    t0 = time.monotonic()
    size = 0
    try:
        while True:
            now = time.monotonic()
            bounds = {"stall": limits.stall_s, "deadline": t0 + limits.deadline_s - now,
                      "rate": t0 + limits.grace_s + size / limits.min_rate - now}  # the next byte must come before these
            rule = min(bounds, key=bounds.__getitem__)
            try:
                if bounds[rule] <= 0:
                    raise asyncio.TimeoutError
                message = await asyncio.wait_for(receive(), bounds[rule])
            except asyncio.TimeoutError:
                raise BodyTooSlow(_why(rule, time.monotonic() - t0, size, limits)) from None
            if message["type"] == "http.disconnect":
                spool.close()
                return None, 0
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                raise OverflowError(size)
            spool.write(chunk)
            if not message.get("more_body", False):
                spool.seek(0)
                return spool, size
    except BaseException:
        spool.close()
        raise


def _why(rule: str, elapsed: float, size: int, limits: BodyLimits) -> str:
    if rule == "stall":
        return f"the request body stalled for {limits.stall_s:g} s; send it without pauses"
    if rule == "deadline":
        return f"the request body took over {limits.deadline_s:g} s; send it faster"
    return (f"the request body arrived slower than {limits.min_rate / 1024:g} KB/s ({size:,} bytes in {elapsed:.1f} s); "
            "send it faster")
