"""Query encoders: text or image -> teacher-space features -> trained model -> query codes.

    teacher = create_teacher(spec)                       # frozen VLP model
    feats   = teacher.encode_texts(texts)                # float32 [n, D], unit rows
    query   = method.encode("text", feats, role="query") # binary codes, or a float query for PQ
    results = index.search(query, k)                     # ids, distances, metadata

Text features come from one of the ``TEXT_ENCODERS`` (chosen by name):

* ``static``: the static encoder distilled from the teacher's text tower and mapped into its
  space (:mod:`distilhash.query_encoders.static_text`; numpy + tokenizers, ~0.1 ms a query);
  stored with the model (``MODEL/static-text``, fitted by ``distilhash query-encoder fit``);
* ``teacher``: the teacher's own text tower (MiniLM: ~13 ms of a core a query; imports torch);
* ``auto`` (the default): ``static`` when the model has a static encoder, else ``teacher``.

The model directory and teacher spec default to the ones recorded in the index manifest
(:func:`query_encoder_for`). Heavy libraries are imported only when something needs them: the
method is loaded lazily, and for models with a numpy query head
(:mod:`distilhash.query_encoders.numpy_heads`, e.g. DCMQ) text queries through the static encoder
never import torch. A method that reads raw pixels / words itself (``capabilities.input ==
"raw"``, e.g. LCDH) gets the queries as they are (``method.encode_raw``): no teacher is created.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import ConfigError, DataError
from distilhash.registry import Registry

__all__ = ["QueryEncoder", "query_encoder_for", "load_images", "TEXT_ENCODERS", "QUERY_TEXT_ENCODERS"]

#: name -> factory ``(query_encoder, folder) -> object with encode(texts) -> float32 [n, D]``.
TEXT_ENCODERS: Registry[Any] = Registry("query text encoder")
#: What callers may ask for: a registered text encoder, or ``auto``.
QUERY_TEXT_ENCODERS = ("auto", "static", "teacher")


@TEXT_ENCODERS.register("static")
def _static_text(qe: QueryEncoder, folder: Path) -> Any:
    """The model's static encoder (:mod:`distilhash.query_encoders.static_text`), its width checked."""
    from distilhash.query_encoders.static_text import load_static_text

    enc = load_static_text(folder)
    if qe.feature_width is not None and enc.width != int(qe.feature_width):
        raise ConfigError(f"the static text encoder at {folder} makes {enc.width}-d features; "
                          f"the model {qe.model_dir} expects {qe.feature_width}")
    return enc


class _TeacherText:
    """The teacher's own text tower (created on first use)."""

    def __init__(self, qe: QueryEncoder) -> None:
        self.qe = qe

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.qe.teacher.encode_texts(texts), dtype=np.float32)


TEXT_ENCODERS.register("teacher")(lambda qe, folder: _TeacherText(qe))


class QueryEncoder:
    """A trained method plus its teacher (or static text encoder), turning raw queries into query codes.

    Args:
        model_dir: a directory written by ``method.save`` (``method.json`` + weights).
        teacher: teacher spec (``create_teacher``); default: the ``teacher`` in ``method.json``.
        text_encoder: ``auto``, ``static`` or ``teacher`` (see module docstring).
        static_dir: the static encoder's folder (default ``MODEL/static-text``).

    ``text_encoder_name`` is the encoder text queries actually go through; ``static`` is the
    loaded :class:`~distilhash.query_encoders.static_text.StaticTextEncoder` or None.
    """

    def __init__(self, model_dir: str | Path, teacher: str | None = None, text_encoder: str = "auto",
                 static_dir: str | Path | None = None) -> None:
        from distilhash.query_encoders.numpy_heads import numpy_head_for
        from distilhash.query_encoders.static_text import static_text_dir

        if text_encoder not in QUERY_TEXT_ENCODERS:
            raise ConfigError(f"query text encoder {text_encoder!r}; expected one of {', '.join(QUERY_TEXT_ENCODERS)}")
        self.model_dir = Path(model_dir)
        meta_path = self.model_dir / "method.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{self.model_dir} is not a model directory ({meta_path.name}: {exc})") from None
        self._method: Any = None
        self.head = numpy_head_for(self.model_dir)
        #: the method reads raw pixels / words itself (e.g. lcdh): queries never go through the teacher
        self.raw = False if self.head is not None else self.method.capabilities.input == "raw"
        self.teacher_spec = teacher or meta.get("teacher")
        if not self.raw and (not self.teacher_spec or self.teacher_spec == "unknown"):
            raise ConfigError(f"{self.model_dir}/method.json names no teacher; pass the teacher spec explicitly")
        self.feature_width = meta.get("feature_width")
        self._teacher: Any = None
        where = Path(static_dir) if static_dir is not None else static_text_dir(self.model_dir)
        if self.raw and text_encoder == "static":
            raise ConfigError(f"the model {self.model_dir} ({meta.get('method')}) reads the query words itself; "
                              "the static text encoder does not apply to it (use the default query encoder)")
        if text_encoder == "auto":
            text_encoder = "static" if (where / "encoder.json").is_file() else "teacher"
        #: what text queries go through: a registered text encoder's name, or "student" (the model's own)
        self.text_encoder_name = "student" if self.raw else text_encoder
        self.text = None if self.raw else TEXT_ENCODERS.create(text_encoder, self, where)
        #: the loaded static encoder when text queries go through it (the service times it apart), else None
        self.static = self.text if self.text_encoder_name == "static" else None

    @property
    def method(self) -> Any:
        """The trained method (loaded on first use: torch methods import torch)."""
        if self._method is None:
            from distilhash.methods.base import load_method

            self._method = load_method(self.model_dir)
        return self._method

    @property
    def teacher(self):
        if self._teacher is None:
            from distilhash.teachers.registry import create_teacher

            self._teacher = create_teacher(self.teacher_spec)
        return self._teacher

    def text_features(self, texts: Sequence[str]) -> np.ndarray:
        """Teacher-space features of ``texts``, float32 ``[n, D]``, from the chosen text encoder."""
        if self.text is None:
            raise ConfigError(f"the model {self.model_dir} reads the query words itself: it has no teacher-space text features")
        return self.text.encode(list(texts))

    def project(self, modality: str, feats: np.ndarray) -> Encoded:
        """Teacher-space features -> the query ``Encoded`` (the numpy head when the model has one)."""
        if self.head is not None:
            return self.head.encode(modality, feats)
        return self.method.encode(modality, feats, role="query")

    def encode_texts(self, texts: Sequence[str]) -> Encoded:
        """Query codes of ``texts`` (``role="query"``)."""
        if isinstance(texts, str) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise DataError("text queries must be a non-empty list of non-empty strings")
        if self.raw:
            return self.method.encode_raw("text", list(texts), "query")
        return self.project("text", self.text_features(texts))

    def encode_texts_with_sources(self, texts: Sequence[str]) -> tuple[Encoded, list[str]]:
        """Query codes of ``texts`` and, per text, which encoder read it (``static``, ``teacher`` or ``student``:
        one encoder answers every text, there is no fallback)."""
        return self.encode_texts(texts), [self.text_encoder_name] * len(texts)

    def encode_images(self, images: Sequence[Any]) -> Encoded:
        """Query codes of images (PIL images or uint8 ``[H, W, 3]`` arrays; see :func:`load_images`)."""
        if not len(images):
            raise DataError("image queries must be a non-empty list")
        if self.raw:
            return self.method.encode_raw("image", list(images), "query")
        feats = np.asarray(self.teacher.encode_images(list(images)), dtype=np.float32)
        return self.project("image", feats)


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
                      text_encoder: str = "auto", static_dir: str | Path | None = None) -> QueryEncoder:
    """The encoder recorded in an open index's ``manifest`` (overridable); see :class:`QueryEncoder`."""
    model_dir = model_dir or index.manifest.get("model_dir")
    if not model_dir:
        raise ConfigError(f"index {index.directory} records no model directory; pass one (--model)")
    return QueryEncoder(model_dir, teacher or index.manifest.get("teacher"), text_encoder, static_dir)
