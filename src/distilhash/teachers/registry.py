"""Teachers by spec string: ``KIND`` or ``KIND:ARGUMENT``.

======================  ==============================================================
spec                    backend
======================  ==============================================================
``minilm-lit[:PATH]``   offline teacher: frozen all-MiniLM-L6-v2 text tower + LiT image
                        tower (:mod:`distilhash.teachers.minilm_lit`)
``lite0-minilm[:NAME]`` offline teacher: frozen ImageNet EfficientNet-Lite0 + frozen MiniLM,
                        fitted projection heads (:mod:`distilhash.teachers.lite0_minilm`);
                        NAME = the dataset it was fitted on, or a directory
``hf:MODEL_OR_PATH``    transformers CLIP (:mod:`distilhash.teachers.hf_clip`)
``openclip:ARCH/TAG``   open_clip (:mod:`distilhash.teachers.openclip`)
``features:PATH``       precomputed features looked up by item id
                        (:mod:`distilhash.teachers.precomputed`)
======================  ==============================================================

Backends are :class:`~distilhash.teachers.base.TeacherBase` subclasses that register themselves
with ``@TEACHERS.register(kind)`` in their module, declared in the lazy
:class:`~distilhash.registry.Registry` below and imported on first use (so
``import distilhash.teachers.registry`` imports no torch); a spec is turned into a teacher by the
class's ``from_spec(arg, **options)``.

Example:
    >>> from distilhash.teachers.registry import parse_spec, teacher_slug
    >>> parse_spec("hf:openai/clip-vit-base-patch32")
    ('hf', 'openai/clip-vit-base-patch32')
    >>> teacher_slug("minilm-lit")
    'minilm-lit'
    >>> teacher_slug("openclip:ViT-B-32/laion2b_s34b_b79k")
    'openclip-ViT-B-32-laion2b_s34b_b79k'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distilhash.errors import ConfigError
from distilhash.registry import Registry

if TYPE_CHECKING:
    from distilhash.teachers.base import TeacherBase

__all__ = ["TEACHERS", "create_teacher", "teacher_class", "list_teachers", "parse_spec", "teacher_slug",
           "TeacherLoadError"]

#: backend kind -> module registering it (imported on first use).
TEACHERS: Registry = Registry("teacher backend", modules={
    "minilm-lit": "distilhash.teachers.minilm_lit",
    "lite0-minilm": "distilhash.teachers.lite0_minilm",
    "lite0-prior": "distilhash.teachers.lite0_prior",
    "lite0-tuned": "distilhash.teachers.lite0_tuned",
    "hf": "distilhash.teachers.hf_clip",
    "openclip": "distilhash.teachers.openclip",
    "features": "distilhash.teachers.precomputed",
})


class TeacherLoadError(ConfigError):
    """A teacher's weights or library could not be found; the message says how to provide them."""


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"kind:arg"`` -> ``("kind", "arg")``; ``"kind"`` -> ``("kind", None)``."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"teacher spec must be a non-empty string like 'minilm-lit' or 'hf:MODEL', got {spec!r}")
    kind, sep, arg = spec.strip().partition(":")
    return kind, (arg if sep and arg else None)


def teacher_class(kind: str) -> type[TeacherBase]:
    """The class registered for backend ``kind`` (imports its module); its ``capabilities`` are read from it."""
    from distilhash.teachers.base import TeacherBase

    return TEACHERS.get_class(kind, TeacherBase)


def create_teacher(spec: str, **options: Any) -> TeacherBase:
    """Create the teacher named by ``spec`` (see module docstring).

    ``options`` go to the backend (e.g. ``device="cpu"``, ``batch_size=128``).
    Unknown kinds are answered with the list of valid ones.
    """
    kind, arg = parse_spec(spec)
    if kind not in TEACHERS:
        raise ConfigError(
            f"unknown teacher kind {kind!r} in spec {spec!r}; valid kinds: {', '.join(TEACHERS.declared())} "
            "(e.g. 'minilm-lit', 'hf:openai/clip-vit-base-patch32', 'openclip:ViT-B-32/laion2b_s34b_b79k', "
            "'features:PATH')"
        )
    return teacher_class(kind).from_spec(arg, **options)


def list_teachers() -> list[str]:
    """The backend kinds that can be named in a spec."""
    return TEACHERS.declared()


def teacher_slug(spec: str) -> str:
    """A directory-safe short name of a teacher spec (path arguments keep only their last part)."""
    kind, arg = parse_spec(spec)
    if arg is None:
        return kind
    if kind in ("minilm-lit", "lite0-minilm", "features") or Path(arg).is_absolute() or arg.startswith("."):
        tail = Path(arg.rstrip("/")).name or arg
        arg = Path(tail).stem if kind == "features" else tail
        if arg == kind or arg.startswith(f"{kind}-"):
            return re.sub(r'[^A-Za-z0-9._-]+', '-', arg)
    return f"{kind}-{re.sub(r'[^A-Za-z0-9._-]+', '-', arg).strip('-')}"
