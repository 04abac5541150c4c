""":class:`ModelQueryEncoder`: the query encoder of a trained model (text or image -> teacher-space
features -> trained model -> query codes), the one implementation of the
:class:`~distilhash.query_encoders.protocol.QueryEncoder` protocol::

    enc   = ModelQueryEncoder("runs/dcmq64")             # or query_encoder_for(index)
    feats = enc.read("text", texts)                      # float32 [n, D], unit rows (static encoder or teacher)
    query = enc.project("text", texts, feats)            # binary codes, or a float query for PQ
    results = index.search(query, k)                     # == index.search(enc.encode_texts(texts), k)

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
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import ConfigError, DataError
from distilhash.query_encoders.protocol import EncoderCapabilities, QueryEncoder, ReadCost, Reader
from distilhash.registry import Registry

if TYPE_CHECKING:
    from distilhash.methods.base import MethodBase
    from distilhash.query_encoders.static_text import StaticTextEncoder
    from distilhash.teachers.base import Teacher

__all__ = ["QueryEncoder", "ModelQueryEncoder", "query_encoder_for", "load_images", "TEXT_ENCODERS",
           "QUERY_TEXT_ENCODERS", "TEACHER", "STUDENT"]

#: The teacher's tower reads the queries (a transformer: batch and cache).
TEACHER = Reader("teacher", ReadCost.HEAVY, torch=True)
#: The trained model reads the raw queries itself, in ``project`` (e.g. LCDH, DCMQ with trainable encoders).
STUDENT = Reader("student", ReadCost.NONE, torch=False)

#: name -> factory ``(encoder, folder) -> (Reader, loaded static encoder or None)``: how text queries are read.
TEXT_ENCODERS: Registry[Any] = Registry("query text encoder")
#: What callers may ask for: a registered text encoder, or ``auto``.
QUERY_TEXT_ENCODERS = ("auto", "static", "teacher")


@TEXT_ENCODERS.register("static")
def _static_text(qe: ModelQueryEncoder, folder: Path) -> tuple[Reader, StaticTextEncoder]:
    """The model's static encoder (:mod:`distilhash.query_encoders.static_text`), its width checked.

    The one place the query path loads it (the CLI, the Python API and the service all get it here).
    """
    from distilhash.query_encoders.static_text import load_static_text

    enc = load_static_text(folder)
    width = qe.capabilities.feature_width
    if width is not None and enc.width != width:
        raise ConfigError(f"the static text encoder at {folder} makes {enc.width}-d features; "
                          f"the model {qe.model_dir} expects {width}")
    details = {"fingerprint": enc.fingerprint, "tokens": int(enc.table.shape[0]), "width": int(enc.table.shape[1]),
               "fit_cosine_mean": enc.meta.get("report", {}).get("fit_cosine_mean")}
    return Reader("static", ReadCost.CHEAP, torch=False, details=details), enc


TEXT_ENCODERS.register("teacher")(lambda qe, folder: (TEACHER, None))


class ModelQueryEncoder:
    """The :class:`~distilhash.query_encoders.protocol.QueryEncoder` of a trained model: its teacher (or
    static text encoder) reads the queries, the model (or its numpy query head) projects them.

    Args:
        model_dir: a directory written by ``method.save`` (``method.json`` + weights).
        teacher: teacher spec (``create_teacher``); default: the ``teacher`` in ``method.json``.
        text_encoder: ``auto``, ``static`` or ``teacher`` (see module docstring).
        static_dir: the static encoder's folder (default ``MODEL/static-text``).

    :meth:`from_method` wraps a fitted method and a teacher held in memory instead. ``static`` is
    the loaded :class:`~distilhash.query_encoders.static_text.StaticTextEncoder` when text queries
    go through it, else None; ``teacher`` and ``method`` are created on first use.
    """

    capabilities: EncoderCapabilities

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
        self._method: MethodBase | None = None
        self._teacher: Teacher | None = None
        self.head = numpy_head_for(self.model_dir)
        raw = False if self.head is not None else self.method.capabilities.input == "raw"  # the instance's (its config)
        self.teacher_spec = teacher or meta.get("teacher")
        if not raw and (not self.teacher_spec or self.teacher_spec == "unknown"):
            raise ConfigError(f"{self.model_dir}/method.json names no teacher; pass the teacher spec explicitly")
        where = Path(static_dir) if static_dir is not None else static_text_dir(self.model_dir)
        if raw and text_encoder == "static":
            raise ConfigError(f"the model {self.model_dir} ({meta.get('method')}) reads the query words itself; "
                              "the static text encoder does not apply to it (use the default query encoder)")
        if text_encoder == "auto":
            text_encoder = "static" if (where / "encoder.json").is_file() else "teacher"
        width = meta.get("feature_width")
        self.static: StaticTextEncoder | None = None
        self.capabilities = EncoderCapabilities(
            method=str(meta.get("method")), model_dir=self.model_dir,
            teacher=None if raw and self.teacher_spec in (None, "unknown") else self.teacher_spec,
            feature_width=None if width is None else int(width), text=None, image=None, numpy_head=self.head is not None)
        if raw:
            self._set_readers(STUDENT, STUDENT)
        else:
            text_reader, self.static = TEXT_ENCODERS.create(text_encoder, self, where)
            self._set_readers(text_reader, TEACHER)

    @classmethod
    def from_method(cls, method: MethodBase, teacher: Teacher | None = None) -> ModelQueryEncoder:
        """The encoder of a fitted ``method`` and a created ``teacher`` held in memory (tests, notebooks).

        ``teacher`` may be None for a method that reads raw queries itself (``capabilities.input == "raw"``).
        """
        raw = method.capabilities.input == "raw"
        if not raw and teacher is None:
            raise ConfigError(f"method {method.name!r} reads teacher features: pass the teacher that made its training features")
        self = cls.__new__(cls)
        self.model_dir, self.head, self.static, self.teacher_spec = None, None, None, None
        self._method, self._teacher = method, teacher
        width = method.feature_width_ if not raw else None
        self.capabilities = EncoderCapabilities(method=method.name, model_dir=None, teacher=None,
                                                feature_width=None if width is None else int(width),
                                                text=None, image=None, numpy_head=False)
        self._set_readers(STUDENT if raw else TEACHER, STUDENT if raw else TEACHER)
        return self

    def _set_readers(self, text: Reader, image: Reader) -> None:
        self.capabilities = replace(self.capabilities, text=text, image=image)
        self._text_read: Callable[[list[str]], np.ndarray] = (
            self.static.encode if self.static is not None else lambda texts: self.teacher.encode_texts(texts))

    @property
    def method(self) -> MethodBase:
        """The trained method (loaded on first use: torch methods import torch)."""
        if self._method is None:
            from distilhash.methods.base import load_method

            self._method = load_method(self.model_dir)
        return self._method

    @property
    def teacher(self) -> Teacher:
        """The teacher (created on first use from ``teacher_spec``)."""
        if self._teacher is None:
            from distilhash.teachers.registry import create_teacher

            if not self.teacher_spec or self.teacher_spec == "unknown":
                raise ConfigError(f"the model {self.model_dir} names no teacher")
            self._teacher = create_teacher(self.teacher_spec)
        return self._teacher

    # -- the QueryEncoder protocol -----------------------------------------------------------
    def read(self, modality: str, queries: Sequence[Any]) -> np.ndarray:
        """Stage 1: float32 ``[n, D]`` teacher-space features (``[n, 0]`` when the model reads the queries itself)."""
        reader = self.capabilities.reader(modality)
        if not reader.makes_features:
            return np.zeros((len(queries), 0), np.float32)
        if modality == "text":
            return np.asarray(self._text_read(list(queries)), dtype=np.float32)
        return np.asarray(self.teacher.encode_images(list(queries)), dtype=np.float32)

    def project(self, modality: str, queries: Sequence[Any], features: np.ndarray) -> Encoded:
        """Stage 2: the query ``Encoded`` (the numpy head when the model has one; the model's own
        encoder of the raw ``queries`` when it reads them itself)."""
        if not self.capabilities.reader(modality).makes_features:
            return self.method.encode_raw(modality, list(queries), "query")
        if self.head is not None:
            return self.head.encode(modality, features)
        return self.method.encode(modality, features, role="query")

    def encode(self, modality: str, queries: Sequence[Any]) -> Encoded:
        """Both stages for ``queries`` of ``modality``."""
        return self.project(modality, queries, self.read(modality, queries))

    def encode_texts(self, texts: Sequence[str]) -> Encoded:
        """Query codes of ``texts`` (``role="query"``)."""
        if isinstance(texts, str) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise DataError("text queries must be a non-empty list of non-empty strings")
        return self.encode("text", list(texts))

    def encode_images(self, images: Sequence[Any]) -> Encoded:
        """Query codes of images (PIL images or uint8 ``[H, W, 3]`` arrays; see :func:`load_images`)."""
        if not len(images):
            raise DataError("image queries must be a non-empty list")
        return self.encode("image", list(images))

    def encode_items(self, modality: str, items: Sequence[Any]) -> Encoded:
        """Database codes of new items: the teacher's tower (never the static encoder) and the model, as the index stage does."""
        if not self.capabilities.reader(modality).makes_features:
            return self.method.encode_raw(modality, list(items), "database")
        tower = self.teacher.encode_texts if modality == "text" else self.teacher.encode_images
        return self.method.encode(modality, np.asarray(tower(list(items)), dtype=np.float32), role="database")

    def warm(self) -> None:
        """One text through both stages, and the teacher created when images (or the text reader) need it."""
        self.encode_texts(["warm up"])
        if self.capabilities.reader("image").makes_features:
            self.teacher.encode_texts(["warm up"])


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


class RecordsModel(Protocol):
    """What :func:`query_encoder_for` reads of an open index (every ``distilhash.index.Index`` has it;
    query encoders sit below the index package and never import it)."""

    directory: Path

    @property
    def manifest(self) -> dict[str, Any]: ...


def query_encoder_for(index: RecordsModel, model_dir: str | Path | None = None, teacher: str | None = None,
                      text_encoder: str = "auto", static_dir: str | Path | None = None) -> ModelQueryEncoder:
    """The encoder recorded in an open index's ``manifest`` (overridable); see :class:`ModelQueryEncoder`."""
    recorded = model_dir is None
    model_dir = model_dir or index.manifest.get("model_dir")
    if not model_dir:
        raise ConfigError(f"index {index.directory} records no model directory; pass one (--model)")
    if recorded and not (Path(model_dir) / "method.json").is_file():
        what = "is no longer there (moved or deleted?)" if not Path(model_dir).exists() else "holds no method.json"
        raise ConfigError(f"index {index.directory} was built with the model {model_dir}, which {what}; its queries need "
                          "that model: pass its new place with --model DIR (the same training run, not another one)")
    return ModelQueryEncoder(model_dir, teacher or index.manifest.get("teacher"), text_encoder, static_dir)
