"""What a search service serves: one index per stored modality with the model that encodes its queries.

A :class:`Target` is one served index (``modality`` = what its items are: ``image`` or
``text``, read from the index manifest), its query encoder, thumbnails, lock and the typical
distances its answers are compared with. :func:`open_targets` opens them from index directories;
:func:`choose_direction` resolves a query's direction (``t2i``, ``i2t``, ``i2i``, ``t2t``) to the
target it searches. Errors are :class:`ServiceError` with an HTTP status.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distilhash.errors import DistilhashError
from distilhash.serve.batching import RWLock
from distilhash.serve.config import DIRECTIONS, ServiceConfig, ServiceError
from distilhash.serve.engines import layout_options
from distilhash.serve.match import MatchReference, calibrate_on_captions, distance_info
from distilhash.serve.thumbs import ThumbStore
from distilhash.serve.validate import shown

if TYPE_CHECKING:  # types only: importing the service imports neither the index package nor a model
    from distilhash.index.protocol import Index
    from distilhash.query_encoders.protocol import QueryEncoder
    from distilhash.query_encoders.weak_match import CaptionReference

__all__ = ["Target", "open_targets", "index_options", "choose_direction", "target_named",
           "model_info", "load_caption_reference"]



@dataclass
class Target:
    """One served index (``modality`` = what its items are) and the model that encodes its queries."""

    modality: str
    index: Index
    encoder: QueryEncoder  # reads and projects this index's queries (its capabilities say how)
    thumbs: ThumbStore
    lock: RWLock = field(default_factory=RWLock)
    # adds and deletes one at a time (check, index write, thumbnail); searches do not wait for it: the
    # index applies a write under its own lock only once the write is durable (distilhash.index.core)
    write_mutex: threading.Lock = field(default_factory=threading.Lock)
    batcher: Any = None  # SearchBatcher of text queries
    reference: MatchReference | None = None  # typical distances (serve/match.py)
    distance: dict[str, Any] = field(default_factory=dict)  # what the distances are (distance_info)
    replicas: list[Index] = field(default_factory=list)  # extra read-only handles for more search workers
    captions: CaptionReference | None = None  # CaptionReference: the calibrated weak-match note of text queries (query_encoders/weak_match.py)

    def search_lock(self):
        """Shared lock when the index's searcher declares ``concurrent_search`` (no per-call state; the C /
        FAISS scans release the GIL, so two cores scan at once), else exclusive: one query at a time."""
        from distilhash.index.searchers import searches_concurrently

        concurrent = searches_concurrently(self.index.kind, self.index.backend)
        return self.lock.read() if concurrent else self.lock.write()


def index_options(config: ServiceConfig) -> Any:
    """The :class:`~distilhash.index.IndexOptions` the service opens its indexes with."""
    from distilhash.index.core import IndexOptions

    return IndexOptions(backend=config.index_backend, searcher_options=dict(config.index_options or {}),
                        follow=bool(config.writer_socket))


def open_targets(dirs: list[str | Path], config: ServiceConfig, model_dir: str | Path | None = None,
                 teacher: str | None = None, encoder: QueryEncoder | None = None) -> dict[str, Target]:
    """modality -> Target for each index directory (at most one per modality); on failure every
    index opened so far is closed before the error propagates.

    ``encoder``: a ready query encoder (tests, demos) instead of each index's model (models shared
    by several indexes are loaded once). Text queries go through ``config.query_encoder``
    (:class:`~distilhash.query_encoders.query_encoder.ModelQueryEncoder`: ``auto``, ``static``, ``teacher``).
    """
    from distilhash.index import open_index  # a sharded index too
    from distilhash.query_encoders.query_encoder import query_encoder_for

    targets: dict[str, Target] = {}
    encoders: dict[tuple[str, str], QueryEncoder] = {}
    try:
        for d in dirs:
            idx = open_index(d, writable=bool(config.api_key) and not config.writer_socket, options=index_options(config),
                             **layout_options(config.engine, config.engine_options, d))
            modality = (idx.manifest.get("extra") or {}).get("modality", "image")
            if modality in targets:
                idx.close()
                raise ServiceError(500, f"two indexes store {modality} items ({targets[modality].index.directory} and {d}); serve one per modality")
            if encoder is not None:
                enc = encoder
            else:
                key = (str(model_dir or idx.manifest.get("model_dir")), str(teacher or idx.manifest.get("teacher")))
                try:
                    enc = encoders.get(key) or query_encoder_for(idx, model_dir, teacher, config.query_encoder,
                                                                 config.static_text_dir)
                except DistilhashError as exc:
                    idx.close()
                    raise ServiceError(500, f"{d}: {exc}") from None
                encoders[key] = enc
            targets[modality] = Target(modality, idx, enc, ThumbStore(d), distance=distance_info(idx))
            if config.match_sample > 0 and len(idx):
                targets[modality].reference = MatchReference(idx, config.match_sample)
                # a picture index whose sample is the whole collection: the weak-match threshold from its own captions
                # (serve/match.py); on a text index a caption would find itself, which calibrates nothing
                if modality == "image":
                    calibrate_on_captions(targets[modality].reference, idx, enc)
                else:
                    targets[modality].reference.calibration = {
                        **targets[modality].reference.calibration,
                        "skipped": "set from own captions only on picture indexes (a caption finds itself in a text index)"}
            if enc.capabilities.reader("text").makes_features:  # the calibration is of teacher-space text features
                targets[modality].captions = load_caption_reference(config, enc)
    except BaseException:
        for t in targets.values():
            t.index.close()
            t.thumbs.close()
        raise
    return targets


def load_caption_reference(config: ServiceConfig, encoder: QueryEncoder) -> CaptionReference | None:
    """The weak-match calibration of ``encoder``'s model (``config.weak_match_dir`` or ``<model_dir>/weak-match``),
    or None when there is none (the answer's note then uses the typical distance only)."""
    from distilhash.query_encoders.weak_match import CaptionReference, weak_match_dir

    caps = encoder.capabilities
    where = config.weak_match_dir
    if where is None:
        if caps.model_dir is None or not weak_match_dir(caps.model_dir).is_dir():
            return None
        where = weak_match_dir(caps.model_dir)
    try:
        ref = CaptionReference.load(where)
    except DistilhashError as exc:
        raise ServiceError(500, str(exc)) from None
    width = caps.feature_width  # from method.json: the check loads no weights
    if width is not None and ref.width != width:
        raise ServiceError(500, f"the weak-match reference at {where} has {ref.width}-d features; the model expects {width}")
    return ref


def choose_direction(targets: dict[str, Target], primary: str, query_modality: str,
                     direction: str | None) -> tuple[str, Target]:
    """``(direction, target)`` of a query; default: the other modality when it is served, else ``primary``."""
    if direction is None:
        other = "image" if query_modality == "text" else "text"
        target = other if other in targets else primary
        direction = f"{query_modality[0]}2{target[0]}"
    if direction not in DIRECTIONS:
        raise ServiceError(400, f"unknown direction {shown(str(direction))}; expected one of {', '.join(DIRECTIONS)}")
    qmod, tmod = DIRECTIONS[direction]
    if qmod != query_modality:
        raise ServiceError(400, f"direction {shown(str(direction))} needs a {qmod} query; this request has a {query_modality} query")
    if tmod not in targets:
        raise ServiceError(400, f"direction {shown(str(direction))} needs an index of {tmod} items; this service has: {', '.join(targets)}")
    return direction, targets[tmod]


def target_named(targets: dict[str, Target], primary: str, name: str | None) -> Target:
    """The target ``name`` (default ``primary``); ServiceError 400 when it is not served."""
    name = name or primary
    if name not in targets:
        raise ServiceError(400, f"unknown target {shown(str(name))}; this service has: {', '.join(targets)}")
    return targets[name]


def model_info(target: Target) -> dict[str, Any]:
    """What answers a target's queries: method name, bits, model directory name, teacher spec (all declared:
    nothing is loaded)."""
    caps = target.encoder.capabilities
    md = target.index.manifest.get("model_dir")
    return {"method": caps.method, "bits": int(target.index.n_bits),
            "model_dir": Path(md).name if md else None,
            "teacher": caps.teacher or target.index.manifest.get("teacher")}
