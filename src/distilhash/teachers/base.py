"""The teacher contract: images and texts into one L2-normalised space, plus declared abilities.

Callers hold a :class:`Teacher` and read what it can do from ``teacher.capabilities`` (a
:class:`TeacherCapabilities` declared on the class), never by probing for methods:

* every teacher: ``name``, ``width`` (D), ``fingerprint`` (identity of its weights; "" if it has
  none), ``info()`` (a JSON-able description), ``image_size`` (the side S its image tower reads:
  callers may hand it uint8 ``[n, S, S, 3]`` arrays; ``None``: it takes images of any size or PIL
  images), ``text_cache_dir`` (where it keeps text embeddings, or ``None``),
  ``encode_images(images) -> float32 [n, D]`` and ``encode_texts(texts) -> float32 [n, D]``
  (unit-norm rows);
* ``capabilities.lookup``: rows are looked up by item id (precomputed features):
  ``lookup(modality, ids) -> [n, D]``, ``has(array_name)``, ``class_text(n_classes) -> [C, D]``;
* ``capabilities.dataset_images``: ``encode_dataset_images(dataset, indices) -> [n, D]`` encodes
  dataset rows through a per-item cache (faster than ``encode_images`` on the same items).

A backend subclasses :class:`TeacherBase` (defaults for the optional parts; asking for an ability
the class does not declare raises a ConfigError naming it), registers the class with
``@TEACHERS.register(kind)`` in its module and declares that module in
:data:`distilhash.teachers.registry.TEACHERS`. ``create_teacher("kind:arg")`` calls the class's
:meth:`TeacherBase.from_spec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from distilhash.errors import ConfigError

__all__ = ["Teacher", "TeacherBase", "TeacherCapabilities", "TEACHER_MEMBERS"]


@dataclass(frozen=True)
class TeacherCapabilities:
    """What a teacher class offers beyond encoding images and texts (see module docstring)."""

    lookup: bool = False
    dataset_images: bool = False


@runtime_checkable
class Teacher(Protocol):
    """A frozen vision-language model (see module docstring for the members' meaning)."""

    name: str
    width: int
    capabilities: TeacherCapabilities
    image_size: int | None
    text_cache_dir: Path | None

    @property
    def fingerprint(self) -> str: ...

    def info(self) -> dict[str, Any]: ...

    def encode_images(self, images: Any, batch_size: int = 64, progress: bool = False) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> np.ndarray: ...

    def encode_dataset_images(self, dataset: Any, indices: np.ndarray) -> np.ndarray: ...

    def lookup(self, modality: str, ids: Sequence[str]) -> np.ndarray: ...

    def has(self, name: str) -> bool: ...

    def class_text(self, n_classes: int) -> np.ndarray: ...


#: every member of the :class:`Teacher` protocol (the contract test checks each registered class has them)
TEACHER_MEMBERS: tuple[str, ...] = ("name", "width", "capabilities", "image_size", "text_cache_dir", "fingerprint",
                                    "info", "encode_images", "encode_texts", "encode_dataset_images", "lookup",
                                    "has", "class_text", "from_spec")


class TeacherBase:
    """Base of every teacher backend: the protocol's optional parts with their defaults.

    Subclasses set ``name`` and ``width`` (class or instance attributes), implement
    ``encode_images`` / ``encode_texts``, and declare ``capabilities`` when they offer more.
    """

    name: str = ""
    width: int = 0
    capabilities: ClassVar[TeacherCapabilities] = TeacherCapabilities()
    #: the side S the image tower reads (images resized to S x S); None: any size / PIL images
    image_size: int | None = None
    #: where text embeddings are cached; None: no cache
    text_cache_dir: Path | None = None
    #: identity of the weights (a subclass overrides it with a property or sets it); "" when unknown
    fingerprint: str = ""

    @classmethod
    def from_spec(cls, arg: str | None, **options: Any) -> TeacherBase:
        """The teacher named by spec ``KIND:arg`` (``arg`` None for a bare ``KIND``); ``options`` from the caller."""
        return cls(arg, **options)  # type: ignore[call-arg]

    def info(self) -> dict[str, Any]:
        """A JSON-able description (recorded in feature-cache manifests)."""
        return {"name": self.name, "width": int(self.width)}

    def encode_images(self, images: Any, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        raise NotImplementedError(f"teacher {self.name!r} does not implement encode_images()")

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
        raise NotImplementedError(f"teacher {self.name!r} does not implement encode_texts()")

    def _lacks(self, ability: str, call: str) -> ConfigError:
        return ConfigError(f"teacher {self.name!r} does not declare capabilities.{ability}: {call} is not available "
                           "(read teacher.capabilities before calling it)")

    def encode_dataset_images(self, dataset: Any, indices: np.ndarray) -> np.ndarray:
        """float32 ``[len(indices), D]`` image rows of ``dataset`` (``capabilities.dataset_images`` only)."""
        raise self._lacks("dataset_images", "encode_dataset_images()")

    def lookup(self, modality: str, ids: Sequence[str]) -> np.ndarray:
        """float32 ``[len(ids), D]`` stored rows of array ``modality`` (``capabilities.lookup`` only)."""
        raise self._lacks("lookup", "lookup()")

    def has(self, name: str) -> bool:
        """The teacher holds stored array ``name`` (``label_text``, ``class_text``, ...); False without lookup."""
        return False

    def class_text(self, n_classes: int) -> np.ndarray:
        """float32 ``[n_classes, D]`` stored class-prompt rows (``capabilities.lookup`` only)."""
        raise self._lacks("lookup", "class_text()")
