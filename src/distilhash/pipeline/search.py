"""Search an index with raw text or image queries through its model (what ``distilhash search`` does).

    hits = search_index("ix/photos", texts=["a red heart"], k=5)              # static encoder if fitted
    hits = search_index("ix/photos", texts=["a red heart"], query_encoder="teacher")  # the teacher's tower

Text queries go through the model's static text encoder when it has one (``MODEL/static-text``,
``distilhash query-encoder fit``), else the teacher's text tower; then through the trained model
recorded in the index manifest (override with ``model`` / ``teacher``); the index returns ids,
distances and metadata per query. Every function here goes through a
:class:`~distilhash.query_encoders.protocol.QueryEncoder` (the one the service uses too), by
default :func:`~distilhash.query_encoders.query_encoder.query_encoder_for` the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distilhash.errors import ConfigError, DataError
from distilhash.query_encoders.query_encoder import QUERY_TEXT_ENCODERS

if TYPE_CHECKING:
    from distilhash.index.core import SearchResult
    from distilhash.index.protocol import Index
    from distilhash.query_encoders.protocol import QueryEncoder

__all__ = ["QUERY_ENCODER_KINDS", "SearchOutcome", "search_index", "search_by_text", "search_by_image"]

#: How text queries become features: ``auto`` (static when fitted), ``static`` or ``teacher``.
QUERY_ENCODER_KINDS = QUERY_TEXT_ENCODERS


@dataclass
class SearchOutcome:
    """``results[i]`` (a :class:`~distilhash.index.core.SearchResult`) answers ``queries[i]``, read by ``encoders[i]``."""

    queries: list[str]
    results: list[SearchResult]
    encoders: list[str]  # per query: "static", "teacher" or "student" (the model's own text or image encoder)


def search_by_text(index: Index, texts: Sequence[str], k: int = 10, encoder: QueryEncoder | None = None) -> list[SearchResult]:
    """Search an open ``index`` with text queries through its model and teacher (or ``encoder``)."""
    from distilhash.query_encoders.query_encoder import query_encoder_for

    encoder = encoder or query_encoder_for(index)
    return index.search(encoder.encode_texts(texts), k)


def search_by_image(index: Index, images: Sequence[Any], k: int = 10,
                    encoder: QueryEncoder | None = None) -> list[SearchResult]:
    """Search an open ``index`` with images (PIL images, uint8 arrays, or file paths)."""
    from distilhash.query_encoders.query_encoder import load_images, query_encoder_for

    encoder = encoder or query_encoder_for(index)
    if images and isinstance(images[0], (str, Path)):
        images = load_images(images)
    return index.search(encoder.encode_images(images), k)


def search_index(index_dir: str | Path, texts: Sequence[str] = (), images: Sequence[str | Path] = (), k: int = 10,
                 model: str | Path | None = None, teacher: str | None = None, query_encoder: str = "auto",
                 static_dir: str | Path | None = None) -> SearchOutcome:
    """Open ``index_dir`` (one index or a sharded one), encode the text *or* image queries, search top ``k``.

    ``query_encoder``: ``auto`` (the static encoder in ``static_dir``, default ``MODEL/static-text``,
    when there is one, else the teacher), ``static`` or ``teacher``.
    """
    from distilhash.index import open_index
    from distilhash.query_encoders.query_encoder import load_images, query_encoder_for

    if bool(texts) == bool(images):
        raise DataError("give text queries or image queries (one kind per call)")
    if query_encoder not in QUERY_ENCODER_KINDS:
        raise ConfigError(f"query encoder {query_encoder!r}; expected one of {', '.join(QUERY_ENCODER_KINDS)}")
    with open_index(index_dir) as idx:
        encoder = query_encoder_for(idx, model, teacher, query_encoder, static_dir)
        if texts:
            queries = list(texts)
            q = encoder.encode_texts(queries)
        else:
            queries = [str(p) for p in images]
            q = encoder.encode_images(load_images(images))
        reader = encoder.capabilities.reader("text" if texts else "image")  # one reader answers every query
        return SearchOutcome(queries, idx.search(q, k), [reader.name] * len(queries))
