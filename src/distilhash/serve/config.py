"""The service's settings and its refusal type: :class:`ServiceConfig` (data) and :class:`ServiceError`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distilhash.serve.refusal import ServiceError

__all__ = ["ServiceConfig", "ServiceError", "DIRECTIONS", "QUERY_ENCODERS"]

#: direction -> (query modality, modality of the searched index)
DIRECTIONS = {"t2i": ("text", "image"), "t2t": ("text", "text"), "i2i": ("image", "image"), "i2t": ("image", "text")}

QUERY_ENCODERS = ("auto", "static", "teacher")


@dataclass
class ServiceConfig:
    """Limits and tunables of the service (data).

    Attributes:
        api_key: key required (header ``X-API-Key``) to add or delete items; None = read-only service.
        max_query_chars: longest text query accepted.
        max_k: most results per query.
        max_upload_bytes: largest image upload accepted.
        max_image_pixels: largest image (width * height, read from its header) accepted.
        max_image_aspect: largest ratio of an image's longer to shorter side accepted.
        max_image_side: decoded uploads are reduced to at most this longer side before encoding.
        max_parallel_decodes: most uploads decoded at once (a PNG at the pixel cap takes ~160 MB
            while it is decoded, before it is reduced to ``max_image_side``).
        max_metadata_bytes: largest metadata object of an added item (as compact JSON).
        max_metadata_depth: deepest nesting of an added item's metadata.
        text_cache_size: LRU entries of text -> teacher features (0 disables the cache).
        max_batch: most text queries encoded together by the teacher's micro-batcher.
        thumb_size: longest side of thumbnails stored for items added through the service.
        query_encoder: text queries' features: ``static`` (the model's static encoder distilled from the
            teacher's text tower, :mod:`distilhash.query_encoders.static_text`), ``teacher`` (the
            teacher's text tower) or ``auto`` (static when the model has one, else the teacher).
        static_text_dir: the static encoder's folder (None: ``<model_dir>/static-text``).
        max_search_batch: most queries projected and searched together by one index's worker.
        search_workers: worker threads per index for text queries, each with its own read-only
            handle of the index (a search holds its handle's lock, so this is how several cores
            search at once). Not for a service that writes itself (``api_key`` without ``writer_socket``): one worker.
        index_backend: searcher of the served indexes (:class:`distilhash.index.IndexOptions`
            ``backend``: ``auto``, or e.g. ``ivf`` for an approximate PQ search).
        index_options: that searcher's options (``searcher_options``, e.g. ``{"nprobe": 32}``).
        torch_threads: torch threads in the service's worker threads (None: torch's current setting).
        match_sample: database items per index whose distances to each query give the "typical
            distance" the answer compares its best hits with (0 = off; see :mod:`distilhash.serve.match`).
        weak_match_dir: the calibrated weak-match note of text queries (:mod:`distilhash.query_encoders.weak_match`);
            None: ``<model_dir>/weak-match`` when it exists (else the note falls back to the typical distance).
        engine: where sharded indexes search their shards (:mod:`distilhash.serve.engines`): ``local``
            (threads in this process) or ``ray`` (Ray actors with replicas; needs a Ray session).
        engine_options: that engine's options (ray: ``replicas``, ``failover_wait``, ...).
        writer_socket: set in the server processes of a multi-process writable service
            (:mod:`distilhash.serve.writer`): the indexes are opened read-only and followed, and
            adds and deletes are forwarded to the writer listening on this Unix socket.
        write_nice: added to the nice value (0-19) of the thread that encodes added items (the
            index writer's ``--writer-nice``): when the CPU is short, searches get it first.
    """

    api_key: str | None = None
    max_query_chars: int = 500
    max_k: int = 100
    max_upload_bytes: int = 8 << 20
    max_image_pixels: int = 40_000_000
    max_image_aspect: float = 20.0
    max_image_side: int = 1024
    max_parallel_decodes: int = 2
    max_metadata_bytes: int = 64 << 10
    max_metadata_depth: int = 32
    text_cache_size: int = 4096
    max_batch: int = 64
    thumb_size: int = 96
    query_encoder: str = "auto"
    static_text_dir: str | None = None
    max_search_batch: int = 64
    search_workers: int = 1
    index_backend: str = "auto"
    index_options: dict[str, Any] = field(default_factory=dict)
    torch_threads: int | None = None
    match_sample: int = 512
    weak_match_dir: str | None = None
    engine: str = "local"
    engine_options: dict[str, Any] = field(default_factory=dict)
    writer_socket: str | None = None
    write_nice: int = 0

    def __post_init__(self) -> None:
        from distilhash.serve.engines import check_engine
        from distilhash.serve.validate import check_key_setting

        self.api_key = check_key_setting(self.api_key or None)
        check_engine(self.engine, self.engine_options, self.search_workers)
