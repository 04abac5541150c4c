"""The search service without HTTP: indexes + their query encoders, limits, caches and timings.

One service holds one index per stored modality (``image`` and/or ``text``; the modality comes
from the index manifest). A query's *direction* is the query modality and the target index:
``t2i`` (text -> images), ``i2t``, ``i2i``, ``t2t``.

Queries go through each index's :class:`~distilhash.query_encoders.protocol.QueryEncoder`, the
same two stages the CLI and the Python API use; the service only decides *how* to run the first
from what the encoder declares (``capabilities.text.cost``). Text query path (each stage timed,
see :meth:`SearchService.stats`)::

    text --encoder.read (CHEAP: the static encoder, ~0.1 ms, inline)-----> f [1, D]  "static_text"
         `-(HEAVY: the teacher's tower: LRU cache | micro-batched read)--> f [1, D]  "teacher_text"
         `-(NONE: the model reads the words itself in project)---------> f [1, 0]
    queued f of concurrent requests --one batch--> encoder.project("text", texts, F)   "project"
                                               --> index.search(Q, max k) + metadata "search"

The project + search stages run in one worker thread per index that takes every query queued
while it was busy as one batch (``max_search_batch``): one model call, one index call and one
lock acquisition per batch instead of per request; an idle service answers a lone query at once.
Each answer says which encoder produced its features (``encoder``).

Errors are :class:`ServiceError` with an HTTP status and a message meant for the user. The served
indexes and their encoders are :mod:`distilhash.serve.targets`; the answer's items and notes
:mod:`distilhash.serve.answers`; the micro-batchers :mod:`distilhash.serve.batching`; the HTTP
endpoints :mod:`distilhash.serve.app`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from distilhash.errors import DataError
from distilhash.query_encoders.protocol import QueryEncoder, ReadCost, Reader
from distilhash.serve.answers import answer_notes, result_items, runtime_info
from distilhash.serve.batching import ItemBatcher, Pending, SearchBatcher, TextBatcher, pin_torch_threads, set_torch_threads
from distilhash.serve.config import QUERY_ENCODERS, ServiceConfig, ServiceError
from distilhash.serve.engines import partial_fields, search_or_refuse
from distilhash.serve.items import ItemsMixin
from distilhash.serve.match import match_notes
from distilhash.serve.stats import LatencyStats, LRUCache
from distilhash.serve.targets import Target, choose_direction, index_options, model_info, open_targets, target_named
from distilhash.serve.validate import shown
from distilhash.serve.writer import lower_priority

if TYPE_CHECKING:  # the index package is imported when the service opens its indexes, not on import
    from distilhash.index.protocol import Index

_log = logging.getLogger("distilhash.serve")

#: most added images encoded in one pass (Lite0, one thread: 0.72x the CPU per image of one at a
#: time in pairs, 0.64x in fours; past the writers' concurrency a batch only waits longer)
_ITEM_BATCH = 8

__all__ = ["ServiceConfig", "ServiceError", "SearchService"]


class SearchService(ItemsMixin):
    """Search, fetch, add and delete over one or two indexes (see module docstring).

    Args:
        index_dirs: one index directory, or several (at most one per stored modality).
        model_dir, teacher: override the model / teacher recorded in the index manifests.
        config: limits (:class:`ServiceConfig`).
        encoder: a ready :class:`~distilhash.query_encoders.protocol.QueryEncoder` for every index (tests,
            demos); default: the :class:`~distilhash.query_encoders.query_encoder.ModelQueryEncoder` of
            each index's model.
    """

    def __init__(self, index_dirs: str | Path | list[str | Path], model_dir: str | Path | None = None,
                 teacher: str | None = None, config: ServiceConfig | None = None, encoder: QueryEncoder | None = None) -> None:
        from distilhash.index import open_index  # read-only replicas (a sharded index too)

        self.config = config or ServiceConfig()
        if self.config.torch_threads:
            set_torch_threads(int(self.config.torch_threads))
        if self.config.query_encoder not in QUERY_ENCODERS:
            raise ServiceError(500, f"query_encoder {shown(str(self.config.query_encoder))}; expected one of {', '.join(QUERY_ENCODERS)}")
        self.stats_ = LatencyStats()
        self.text_cache: LRUCache[np.ndarray] = LRUCache(self.config.text_cache_size)
        self.started = time.time()
        self.errors: dict[int, int] = {}
        dirs = [index_dirs] if isinstance(index_dirs, (str, Path)) else list(index_dirs)
        if not dirs:
            raise ServiceError(500, "no index directory given")
        self.targets: dict[str, Target] = {}
        self._batchers: dict[int, TextBatcher] = {}  # set before anything close() reads can fail
        self._item_batchers: dict[int, ItemBatcher] = {}
        try:
            self.targets = open_targets(dirs, self.config, model_dir, teacher, encoder)
            workers = max(1, int(self.config.search_workers)) if not self.config.api_key or self.config.writer_socket else 1
            for t in self.targets.values():
                t.replicas = [open_index(t.index.directory, options=index_options(self.config)) for _ in range(workers - 1)]
                t.batcher = SearchBatcher(lambda batch, index, t=t: self._run_text_batch(t, batch, index),
                                           self.config.max_search_batch, t.modality, [t.index, *t.replicas])
        except BaseException:
            self.close()
            raise
        self.primary = next(iter(self.targets))
        self._image_lock = threading.Lock()
        # a PNG at the pixel cap decodes to ~160 MB before it is reduced: bound how many at once
        self._decode_slots = threading.BoundedSemaphore(max(1, int(self.config.max_parallel_decodes)))
        self._batcher_lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------
    def _direction(self, query_modality: str, direction: str | None) -> tuple[str, Target]:
        return choose_direction(self.targets, self.primary, query_modality, direction)

    def _target(self, name: str | None) -> Target:
        return target_named(self.targets, self.primary, name)

    def _batcher(self, encoder: QueryEncoder) -> TextBatcher:
        """The micro-batcher of ``encoder``'s heavy text reads (one per encoder, shared by its indexes)."""
        b = self._batchers.get(id(encoder))
        if b is None:
            with self._batcher_lock:
                b = self._batchers.get(id(encoder))
                if b is None:
                    b = self._batchers[id(encoder)] = TextBatcher(lambda texts: encoder.read("text", texts),
                                                                  self.config.max_batch)
        return b

    def encode_new_image(self, target: Target, image: Any) -> Any:
        """The database code (``Encoded`` [1]) of an added item's image: images of concurrent adds are
        encoded together, one batch per pass of the image tower (:class:`~distilhash.serve.batching.ItemBatcher`),
        in a thread at ``config.write_nice``."""
        enc = target.encoder
        b = self._item_batchers.get(id(enc))
        if b is None:
            with self._batcher_lock:
                b = self._item_batchers.get(id(enc))
                if b is None:
                    def encode(images: list[Any]) -> Any:
                        with self._image_lock:  # the tower is shared with image searches
                            return enc.encode_items("image", images)

                    nice = int(self.config.write_nice)
                    b = self._item_batchers[id(enc)] = ItemBatcher(encode, _ITEM_BATCH,
                                                                   (lambda: lower_priority(nice)) if nice else None)
        return b.submit(image).result()

    def check_text(self, text: Any, field: str = "q") -> str:
        """The stripped text of a query or caption (``field`` names it in refusals)."""
        what = "the query text" if field == "q" else f"the {field}"
        if not isinstance(text, str) or not text.strip():
            raise ServiceError(400, f"{field}: {what} is empty; type a few words")
        text = text.strip()
        if len(text) > self.config.max_query_chars:
            raise ServiceError(400, f"{field}: {what} has {len(text)} characters; the limit is {self.config.max_query_chars}")
        if "\x00" in text:
            raise ServiceError(400, f"{field}: {what} contains a NUL character; expected plain text")
        return text

    def check_k(self, k: Any) -> int:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k > self.config.max_k:
            got = shown(k, 40) if isinstance(k, str) else str(k)[:40] if isinstance(k, (int, float)) else "a non-integer"
            raise ServiceError(400, f"k: expected an integer from 1 to {self.config.max_k}, got {got}")
        return k

    def decode_image(self, data: bytes, what: str = "file") -> Any:
        """RGB PIL image from uploaded bytes, its work bounded (see :func:`distilhash.data.images.open_image_bounded`).

        ServiceError: 413 over the byte, pixel or aspect-ratio limits; 400 empty; 415 not a readable image.
        """
        from distilhash.data.images import ImageLimits, ImageTooLargeError, open_image_bounded

        cap = self.config.max_upload_bytes
        if len(data) > cap:
            raise ServiceError(413, f"{what}: the upload has {len(data):,} bytes; the limit is {cap:,} bytes ({cap / 2**20:.1f} MB)")
        if not data:
            raise ServiceError(400, f"{what}: the upload is empty; send an image file (PNG, JPEG, WebP, ...)")
        limits = ImageLimits(max_pixels=self.config.max_image_pixels, max_aspect=self.config.max_image_aspect,
                             max_side=self.config.max_image_side)
        try:
            with self._decode_slots:
                return open_image_bounded(data, limits, what=f"{what}: the upload")
        except ImageTooLargeError as exc:
            raise ServiceError(413, str(exc)) from None
        except DataError as exc:
            raise ServiceError(415, str(exc)) from None

    def _search(self, target: Target, query: Any, k: int, timings: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(result items, the answer's ``partial`` / ``missing_shards`` fields) of one query."""
        with self.stats_.timer("search", timings), target.search_lock():
            results, missing = search_or_refuse(target.index, query, k)
        return result_items(target, results[0]), partial_fields(missing)

    # -- queries ---------------------------------------------------------------------------
    def _heavy_text_features(self, target: Target, text: str, timings: dict[str, Any]) -> np.ndarray | Future:
        """Cached features of ``text`` from a HEAVY reader, or a Future of them from the micro-batcher."""
        key = (id(target.encoder), text)
        feats = self.text_cache.get(key)
        timings["cache_hit"] = feats is not None
        if feats is not None:
            return feats
        fut = self._batcher(target.encoder).submit(text)
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
        reader = target.encoder.capabilities.reader("text")
        info: dict[str, Any] = {"name": reader.name}
        t1 = time.perf_counter()
        if reader.cost is ReadCost.HEAVY:  # cached, or micro-batched with concurrent requests
            feats: np.ndarray | Future = self._heavy_text_features(target, text, timings)
        else:  # CHEAP: read inline; NONE: an empty [1, 0], the model reads the words in project
            feats = target.encoder.read("text", [text])
            if reader.cost is ReadCost.CHEAP:
                self._record_read(reader, "text", t1, timings)

        def queue(f: np.ndarray) -> None:
            if reader.cost is ReadCost.HEAVY:
                self._record_read(reader, "text", t1, timings)
            timings["encoder"] = info
            item = Pending(np.asarray(f, np.float32).reshape(1, -1), k, timings, t0, answer)
            item.timings["_meta"] = (text, direction)
            try:
                target.batcher.submit(item)
            except ServiceError as exc:
                answer.set_exception(exc)

        if isinstance(feats, Future):
            def chain(f: Future) -> None:
                exc = f.exception()
                if exc is not None:
                    if not isinstance(exc, ServiceError):
                        _log.error("text encoder failed", exc_info=exc)
                        exc = ServiceError(500, "the text encoder failed inside the service; the server log has the details")
                    answer.set_exception(exc)
                else:
                    queue(f.result())
            feats.add_done_callback(chain)
        else:
            queue(feats)
        return answer

    def _record_read(self, reader: Reader, modality: str, t1: float, timings: dict[str, Any]) -> None:
        """Time a read stage since ``t1`` as ``<reader>_<modality>`` (``static_text``, ``teacher_text``, ...)."""
        ms = (time.perf_counter() - t1) * 1e3
        self.stats_.record(f"{reader.name}_{modality}", ms)
        timings[f"{reader.name}_{modality}"] = round(ms, 3)

    def _run_text_batch(self, target: Target, batch: list[Pending], index: Index) -> None:
        """Project + search a batch of text queries on ``index`` (``target``'s or a read-only replica)."""
        # requests whose client went away were cancelled: skip them (their futures cannot take a result)
        batch = [it for it in batch if it.future.set_running_or_notify_cancel()]
        if not batch:
            return
        t_start = time.perf_counter()
        texts = [it.timings["_meta"][0] for it in batch]
        feats = np.concatenate([it.feats for it in batch])
        with self.stats_.timer("project"):
            query = target.encoder.project("text", texts, feats)
        t_proj = time.perf_counter()
        kmax = max(it.k for it in batch)
        lock = target.search_lock() if index is target.index else contextlib.nullcontext()
        with lock:
            results, missing = search_or_refuse(index, query, kmax)
        t_search = time.perf_counter()
        self.stats_.record("search", (t_search - t_proj) * 1e3)
        self.stats_.record("search_batch", float(len(batch)))
        proj_ms, search_ms = round((t_proj - t_start) * 1e3, 3), round((t_search - t_proj) * 1e3, 3)
        model = model_info(target)
        has_thumbs = target.thumbs.path.exists()  # once per batch: every syscall gives the GIL away
        reads = target.encoder.capabilities.reader("text").makes_features
        matches = self._matches(target, query, [_best(r.distances) for r in results],
                                texts if reads else None, feats if reads else None)
        for it, res, match in zip(batch, results, matches):
            if len(res.ids) > it.k:
                res = type(res)(res.ids[: it.k], res.distances[: it.k], res.metadata[: it.k])
            tm = it.timings
            text, direction = tm.pop("_meta")
            encoder = tm.pop("encoder")
            wait = round((t_start - it.ready) * 1e3, 3)
            self.stats_.record("queue_wait", wait)
            tm.update({"queue_wait": wait, "project": proj_ms, "search": search_ms, "batch": len(batch)})
            items = result_items(target, res, has_thumbs)
            total = (time.perf_counter() - it.t0) * 1e3
            self.stats_.record("text_query", total)
            it.future.set_result({"query": text, "direction": direction, "k": it.k, "results": items,
                                  "took_ms": round(total, 3), "timings_ms": tm, "encoder": encoder, "model": model,
                                  "distance": target.distance, "match": match, "notes": answer_notes(encoder, match),
                                  **partial_fields(missing)})

    def _matches(self, target: Target, query: Any, best: list[float | None], texts: list[str] | None = None,
                 features: np.ndarray | None = None) -> list[dict[str, Any] | None]:
        """Per query the answer's ``match`` (:func:`~distilhash.serve.match.match_notes`: the weak-match rule), or None."""
        if target.reference is None and (target.captions is None or texts is None):
            return [None] * len(best)
        with self.stats_.timer("match"):
            return match_notes(target.reference, target.captions, query, best, texts, features)

    def search_text(self, text: Any, k: int = 10, direction: str | None = None) -> dict[str, Any]:
        """Top-``k`` items for a text query; ``direction`` t2i (default when images are served) or t2t.

        Returns ``{"query", "direction", "k", "results", "took_ms", "timings_ms", "encoder", "model"}``;
        ``encoder`` = ``{"name": "static"|"teacher"|"student"}``.
        """
        return self.submit_text(text, k, direction).result(timeout=120)

    async def search_text_async(self, text: Any, k: int = 10, direction: str | None = None) -> dict[str, Any]:
        """:meth:`search_text` for an asyncio event loop (waits without holding a thread; a batch's
        answers reach the loop together, :mod:`distilhash.serve.handoff`)."""
        from distilhash.serve.handoff import await_future

        return await await_future(self.submit_text(text, k, direction))

    def search_image(self, data: bytes, k: int = 10, direction: str | None = None) -> dict[str, Any]:
        """Top-``k`` items for an uploaded image; ``direction`` i2t (default when texts are served) or i2i."""
        t0 = time.perf_counter()
        k = self.check_k(k)
        direction, target = self._direction("image", direction)
        timings: dict[str, float] = {}
        with self.stats_.timer("decode_image", timings):
            image = self.decode_image(data)
        pin_torch_threads()
        reader = target.encoder.capabilities.reader("image")
        t1 = time.perf_counter()
        with self._image_lock:  # image towers are heavy (the teacher's, or the model's own in project)
            feats = target.encoder.read("image", [image])
            if reader.makes_features:
                self._record_read(reader, "image", t1, timings)
            with self.stats_.timer("project", timings):
                query = target.encoder.project("image", [image], feats)
        results, partial = self._search(target, query, k, timings)
        match = self._matches(target, query, [results[0]["distance"] if results else None])[0]
        total = (time.perf_counter() - t0) * 1e3
        self.stats_.record("image_query", total)
        return {"query": f"image {image.width}x{image.height}", "direction": direction, "k": k, "results": results,
                "took_ms": round(total, 3), "timings_ms": timings, "model": model_info(target),
                "distance": target.distance, "match": match, "notes": answer_notes(None, match), **partial}

    def warm(self) -> None:
        """Load what the first query would: the teacher, the searchers, one text through the path."""
        for t in self.targets.values():
            with t.search_lock():
                t.index.searcher()
            for replica in t.replicas:  # each read-only handle builds its own searcher (an IVF trains its lists)
                replica.searcher()
            t.encoder.warm()

    def warm_writes(self) -> None:
        """Load what the first add would (the model's encoders, the teacher's image tower for an image
        index) without building searchers: the writer of a multi-process service never searches."""
        from PIL import Image

        for t in self.targets.values():
            t.encoder.warm()
            if t.modality == "image":
                with self._image_lock:
                    t.encoder.encode_items("image", [Image.new("RGB", (64, 64))])

    # -- status ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {"status": "ok", "indexes": {m: len(t.index) for m, t in self.targets.items()}}

    def stats(self) -> dict[str, Any]:
        indexes = {}
        for m, t in self.targets.items():
            info = t.index.info()
            indexes[m] = {"count": info["count"], "kind": info["kind"], "bits": info["n_bits"], "backend": info["backend"],
                          "model": model_info(t), "thumbnails": t.thumbs.count(), "writable": t.index.writable,
                          "distance": t.distance}
        batch = {"batches": sum(b.batches for b in self._batchers.values()), "texts": sum(b.items for b in self._batchers.values())}
        sb = [t.batcher for t in self.targets.values() if t.batcher is not None]
        search_batches = {"batches": sum(b.batches for b in sb), "queries": sum(b.items for b in sb),
                          "workers_per_index": {m: 1 + len(t.replicas) for m, t in self.targets.items()}}
        readers = {m: t.encoder.capabilities.reader("text") for m, t in self.targets.items()}
        static = {m: {"dir": str(self.config.static_text_dir or "<model_dir>/static-text"), **r.details}
                  for m, r in readers.items() if r.name == "static"}
        import os

        return {"uptime_s": round(time.time() - self.started, 1), "pid": os.getpid(), "indexes": indexes, "latency_ms": self.stats_.summary(),
                "text_cache": self.text_cache.info(), "text_batches": batch, "search_batches": search_batches,
                "query_encoder": self.config.query_encoder, "static_text": static, "runtime": runtime_info(),
                "errors_by_status": dict(self.errors),
                "limits": {k: v for k, v in asdict(self.config).items() if k != "api_key"}}

    def close(self) -> None:
        """Stop the batchers and close every index handle and thumbnail store (also after a failed start)."""
        for b in [*self._batchers.values(), *self._item_batchers.values()]:
            b.stop()
        for t in self.targets.values():
            if t.batcher is not None:
                t.batcher.stop()
                t.batcher = None
        for t in self.targets.values():
            t.index.close()
            for r in t.replicas:
                r.close()
            t.thumbs.close()


def _best(distances: np.ndarray) -> float | None:
    """The best hit's distance of a search result's (sorted) distances, None without hits."""
    return float(distances[0]) if len(distances) else None
