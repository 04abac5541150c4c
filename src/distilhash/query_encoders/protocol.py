"""The one query path: the :class:`QueryEncoder` contract the CLI, the Python API and the service use.

A query encoder turns raw queries (texts, or images) into the query ``Encoded`` an index is
searched with, in two stages so that a service can batch and cache the costly one::

    feats = encoder.read(modality, queries)            # float32 [n, D] teacher-space features
                                                       # ([n, 0] when the model reads the queries itself)
    query = encoder.project(modality, queries, feats)  # binary codes, or a float query for PQ
    encoder.encode(modality, queries)                  # == project(modality, queries, read(modality, queries))

What reads each modality, what that costs and what it imports is *declared* in
``encoder.capabilities`` (:class:`EncoderCapabilities`, one :class:`Reader` per modality it
takes): callers decide from it, never by probing the encoder's attributes. ``ReadCost`` says how
a caller should run ``read``: ``NONE`` (nothing to do: the model reads the raw query in
``project``), ``CHEAP`` (numpy, well under a millisecond: inline per query), ``HEAVY`` (a
transformer tower, milliseconds: batch queries and cache features).

``encode_items`` makes *database* codes of new items (role ``"database"``, through the teacher's
towers, never the static text encoder): what the service's add endpoint stores.

The implementation shipped is :class:`~distilhash.query_encoders.query_encoder.ModelQueryEncoder`
(a saved model directory, or a fitted method and teacher in memory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import ConfigError

__all__ = ["QueryEncoder", "EncoderCapabilities", "Reader", "ReadCost", "QUERY_MODALITIES"]

QUERY_MODALITIES = ("text", "image")


class ReadCost(str, Enum):
    """How a caller runs :meth:`QueryEncoder.read` (module docstring)."""

    NONE = "none"
    CHEAP = "cheap"
    HEAVY = "heavy"


@dataclass(frozen=True)
class Reader:
    """What reads one modality's queries into features.

    Attributes:
        name: ``"static"`` (the model's static text encoder), ``"teacher"`` (the teacher's tower) or
            ``"student"`` (the trained model reads the raw query itself, in ``project``).
        cost: see :class:`ReadCost`.
        torch: reading may import torch (the teachers' towers do; the static encoder never does).
        details: what identifies the reader (the static encoder: fingerprint, tokens, width, fit cosine).
    """

    name: str
    cost: ReadCost
    torch: bool
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def makes_features(self) -> bool:
        """``read`` returns teacher-space features (width ``feature_width``), not an empty ``[n, 0]``."""
        return self.cost is not ReadCost.NONE


@dataclass(frozen=True)
class EncoderCapabilities:
    """What a query encoder takes, needs and costs.

    Attributes:
        method: the trained method's registered name (``method.json``), for answers.
        model_dir: the saved model it was loaded from (None: a method held in memory).
        teacher: the teacher spec (None when no teacher is involved).
        feature_width: D of the teacher-space features ``read`` returns (None: unknown or not used).
        text, image: the reader of each query modality; None when the encoder does not take it.
        numpy_head: ``project`` is the model's numpy query head (never imports torch); else the
            method itself is loaded (torch methods import torch).
    """

    method: str
    model_dir: Path | None
    teacher: str | None
    feature_width: int | None
    text: Reader | None
    image: Reader | None
    numpy_head: bool

    def reader(self, modality: str) -> Reader:
        """The reader of ``modality`` queries; ConfigError when this encoder does not take them."""
        readers = {"text": self.text, "image": self.image}
        r = readers.get(modality)
        if r is None:
            took = [m for m in QUERY_MODALITIES if readers[m] is not None]
            raise ConfigError(f"the query encoder of {self.method!r} takes no {modality!r} queries; "
                              f"it takes: {', '.join(took) or 'none'}")
        return r


@runtime_checkable
class QueryEncoder(Protocol):
    """Raw text / image queries -> query ``Encoded`` (module docstring). Shapes: ``n`` queries in, ``n`` rows out."""

    capabilities: EncoderCapabilities

    def read(self, modality: str, queries: Sequence[Any]) -> np.ndarray:
        """Stage 1: float32 ``[n, D]`` teacher-space features (``[n, 0]`` for a ``NONE``-cost reader)."""
        ...

    def project(self, modality: str, queries: Sequence[Any], features: np.ndarray) -> Encoded:
        """Stage 2: the query ``Encoded`` of ``queries`` from their stage-1 ``features``."""
        ...

    def encode(self, modality: str, queries: Sequence[Any]) -> Encoded:
        """Both stages: ``project(modality, queries, read(modality, queries))``."""
        ...

    def encode_texts(self, texts: Sequence[str]) -> Encoded:
        """``encode("text", texts)`` after checking the texts (a non-empty list of non-empty strings)."""
        ...

    def encode_images(self, images: Sequence[Any]) -> Encoded:
        """``encode("image", images)`` (PIL images or uint8 ``[H, W, 3]`` arrays) after checking the list."""
        ...

    def encode_items(self, modality: str, items: Sequence[Any]) -> Encoded:
        """Database codes of new items (role ``"database"``): what an index stores for them."""
        ...

    def warm(self) -> None:
        """Load what the first query of each taken modality would (models, tokenizers)."""
        ...
