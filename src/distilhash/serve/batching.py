"""Worker threads that batch queued work: the teacher's text micro-batcher, the encoder of added
items and each index's project + search batcher (:class:`BatchQueue`), the readers/writer lock of
an index, and the per-thread torch setting.

A batch queue's worker takes everything queued while it was busy (up to ``max_batch``) as one
batch: idle, an item is processed alone at once; under load, one model call, one index call and
one lock acquisition serve many requests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from distilhash.serve.config import ServiceError

_log = logging.getLogger("distilhash.serve")

__all__ = ["pin_torch_threads", "set_torch_threads", "BatchQueue", "TextBatcher", "ItemBatcher", "Pending", "SearchBatcher",
           "RWLock"]

_THREAD_STATE = threading.local()


def pin_torch_threads() -> None:
    """Apply torch's thread count in the calling thread (once per thread).

    ``torch.set_num_threads`` reaches OpenMP only in the thread that calls it: worker threads
    otherwise run torch ops with the OpenMP default (all cores) and, next to the teacher, the
    model's small text head took 1-20 ms instead of 0.3 ms per call in a new thread here.
    """
    import sys

    if getattr(_THREAD_STATE, "pinned", False) or "torch" not in sys.modules:
        return
    torch = sys.modules["torch"]
    torch.set_num_threads(_TORCH_THREADS[0] or torch.get_num_threads())
    _THREAD_STATE.pinned = True


#: torch threads for worker threads; set by :func:`set_torch_threads` (``ServiceConfig.torch_threads``)
_TORCH_THREADS: list[int | None] = [None]


def set_torch_threads(n: int) -> None:
    """Torch threads that :func:`pin_torch_threads` applies in each worker thread."""
    _TORCH_THREADS[0] = int(n)


class BatchQueue:
    """A queue drained by worker threads, each taking everything queued (up to ``max_batch``) as one batch.

    Idle: an item is processed alone at once. Under load: items arriving while a batch runs are
    processed together next. Subclasses implement ``_process(batch, *worker_args)`` and resolve
    their items' futures; an exception fails every item of the batch with ``_failure(exc)``.
    """

    def __init__(self, max_batch: int, name: str, worker_args: list[tuple]) -> None:
        self.max_batch = max(1, int(max_batch))
        self._queue: list[Any] = []
        self._cv = threading.Condition()
        self._stopped = False
        self.batches = 0
        self.items = 0
        self._threads = [threading.Thread(target=self._loop, args=args, name=f"{name}-{i}", daemon=True)
                         for i, args in enumerate(worker_args)]
        for t in self._threads:
            t.start()

    def _put(self, item: Any) -> None:
        with self._cv:
            if self._stopped:
                raise ServiceError(503, "the service is shutting down")
            self._queue.append(item)
            self._cv.notify()

    def _loop(self, *args: Any) -> None:
        pin_torch_threads()
        while True:
            with self._cv:
                while not self._queue and not self._stopped:
                    self._cv.wait()
                if self._stopped and not self._queue:
                    return
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                self.batches += 1
                self.items += len(batch)
            try:
                self._process(batch, *args)
            except BaseException as exc:  # hand the failure to every waiting request
                err = self._failure(exc)
                for fut in self._futures(batch):
                    if not fut.done():
                        fut.set_exception(err)

    def _process(self, batch: list[Any], *args: Any) -> None:
        raise NotImplementedError

    def _futures(self, batch: list[Any]) -> list[Future]:
        raise NotImplementedError

    def _failure(self, exc: BaseException) -> BaseException:
        return exc

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout=5)


class TextBatcher(BatchQueue):
    """Reads texts with ``read`` (a query encoder's heavy text reader: ``texts -> float32 [n, D]``)
    in one worker thread, a queued batch per forward pass (throughput), so the (non thread-safe)
    tokenizer is used by one thread only."""

    def __init__(self, read: Callable[[list[str]], np.ndarray], max_batch: int) -> None:
        self.read = read
        super().__init__(max_batch, "text-batcher", [()])

    def submit(self, text: str) -> Future:
        fut: Future = Future()
        self._put((text, fut))
        return fut

    def _process(self, batch: list[tuple[str, Future]]) -> None:
        feats = np.asarray(self.read([t for t, _ in batch]), dtype=np.float32)
        for i, (_, fut) in enumerate(batch):
            fut.set_result(feats[i : i + 1])

    def _futures(self, batch: list[tuple[str, Future]]) -> list[Future]:
        return [fut for _, fut in batch]


class ItemBatcher(BatchQueue):
    """Encodes the items of concurrent adds in one worker thread: everything queued while it was
    busy goes through ``encode(items) -> Encoded [n]`` as one batch (one forward pass of the
    teacher's image tower for several adds: about 0.65x the CPU per image of one at a time, Lite0
    with one torch thread). ``setup`` runs once in that thread before its first batch (the index
    writer lowers the thread's CPU priority there, :mod:`distilhash.serve.writer`)."""

    def __init__(self, encode: Callable[[list[Any]], Any], max_batch: int, setup: Callable[[], None] | None = None) -> None:
        self.encode = encode
        self._setup = setup
        super().__init__(max_batch, "item-encoder", [()])

    def submit(self, item: Any) -> Future:
        """Queue one item (a PIL image, a caption); the Future resolves to its ``Encoded`` [1]."""
        fut: Future = Future()
        self._put((item, fut))
        return fut

    def _process(self, batch: list[tuple[Any, Future]]) -> None:
        if self._setup is not None:
            setup, self._setup = self._setup, None
            setup()
        codes = self.encode([it for it, _ in batch])
        for i, (_, fut) in enumerate(batch):
            fut.set_result(codes.take(np.array([i])))

    def _futures(self, batch: list[tuple[Any, Future]]) -> list[Future]:
        return [fut for _, fut in batch]

    def _failure(self, exc: BaseException) -> BaseException:
        if isinstance(exc, ServiceError):
            return exc
        _log.error("encoding added items failed", exc_info=exc)
        return ServiceError(500, "encoding the item failed inside the service; the server log has the details")


@dataclass
class Pending:
    """A text query waiting for the project + search batch of its index."""

    feats: np.ndarray  # float32 [1, D]
    k: int
    timings: dict[str, Any]
    t0: float  # perf_counter at request start
    future: Future
    ready: float = 0.0  # perf_counter when queued


class SearchBatcher(BatchQueue):
    """Worker thread(s) of one index: project + search of every queued text query as one batch.

    ``run(batch, index)`` (the service's) gets the list of :class:`Pending` and the index handle
    of the worker, and resolves their futures. One worker per handle in ``indexes`` (read-only
    services may open the same index several times so that searches use several cores).
    """

    def __init__(self, run: Any, max_batch: int, name: str, indexes: list[Any]) -> None:
        self._run_batch = run
        super().__init__(max_batch, f"search-{name}", [(ix,) for ix in indexes])

    def submit(self, item: Pending) -> None:
        item.ready = time.perf_counter()
        self._put(item)

    def _process(self, batch: list[Pending], index: Any) -> None:
        self._run_batch(batch, index)

    def _futures(self, batch: list[Pending]) -> list[Future]:
        return [it.future for it in batch]

    def _failure(self, exc: BaseException) -> BaseException:
        if isinstance(exc, ServiceError):
            return exc
        _log.error("search batch failed", exc_info=exc)
        return ServiceError(500, "the search failed inside the service; the server log has the details")


class RWLock:
    """Many readers or one writer (writers are not starved: new readers wait for a queued writer)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cv:
            while self._writer or self._waiting_writers:
                self._cv.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cv:
                self._readers -= 1
                if not self._readers:
                    self._cv.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cv:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cv.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cv:
                self._writer = False
                self._cv.notify_all()
