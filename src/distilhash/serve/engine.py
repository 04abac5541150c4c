"""The search service without HTTP: indexes + their query encoders, limits, caches and timings.

One service holds one index per stored modality (``image`` and/or ``text``; the modality comes
from the index manifest). A query's *direction* is the query modality and the target index:
``t2i`` (text -> images), ``i2t``, ``i2i``, ``t2t``.

Text query path (each stage timed, see :meth:`SearchService.stats`)::

    text --light encoder (n-gram ridge, ~0.05 ms)-------------------------> f [1, D]  "light_text"
         `-(OOV rate > max_oov, or query_encoder="teacher")
           --(LRU cache | teacher.encode_texts, micro-batched)-----------> f [1, D]  "teacher_text"
    queued f of concurrent requests --one batch--> method.encode("text", F, "query") "project"
                                               --> index.search(Q, max k) + metadata "search"

The project + search stages run in one worker thread per index that takes every query queued
while it was busy as one batch (``max_search_batch``): one model call, one index call and one
lock acquisition per batch instead of per request; an idle service answers a lone query at once.
Each answer says which encoder produced its features (``encoder``).

Errors are :class:`ServiceError` with an HTTP status and a message meant for the user.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from distilhash.errors import DistilhashError
from distilhash.serve.stats import LatencyStats, LRUCache
from distilhash.serve.thumbs import ThumbStore, encode_thumbnail, thumb_keys

__all__ = ["ServiceConfig", "ServiceError", "SearchService", "DIRECTIONS"]

DIRECTIONS = {"t2i": ("text", "image"), "t2t": ("text", "text"), "i2i": ("image", "image"), "i2t": ("image", "text")}


class ServiceError(Exception):
    """A request the service refuses: ``status`` (HTTP code) and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ServiceConfig:
    """Limits and tunables of the service (data).

    Attributes:
        api_key: key required (header ``X-API-Key``) to add or delete items; None = read-only service.
        max_query_chars: longest text query accepted.
        max_k: most results per query.
        max_upload_bytes: largest image upload accepted.
        max_image_pixels: largest decoded image (width * height) accepted.
        text_cache_size: LRU entries of text -> teacher features (0 disables the cache).
        max_batch: most text queries encoded together by the teacher's micro-batcher.
        thumb_size: longest side of thumbnails stored for items added through the service.
        query_encoder: text queries' features: ``teacher`` (the teacher's text tower) or ``light``
            (:mod:`distilhash.serve.light_text`, with the teacher as fallback for queries whose
            out-of-vocabulary rate exceeds ``light_max_oov``).
        light_max_oov: fallback threshold (None: the one stored with the light encoder).
        light_text_dir: the light encoder's directory (None: ``<model_dir>/light-text``).
        max_search_batch: most queries projected and searched together by one index's worker.
        search_workers: worker threads per index for text queries, each with its own read-only
            handle of the index (a search holds its handle's lock, so this is how several cores
            search at once). Only for read-only services (no ``api_key``): with writes, one worker.
        index_backend: searcher of the served indexes (:class:`distilhash.index.IndexOptions`
            ``backend``: ``auto``, or e.g. ``ivf`` for an approximate PQ search).
        index_options: that searcher's options (``searcher_options``, e.g. ``{"nprobe": 32}``).
        torch_threads: torch threads in the service's worker threads (None: torch's current setting).
    """

    api_key: str | None = None
    max_query_chars: int = 500
    max_k: int = 100
    max_upload_bytes: int = 8 << 20
    max_image_pixels: int = 40_000_000
    text_cache_size: int = 4096
    max_batch: int = 64
    thumb_size: int = 96
    query_encoder: str = "teacher"
    light_max_oov: float | None = None
    light_text_dir: str | None = None
    max_search_batch: int = 64
    search_workers: int = 1
    index_backend: str = "auto"
    index_options: dict[str, Any] = field(default_factory=dict)
    torch_threads: int | None = None


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


#: torch threads for worker threads; set by :class:`SearchService` (``ServiceConfig.torch_threads``)
_TORCH_THREADS: list[int | None] = [None]


class _BatchQueue:
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


class _TextBatcher(_BatchQueue):
    """Encodes texts with ``teacher`` in one worker thread, a queued batch per forward pass
    (throughput), so the (non thread-safe) tokenizer is used by one thread only."""

    def __init__(self, teacher: Any, max_batch: int) -> None:
        self.teacher = teacher
        super().__init__(max_batch, "text-batcher", [()])

    def submit(self, text: str) -> Future:
        fut: Future = Future()
        self._put((text, fut))
        return fut

    def _process(self, batch: list[tuple[str, Future]]) -> None:
        feats = np.asarray(self.teacher.encode_texts([t for t, _ in batch]), dtype=np.float32)
        for i, (_, fut) in enumerate(batch):
            fut.set_result(feats[i : i + 1])

    def _futures(self, batch: list[tuple[str, Future]]) -> list[Future]:
        return [fut for _, fut in batch]


@dataclass
class _Pending:
    """A text query waiting for the project + search batch of its index."""

    feats: np.ndarray  # float32 [1, D]
    k: int
    timings: dict[str, Any]
    t0: float  # perf_counter at request start
    future: Future
    ready: float = 0.0  # perf_counter when queued


class _SearchBatcher(_BatchQueue):
    """Worker thread(s) of one index: project + search of every queued text query as one batch.

    ``run(batch, index)`` (the service's) gets the list of :class:`_Pending` and the index handle
    of the worker, and resolves their futures. One worker per handle in ``indexes`` (read-only
    services may open the same index several times so that searches use several cores).
    """

    def __init__(self, run: Any, max_batch: int, name: str, indexes: list[Any]) -> None:
        self._run_batch = run
        super().__init__(max_batch, f"search-{name}", [(ix,) for ix in indexes])

    def submit(self, item: _Pending) -> None:
        item.ready = time.perf_counter()
        self._put(item)

    def _process(self, batch: list[_Pending], index: Any) -> None:
        self._run_batch(batch, index)

    def _futures(self, batch: list[_Pending]) -> list[Future]:
        return [it.future for it in batch]

    def _failure(self, exc: BaseException) -> BaseException:
        return exc if isinstance(exc, ServiceError) else ServiceError(500, f"search failed: {type(exc).__name__}: {exc}")


QUERY_ENCODERS = ("teacher", "light")


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


# searchers whose search() keeps no per-call state in the searcher object: concurrent queries are
# safe and the C / FAISS scans release the GIL, so two cores can scan at once. Others (mih keeps
# visited-row stamps) are searched one query at a time.
CONCURRENT_SEARCHERS = frozenset({"native", "faiss", "faiss-flat", "faiss-flat-heap", "numpy"})


@dataclass
class _Target:
    """One served index (``modality`` = what its items are) and the model that encodes its queries."""

    modality: str
    index: Any
    encoder: Any
    thumbs: ThumbStore
    lock: RWLock = field(default_factory=RWLock)
    light: Any = None  # LightTextEncoder when the service answers text queries with it
    batcher: Any = None  # _SearchBatcher of text queries
    replicas: list[Any] = field(default_factory=list)  # extra read-only handles for more search workers

    def search_lock(self):
        """Shared lock when the index's searcher allows concurrent queries, else exclusive."""
        concurrent = self.index.backend in CONCURRENT_SEARCHERS
        return self.lock.read() if concurrent else self.lock.write()


class SearchService:
    """Search, fetch, add and delete over one or two indexes (see module docstring).

    Args:
        index_dirs: one index directory, or several (at most one per stored modality).
        model_dir, teacher: override the model / teacher recorded in the index manifests.
        config: limits (:class:`ServiceConfig`).
        encoder: a ready query encoder (an object with ``method`` and ``teacher``; tests, demos);
            default: :class:`distilhash.index.query.QueryEncoder` of each index's model.
    """

    def __init__(self, index_dirs: str | Path | list[str | Path], model_dir: str | Path | None = None,
                 teacher: str | None = None, config: ServiceConfig | None = None, encoder: Any = None,
                 light_encoder: Any = None) -> None:
        from distilhash.distributed.sharded_index import open_any_index as open_index  # a sharded index too
        from distilhash.index.query import query_encoder_for

        self.config = config or ServiceConfig()
        if self.config.torch_threads:
            _TORCH_THREADS[0] = int(self.config.torch_threads)
        if self.config.query_encoder not in QUERY_ENCODERS:
            raise ServiceError(500, f"query_encoder {self.config.query_encoder!r}; expected one of {', '.join(QUERY_ENCODERS)}")
        self.stats_ = LatencyStats()
        self.text_cache: LRUCache[np.ndarray] = LRUCache(self.config.text_cache_size)
        self.started = time.time()
        self.errors: dict[int, int] = {}
        dirs = [index_dirs] if isinstance(index_dirs, (str, Path)) else list(index_dirs)
        if not dirs:
            raise ServiceError(500, "no index directory given")
        self.targets: dict[str, _Target] = {}
        encoders: dict[tuple[str, str], Any] = {}
        try:
            for d in dirs:
                idx = open_index(d, writable=bool(self.config.api_key), options=self._index_options())
                modality = (idx.manifest.get("extra") or {}).get("modality", "image")
                if modality in self.targets:
                    idx.close()
                    raise ServiceError(500, f"two indexes store {modality} items ({self.targets[modality].index.directory} and {d}); serve one per modality")
                if encoder is not None:
                    enc = encoder
                else:
                    key = (str(model_dir or idx.manifest.get("model_dir")), str(teacher or idx.manifest.get("teacher")))
                    enc = encoders.get(key) or query_encoder_for(idx, model_dir, teacher)
                    encoders[key] = enc
                self.targets[modality] = _Target(modality, idx, enc, ThumbStore(d))
            if self.config.query_encoder == "light":
                for t in self.targets.values():
                    t.light = light_encoder if light_encoder is not None else self._load_light(t)
            workers = max(1, int(self.config.search_workers)) if not self.config.api_key else 1
            for t in self.targets.values():
                t.replicas = [open_index(t.index.directory, options=self._index_options()) for _ in range(workers - 1)]
                t.batcher = _SearchBatcher(lambda batch, index, t=t: self._run_text_batch(t, batch, index),
                                           self.config.max_search_batch, t.modality, [t.index, *t.replicas])
        except BaseException:
            self.close()
            raise
        self.primary = next(iter(self.targets))
        self._batchers: dict[int, _TextBatcher] = {}
        self._image_lock = threading.Lock()
        self._batcher_lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------
    def _direction(self, query_modality: str, direction: str | None) -> tuple[str, _Target]:
        if direction is None:
            other = "image" if query_modality == "text" else "text"
            target = other if other in self.targets else self.primary
            direction = f"{query_modality[0]}2{target[0]}"
        if direction not in DIRECTIONS:
            raise ServiceError(400, f"unknown direction {direction!r}; expected one of {', '.join(DIRECTIONS)}")
        qmod, tmod = DIRECTIONS[direction]
        if qmod != query_modality:
            raise ServiceError(400, f"direction {direction!r} needs a {qmod} query; this request has a {query_modality} query")
        if tmod not in self.targets:
            raise ServiceError(400, f"direction {direction!r} needs an index of {tmod} items; this service has: {', '.join(self.targets)}")
        return direction, self.targets[tmod]

    def _target(self, name: str | None) -> _Target:
        name = name or self.primary
        if name not in self.targets:
            raise ServiceError(400, f"unknown target {name!r}; this service has: {', '.join(self.targets)}")
        return self.targets[name]

    def _index_options(self) -> Any:
        from distilhash.index.core import IndexOptions

        return IndexOptions(backend=self.config.index_backend, searcher_options=dict(self.config.index_options or {}))

    def _load_light(self, target: _Target) -> Any:
        """The light text encoder of ``target``'s model (config dir or ``<model_dir>/light-text``)."""
        from distilhash.serve.light_text import light_text_dir, load_light_text

        where = self.config.light_text_dir
        if where is None:
            model_dir = getattr(target.encoder, "model_dir", None)
            if model_dir is None:
                raise ServiceError(500, "query_encoder='light' needs light_text_dir (the query encoder has no model directory)")
            where = light_text_dir(model_dir)
        try:
            light = load_light_text(where)
        except DistilhashError as exc:
            raise ServiceError(500, str(exc)) from None
        width = getattr(target.encoder.method, "feature_width_", None)
        if width is not None and light.width != int(width):
            raise ServiceError(500, f"the light text encoder at {where} makes {light.width}-d features; the model expects {width}")
        return light

    def _max_oov(self, light: Any) -> float:
        return float(self.config.light_max_oov if self.config.light_max_oov is not None else light.config.max_oov)

    def _batcher(self, teacher: Any) -> _TextBatcher:
        b = self._batchers.get(id(teacher))
        if b is None:
            with self._batcher_lock:
                b = self._batchers.get(id(teacher))
                if b is None:
                    b = self._batchers[id(teacher)] = _TextBatcher(teacher, self.config.max_batch)
        return b

    def check_text(self, text: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ServiceError(400, "the query text is empty; type a few words")
        text = text.strip()
        if len(text) > self.config.max_query_chars:
            raise ServiceError(400, f"the query text has {len(text)} characters; the limit is {self.config.max_query_chars}")
        return text

    def check_k(self, k: int) -> int:
        if not isinstance(k, int) or k < 1 or k > self.config.max_k:
            raise ServiceError(400, f"k must be an integer from 1 to {self.config.max_k}, got {k!r}")
        return k

    def decode_image(self, data: bytes, what: str = "upload") -> Any:
        """RGB PIL image from uploaded bytes (size cap, decodable image, pixel cap) or ServiceError."""
        from PIL import Image, UnidentifiedImageError

        cap = self.config.max_upload_bytes
        if len(data) > cap:
            raise ServiceError(413, f"the {what} has {len(data):,} bytes; the limit is {cap:,} bytes ({cap / 2**20:.1f} MB)")
        if not data:
            raise ServiceError(400, f"the {what} is empty; send an image file (PNG, JPEG, WebP, ...)")
        try:
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > self.config.max_image_pixels:
                    raise ServiceError(413, f"the {what} is {im.width}x{im.height} pixels; the limit is {self.config.max_image_pixels:,} pixels")
                im.load()
                return im.convert("RGB")
        except ServiceError:
            raise
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
            raise ServiceError(415, f"the {what} is not an image Pillow can read ({type(exc).__name__}: {exc})") from None

    def _result_items(self, target: _Target, res: Any, has_thumbs: bool | None = None) -> list[dict[str, Any]]:
        if has_thumbs is None:
            has_thumbs = target.thumbs.path.exists()
        out = []
        for i, d, md in zip(res.ids, res.distances.tolist(), res.metadata):
            out.append({
                "id": i,
                "distance": float(d),
                "caption": md.get("caption"),
                "labels": md.get("labels"),
                "metadata": md,
                "thumbnail": f"/api/items/{quote(i, safe='')}/thumbnail?target={target.modality}" if has_thumbs else None,
            })
        return out

    def _model_info(self, target: _Target) -> dict[str, Any]:
        m = target.encoder.method
        md = target.index.manifest.get("model_dir")
        return {"method": getattr(m, "name", type(m).__name__), "bits": int(target.index.n_bits),
                "model_dir": Path(md).name if md else None,
                "teacher": getattr(target.encoder, "teacher_spec", None) or target.index.manifest.get("teacher")}

    def _search(self, target: _Target, query: Any, k: int, timings: dict[str, float]) -> list[dict[str, Any]]:
        with self.stats_.timer("search", timings), target.search_lock():
            try:
                res = target.index.search(query, k)[0]
            except DistilhashError as exc:
                raise ServiceError(500, f"search failed: {exc}") from None
        return self._result_items(target, res)

    # -- queries ---------------------------------------------------------------------------
    def _teacher_features(self, target: _Target, text: str, timings: dict[str, Any]) -> np.ndarray | Future:
        """Cached teacher features of ``text``, or a Future of them from the micro-batcher."""
        teacher = target.encoder.teacher
        key = (id(teacher), text)
        feats = self.text_cache.get(key)
        timings["cache_hit"] = feats is not None
        if feats is not None:
            return feats
        fut = self._batcher(teacher).submit(text)
        fut.add_done_callback(lambda f: f.exception() is None and self.text_cache.put(key, f.result()))
        return fut

    def submit_text(self, text: Any, k: int = 10, direction: str | None = None) -> Future:
        """Start a text query; the Future resolves to the answer dict (see :meth:`search_text`).

        Validation errors are raised here (ServiceError); failures later are set on the Future.
        """
        t0 = time.perf_counter()
        text, k = self.check_text(text), self.check_k(k)
        direction, target = self._direction("text", direction)
        timings: dict[str, Any] = {}
        answer: Future = Future()
        info: dict[str, Any] = {"name": "teacher", "oov_rate": None, "fallback": False}
        feats: np.ndarray | Future | None = None
        if target.light is not None:
            t1 = time.perf_counter()
            lf, oov = target.light.encode([text])
            ms = (time.perf_counter() - t1) * 1e3
            self.stats_.record("light_text", ms)
            timings["light_text"] = round(ms, 3)
            info["oov_rate"] = round(float(oov[0]), 4)
            if oov[0] <= self._max_oov(target.light):
                info["name"] = "light"
                feats = lf
            else:
                info["fallback"] = True
                self.stats_.record("light_fallback", 1.0)
        t1 = time.perf_counter()
        if feats is None:
            feats = self._teacher_features(target, text, timings)

        def queue(f: np.ndarray) -> None:
            if info["name"] == "teacher":
                ms = (time.perf_counter() - t1) * 1e3
                self.stats_.record("teacher_text", ms)
                timings["teacher_text"] = round(ms, 3)
            timings["encoder"] = info
            item = _Pending(np.asarray(f, np.float32).reshape(1, -1), k, timings, t0, answer)
            item.timings["_meta"] = (text, direction)
            try:
                target.batcher.submit(item)
            except ServiceError as exc:
                answer.set_exception(exc)

        if isinstance(feats, Future):
            def chain(f: Future) -> None:
                exc = f.exception()
                if exc is not None:
                    answer.set_exception(exc if isinstance(exc, ServiceError) else ServiceError(500, f"text encoder failed: {exc}"))
                else:
                    queue(f.result())
            feats.add_done_callback(chain)
        else:
            queue(feats)
        return answer

    def _run_text_batch(self, target: _Target, batch: list[_Pending], index: Any) -> None:
        """Project + search a batch of text queries on ``index`` (``target``'s or a read-only replica)."""
        # requests whose client went away were cancelled: skip them (their futures cannot take a result)
        batch = [it for it in batch if it.future.set_running_or_notify_cancel()]
        if not batch:
            return
        t_start = time.perf_counter()
        feats = np.concatenate([it.feats for it in batch])
        with self.stats_.timer("project"):
            query = target.encoder.method.encode("text", feats, role="query")
        t_proj = time.perf_counter()
        kmax = max(it.k for it in batch)
        lock = target.search_lock() if index is target.index else contextlib.nullcontext()
        with lock:
            try:
                results = index.search(query, kmax)
            except DistilhashError as exc:
                raise ServiceError(500, f"search failed: {exc}") from None
        t_search = time.perf_counter()
        self.stats_.record("search", (t_search - t_proj) * 1e3)
        self.stats_.record("search_batch", float(len(batch)))
        proj_ms, search_ms = round((t_proj - t_start) * 1e3, 3), round((t_search - t_proj) * 1e3, 3)
        model = self._model_info(target)
        has_thumbs = target.thumbs.path.exists()  # once per batch: every syscall gives the GIL away
        for it, res in zip(batch, results):
            if len(res.ids) > it.k:
                res = type(res)(res.ids[: it.k], res.distances[: it.k], res.metadata[: it.k])
            tm = it.timings
            text, direction = tm.pop("_meta")
            encoder = tm.pop("encoder")
            wait = round((t_start - it.ready) * 1e3, 3)
            self.stats_.record("queue_wait", wait)
            tm.update({"queue_wait": wait, "project": proj_ms, "search": search_ms, "batch": len(batch)})
            items = self._result_items(target, res, has_thumbs)
            total = (time.perf_counter() - it.t0) * 1e3
            self.stats_.record("text_query", total)
            it.future.set_result({"query": text, "direction": direction, "k": it.k, "results": items,
                                  "took_ms": round(total, 3), "timings_ms": tm, "encoder": encoder, "model": model})

    def search_text(self, text: Any, k: int = 10, direction: str | None = None) -> dict[str, Any]:
        """Top-``k`` items for a text query; ``direction`` t2i (default when images are served) or t2t.

        Returns ``{"query", "direction", "k", "results", "took_ms", "timings_ms", "encoder", "model"}``;
        ``encoder`` = ``{"name": "light"|"teacher", "oov_rate", "fallback"}``.
        """
        return self.submit_text(text, k, direction).result(timeout=120)

    async def search_text_async(self, text: Any, k: int = 10, direction: str | None = None) -> dict[str, Any]:
        """:meth:`search_text` for an asyncio event loop (waits without holding a thread)."""
        import asyncio

        return await asyncio.wrap_future(self.submit_text(text, k, direction))

    def search_image(self, data: bytes, k: int = 10, direction: str | None = None) -> dict[str, Any]:
        """Top-``k`` items for an uploaded image; ``direction`` i2t (default when texts are served) or i2i."""
        t0 = time.perf_counter()
        k = self.check_k(k)
        direction, target = self._direction("image", direction)
        timings: dict[str, float] = {}
        with self.stats_.timer("decode_image", timings):
            image = self.decode_image(data)
        pin_torch_threads()
        with self.stats_.timer("teacher_image", timings), self._image_lock:
            feats = np.asarray(target.encoder.teacher.encode_images([image]), dtype=np.float32)
        with self.stats_.timer("project", timings):
            query = target.encoder.method.encode("image", feats, role="query")
        results = self._search(target, query, k, timings)
        total = (time.perf_counter() - t0) * 1e3
        self.stats_.record("image_query", total)
        return {"query": f"image {image.width}x{image.height}", "direction": direction, "k": k, "results": results,
                "took_ms": round(total, 3), "timings_ms": timings, "model": self._model_info(target)}

    # -- items -----------------------------------------------------------------------------
    def _lookup(self, target: _Target, item_id: str) -> dict[str, Any]:
        with target.lock.read():
            found = target.index.get([item_id])
        if item_id not in found:
            raise ServiceError(404, f"no item with id {item_id!r} in the {target.modality} index")
        return found[item_id][1]

    def get_item(self, item_id: str, target: str | None = None) -> dict[str, Any]:
        t = self._target(target)
        md = self._lookup(t, item_id)
        has = t.thumbs.has_any(thumb_keys(item_id, md))
        return {"id": item_id, "target": t.modality, "caption": md.get("caption"), "labels": md.get("labels"),
                "metadata": md, "thumbnail": f"/api/items/{quote(item_id, safe='')}/thumbnail?target={t.modality}" if has else None}

    def thumbnail(self, item_id: str, target: str | None = None) -> tuple[str, bytes]:
        """(mime, bytes) of an item's thumbnail from the index's own store; 404 for unknown ids."""
        t = self._target(target)
        md = self._lookup(t, item_id)
        got = t.thumbs.get(thumb_keys(item_id, md))
        if got is None:
            raise ServiceError(404, f"item {item_id!r} has no thumbnail in {t.thumbs.path.name}")
        return got

    def check_key(self, key: str | None) -> None:
        expected = self.config.api_key
        if not expected:
            raise ServiceError(403, "this service was started without an API key, so adding and deleting items is disabled")
        if not key:
            raise ServiceError(401, "missing API key: send it in the X-API-Key header")
        if not hmac.compare_digest(key.encode(), expected.encode()):
            raise ServiceError(403, "wrong API key")

    def add_item(self, item_id: str, caption: str | None = None, image: bytes | None = None,
                 metadata: str | dict[str, Any] | None = None, target: str | None = None) -> dict[str, Any]:
        """Encode and add one item (image index: needs ``image``; text index: needs ``caption``)."""
        t = self._target(target)
        if not isinstance(item_id, str) or not item_id.strip() or len(item_id) > 200:
            raise ServiceError(400, "the item id must be a non-empty string of at most 200 characters")
        if isinstance(metadata, str) and metadata.strip():
            try:
                metadata = json.loads(metadata)
            except json.JSONDecodeError as exc:
                raise ServiceError(400, f"metadata is not valid JSON: {exc}") from None
        if not isinstance(metadata or {}, dict):
            raise ServiceError(400, "metadata must be a JSON object")
        md: dict[str, Any] = dict(metadata or {})
        if caption is not None and caption.strip():
            md["caption"] = self.check_text(caption)
        pil = self.decode_image(image) if image else None
        pin_torch_threads()
        if t.modality == "image":
            if pil is None:
                raise ServiceError(400, "this index stores images: send the item's image file")
            with self._image_lock:
                feats = np.asarray(t.encoder.teacher.encode_images([pil]), dtype=np.float32)
        else:
            if "caption" not in md:
                raise ServiceError(400, "this index stores texts: send the item's caption")
            feats = np.asarray(t.encoder.teacher.encode_texts([md["caption"]]), dtype=np.float32)
        codes = t.encoder.method.encode(t.modality, feats, role="database")
        md["source"] = "api"
        if pil is not None:
            mime, data = encode_thumbnail(pil, self.config.thumb_size)
            t.thumbs.put_many([(f"id:{item_id}", mime, data)])
        with t.lock.write():
            try:
                t.index.add([item_id], codes, [md])
            except DistilhashError as exc:
                status = 409 if "already in the index" in str(exc) else 400
                raise ServiceError(status, str(exc)) from None
        return self.get_item(item_id, t.modality)

    def delete_item(self, item_id: str, target: str | None = None) -> dict[str, Any]:
        t = self._target(target)
        with t.lock.write():
            if item_id not in t.index.get([item_id]):
                raise ServiceError(404, f"no item with id {item_id!r} in the {t.modality} index")
            t.index.delete([item_id])
        t.thumbs.delete([f"id:{item_id}"])
        return {"deleted": item_id, "target": t.modality, "count": len(t.index)}

    def warm(self) -> None:
        """Load what the first query would: the teacher, the searchers, one text through the path."""
        for t in self.targets.values():
            with t.search_lock():
                t.index.searcher()
            for replica in t.replicas:  # each read-only handle builds its own searcher (an IVF trains its lists)
                replica.searcher()
            feats = np.asarray(t.encoder.teacher.encode_texts(["warm up"]), dtype=np.float32)
            t.encoder.method.encode("text", feats, role="query")
            if t.light is not None:
                t.light.encode(["warm up"])

    # -- status ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {"status": "ok", "indexes": {m: len(t.index) for m, t in self.targets.items()}}

    def stats(self) -> dict[str, Any]:
        indexes = {}
        for m, t in self.targets.items():
            info = t.index.info()
            indexes[m] = {"count": info["count"], "kind": info["kind"], "bits": info["n_bits"], "backend": info["backend"],
                          "model": self._model_info(t), "thumbnails": t.thumbs.count(), "writable": t.index.writable}
        batch = {"batches": sum(b.batches for b in self._batchers.values()), "texts": sum(b.items for b in self._batchers.values())}
        sb = [t.batcher for t in self.targets.values() if t.batcher is not None]
        search_batches = {"batches": sum(b.batches for b in sb), "queries": sum(b.items for b in sb),
                          "workers_per_index": {m: 1 + len(t.replicas) for m, t in self.targets.items()}}
        light = {m: {"dir": str(self.config.light_text_dir or "<model_dir>/light-text"), "max_oov": self._max_oov(t.light),
                     "n_grams": len(t.light.vocab), "val_cosine_mean": t.light.report.get("val_cosine_mean")}
                 for m, t in self.targets.items() if t.light is not None}
        import os

        return {"uptime_s": round(time.time() - self.started, 1), "pid": os.getpid(), "indexes": indexes, "latency_ms": self.stats_.summary(),
                "text_cache": self.text_cache.info(), "text_batches": batch, "search_batches": search_batches,
                "query_encoder": self.config.query_encoder, "light_text": light, "runtime": _runtime(),
                "errors_by_status": dict(self.errors),
                "limits": {k: v for k, v in asdict(self.config).items() if k != "api_key"}}

    def close(self) -> None:
        for b in getattr(self, "_batchers", {}).values():
            b.stop()
        for t in getattr(self, "targets", {}).values():
            if t.batcher is not None:
                t.batcher.stop()
                t.batcher = None
        for t in getattr(self, "targets", {}).values():
            t.index.close()
            for r in t.replicas:
                r.close()
            t.thumbs.close()


def _runtime() -> dict[str, bool]:
    """Which optional fast HTTP pieces are installed (uvicorn picks uvloop / httptools when present)."""
    import importlib.util

    return {m: importlib.util.find_spec(m) is not None for m in ("orjson", "uvloop", "httptools")}
