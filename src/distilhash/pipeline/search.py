"""Search an index with raw text or image queries through its model (what ``distilhash search`` does).

    hits = search_index("ix/photos", texts=["a red heart"], k=5)              # teacher text tower
    hits = search_index("ix/photos", texts=["a red heart"], query_encoder="light")  # n-gram encoder

Queries go through the teacher (or the light text encoder stored with the model) and the trained
model recorded in the index manifest (override with ``model`` / ``teacher``); the index returns
ids, distances and metadata per query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distilhash.errors import ConfigError, DataError

__all__ = ["QUERY_ENCODER_KINDS", "SearchOutcome", "search_index", "search_by_text", "search_by_image"]

#: How text queries become features: the teacher's text tower, or the light n-gram encoder.
QUERY_ENCODER_KINDS = ("teacher", "light")


@dataclass
class SearchOutcome:
    """``results[i]`` (a :class:`~distilhash.index.core.SearchResult`) answers ``queries[i]``, read by ``encoders[i]``."""

    queries: list[str]
    results: list[Any]
    fallbacks: int  # light encoder only: queries with too many unknown words that the teacher encoded
    encoders: list[str] = field(default_factory=list)  # per query: student | teacher | light | teacher (light fallback)


def search_by_text(index, texts: Sequence[str], k: int = 10, encoder=None) -> list[Any]:
    """Search an open ``index`` with text queries through its model and teacher (or ``encoder``)."""
    from distilhash.query_encoders.query_encoder import query_encoder_for

    encoder = encoder or query_encoder_for(index)
    return index.search(encoder.encode_texts(texts), k)


def search_by_image(index, images: Sequence[Any], k: int = 10, encoder=None) -> list[Any]:
    """Search an open ``index`` with images (PIL images, uint8 arrays, or file paths)."""
    from distilhash.query_encoders.query_encoder import load_images, query_encoder_for

    encoder = encoder or query_encoder_for(index)
    if images and isinstance(images[0], (str, Path)):
        images = load_images(images)
    return index.search(encoder.encode_images(images), k)


def search_index(index_dir: str | Path, texts: Sequence[str] = (), images: Sequence[str | Path] = (), k: int = 10,
                 model: str | Path | None = None, teacher: str | None = None, query_encoder: str = "teacher",
                 light_dir: str | Path | None = None) -> SearchOutcome:
    """Open ``index_dir`` (one index or a sharded one), encode the text *or* image queries, search top ``k``.

    ``query_encoder="light"`` sends text queries through the light encoder in ``light_dir``
    (default ``MODEL/light-text``); the teacher answers queries mostly out of its vocabulary.
    """
    from distilhash.index import open_index
    from distilhash.query_encoders.query_encoder import load_images, query_encoder_for

    if bool(texts) == bool(images):
        raise DataError("give text queries or image queries (one kind per call)")
    if query_encoder not in QUERY_ENCODER_KINDS:
        raise ConfigError(f"query encoder {query_encoder!r}; expected 'teacher' or 'light'")
    with open_index(index_dir) as idx:
        light = None
        if query_encoder == "light":
            from distilhash.query_encoders.light_text import light_text_dir

            light = light_dir or light_text_dir(model or idx.manifest.get("model_dir") or ".")
        encoder = query_encoder_for(idx, model, teacher, light)
        if texts:
            queries = list(texts)
            q, sources = encoder.encode_texts_with_sources(queries)
        else:
            queries = [str(p) for p in images]
            q = encoder.encode_images(load_images(images))
            sources = ["student" if encoder.raw else "teacher"] * len(queries)
        return SearchOutcome(queries, idx.search(q, k), encoder.fallbacks, sources)
