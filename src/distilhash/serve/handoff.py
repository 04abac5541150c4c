"""Answers of the search worker threads handed to the event loop a batch at a time.

``asyncio.wrap_future`` hands each finished ``concurrent.futures.Future`` to the event loop on
its own: one ``call_soon_threadsafe`` per request (a handle, and a write that wakes the loop) and
one more callback in the loop to copy the result over. A search batch finishes eight to twenty
requests at once, so :class:`LoopHandoff` queues the finished futures and wakes the loop once for
all of those queued since its last wake-up; the loop then resolves each awaiting request's
future. About 12 vs 8 us of CPU per request in a threaded micro-benchmark (uvloop, batches of 8).

Semantics are ``wrap_future``'s: the awaited result or exception of the thread's future, and a
cancelled request cancels the thread's future (the worker then skips it).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from concurrent.futures import Future
from typing import Any

__all__ = ["LoopHandoff", "handoff_for", "await_future"]


class LoopHandoff:
    """Resolves asyncio futures of one loop from worker-thread futures, one wake-up per burst."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._done: deque[tuple[asyncio.Future, Future]] = deque()
        self._lock = threading.Lock()
        self._woken = False

    def wrap(self, future: Future) -> asyncio.Future:
        """An asyncio future of this loop that takes ``future``'s outcome (called in the loop's thread)."""
        waiter = self.loop.create_future()
        future.add_done_callback(lambda f: self._finished(waiter, f))
        return waiter

    def _finished(self, waiter: asyncio.Future, future: Future) -> None:
        """In the thread that finished ``future``: queue it; wake the loop unless a wake-up is pending."""
        with self._lock:
            self._done.append((waiter, future))
            if self._woken:
                return
            self._woken = True
        try:
            self.loop.call_soon_threadsafe(self._resolve)
        except RuntimeError:  # the loop is closed: nobody awaits these any more
            pass

    def _resolve(self) -> None:
        """In the loop: every queued outcome to its waiter."""
        with self._lock:
            done, self._done = self._done, deque()
            self._woken = False
        for waiter, future in done:
            if waiter.done():  # the request was cancelled meanwhile
                continue
            if future.cancelled():
                waiter.cancel()
            elif future.exception() is not None:
                waiter.set_exception(future.exception())
            else:
                waiter.set_result(future.result())


_HANDOFFS: weakref.WeakKeyDictionary[Any, LoopHandoff] = weakref.WeakKeyDictionary()
_HANDOFFS_LOCK = threading.Lock()


def handoff_for(loop: asyncio.AbstractEventLoop) -> LoopHandoff:
    """The :class:`LoopHandoff` of ``loop`` (one per loop, made on first use)."""
    handoff = _HANDOFFS.get(loop)
    if handoff is None:
        with _HANDOFFS_LOCK:
            handoff = _HANDOFFS.setdefault(loop, LoopHandoff(loop))
    return handoff


async def await_future(future: Future) -> Any:
    """``await asyncio.wrap_future(future)`` through the running loop's :class:`LoopHandoff`."""
    try:
        return await handoff_for(asyncio.get_running_loop()).wrap(future)
    except asyncio.CancelledError:
        future.cancel()  # the request went away: the worker skips a cancelled future
        raise
