"""Query encoders: text or image -> teacher features -> trained model -> query codes.

    teacher = create_teacher(spec)                       # frozen VLP model
    feats   = teacher.encode_texts(texts)                # float32 [n, D], unit rows
    query   = method.encode("text", feats, role="query") # binary codes, or a float query for PQ
    results = index.search(query, k)                     # ids, distances, metadata

The model directory and teacher spec default to the ones recorded in the index manifest
(:func:`query_encoder_for`); searching with raw queries: :mod:`distilhash.pipeline.search`.
Text queries may instead go through the light n-gram encoder distilled from the teacher's text
tower (:mod:`distilhash.query_encoders.light_text`; numpy only), falling back to the teacher for a query
whose out-of-vocabulary rate exceeds the encoder's ``max_oov``. Heavy libraries (torch, the
teacher) are imported only when something needs them: with the light encoder and a numpy method
(e.g. ITQ or LSH codes in a binary index) a search never imports torch. A method that reads raw
pixels / words itself (``capabilities.input == "raw"``, e.g. LCDH) gets the queries as they are
(``method.encode_raw``): no teacher is created.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import ConfigError, DataError

__all__ = ["QueryEncoder", "query_encoder_for", "load_images"]


class QueryEncoder:
    """A trained method plus its teacher, turning raw queries into what the index is searched with.

    Args:
        model_dir: a directory written by ``method.save`` (``method.json`` + weights).
        teacher: teacher spec (``create_teacher``); default: the ``teacher`` in ``method.json``.
        light_dir: a light text encoder's directory: text queries go through it (see module
            docstring); ``fallbacks`` counts the queries the teacher answered instead.
    """

    def __init__(self, model_dir: str | Path, teacher: str | None = None, light_dir: str | Path | None = None) -> None:
        from distilhash.methods.base import load_method

        self.model_dir = Path(model_dir)
        self.method = load_method(self.model_dir)
        #: the method reads raw pixels / words itself (e.g. lcdh): queries never go through the teacher
        self.raw = type(self.method).capabilities.input == "raw"
        meta = json.loads((self.model_dir / "method.json").read_text())
        self.teacher_spec = teacher or meta.get("teacher")
        if not self.raw and (not self.teacher_spec or self.teacher_spec == "unknown"):
            raise ConfigError(f"{self.model_dir}/method.json names no teacher; pass the teacher spec explicitly")
        self._teacher: Any = None
        self.light: Any = None
        self.fallbacks = 0
        if light_dir is not None:
            from distilhash.query_encoders.light_text import load_light_text

            self.light = load_light_text(light_dir)

    @property
    def teacher(self):
        if self._teacher is None:
            from distilhash.teachers.registry import create_teacher

            self._teacher = create_teacher(self.teacher_spec)
        return self._teacher

    def encode_texts(self, texts: Sequence[str]) -> Encoded:
        """Query codes of ``texts`` (``role="query"``)."""
        return self.encode_texts_with_sources(texts)[0]

    def encode_texts_with_sources(self, texts: Sequence[str]) -> tuple[Encoded, list[str]]:
        """Query codes of ``texts`` and, per text, which encoder read it: ``student`` (the model's own text
        encoder), ``teacher``, ``light``, or ``teacher (light fallback)`` (too many words unknown to the light one)."""
        if isinstance(texts, str) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise DataError("text queries must be a non-empty list of non-empty strings")
        if self.raw:
            return self.method.encode_raw("text", list(texts), "query"), ["student"] * len(texts)
        if self.light is None:
            feats = np.asarray(self.teacher.encode_texts(list(texts)), dtype=np.float32)
            sources = ["teacher"] * len(texts)
        else:
            feats, oov = self.light.encode(list(texts))
            sources = ["light"] * len(texts)
            far = np.flatnonzero(oov > self.light.config.max_oov)
            if far.size:  # too many unknown words for the n-gram encoder: the teacher answers these
                feats[far] = np.asarray(self.teacher.encode_texts([texts[i] for i in far]), dtype=np.float32)
                self.fallbacks += int(far.size)
                for i in far:
                    sources[int(i)] = "teacher (light fallback)"
        return self.method.encode("text", feats, role="query"), sources

    def encode_images(self, images: Sequence[Any]) -> Encoded:
        """Query codes of images (PIL images or uint8 ``[H, W, 3]`` arrays; see :func:`load_images`)."""
        if not len(images):
            raise DataError("image queries must be a non-empty list")
        if self.raw:
            return self.method.encode_raw("image", list(images), "query")
        feats = np.asarray(self.teacher.encode_images(list(images)), dtype=np.float32)
        return self.method.encode("image", feats, role="query")


def load_images(paths: Sequence[str | Path]) -> list[Any]:
    """Open image files as RGB PIL images; a missing, unreadable or oversized file raises DataError naming it.

    The same bounded opener as the service's uploads: size and aspect ratio checked from the
    header, the decoded image reduced to at most 1024 px (see :func:`open_image_bounded`).
    """
    from distilhash.data.images import open_image_bounded

    out = []
    for p in paths:
        try:
            out.append(open_image_bounded(p))
        except DataError as exc:
            raise DataError(f"query image: {exc}") from None
    return out


def query_encoder_for(index: Any, model_dir: str | Path | None = None, teacher: str | None = None,
                      light_dir: str | Path | None = None) -> QueryEncoder:
    """The encoder recorded in an open index's ``manifest`` (overridable); ``light_dir``: see :class:`QueryEncoder`."""
    model_dir = model_dir or index.manifest.get("model_dir")
    if not model_dir:
        raise ConfigError(f"index {index.directory} records no model directory; pass one (--model)")
    return QueryEncoder(model_dir, teacher or index.manifest.get("teacher"), light_dir)
