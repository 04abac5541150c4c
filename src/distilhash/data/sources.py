"""Registry of dataset sources: each turns files (or a generator) into a CrossModalDataset.

``distilhash data prepare SOURCE`` looks the source up here. A source is a function
``(**options) -> CrossModalDataset`` registered with ``@SOURCES.register(name)`` in its own
module; the module is declared in ``_SOURCE_MODULES`` and imported on first use.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from distilhash.registry import Registry

__all__ = ["SOURCES", "create_source_dataset", "list_sources"]

SOURCES: Registry = Registry("dataset source")

#: source name -> module registering it.
_SOURCE_MODULES: dict[str, str] = {
    "emoji-scenes": "distilhash.data.emoji_scenes",
    "emoji-pretrain": "distilhash.data.emoji_scenes",
    "dcmh-mat": "distilhash.data.readers",
    "dchmt-mat": "distilhash.data.readers",
    "folder": "distilhash.data.folder",
    "openclipart": "distilhash.data.openclipart",
}


def _ensure(name: str) -> None:
    module = _SOURCE_MODULES.get(name)
    if name not in SOURCES and module and importlib.util.find_spec(module) is not None:
        importlib.import_module(module)


def create_source_dataset(name: str, /, **options: Any):
    """Build the dataset of source ``name`` with ``options`` (unknown names list valid ones)."""
    _ensure(name)
    return SOURCES.create(name, **options)


def list_sources() -> list[str]:
    for name in _SOURCE_MODULES:
        _ensure(name)
    return SOURCES.names()
