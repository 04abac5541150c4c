"""Registry of dataset sources: each turns files (or a generator) into a CrossModalDataset.

``distilhash data prepare SOURCE`` looks the source up here. A source is a function
``(**options) -> CrossModalDataset`` registered with ``@SOURCES.register(name)`` in its own
module; the module is declared in the lazy registry below and imported on first use.
"""

from __future__ import annotations

from typing import Any

from distilhash.registry import Registry

__all__ = ["SOURCES", "create_source_dataset", "list_sources"]

#: source name -> module registering it.
SOURCES: Registry = Registry("dataset source", modules={
    "emoji-scenes": "distilhash.data.emoji_scenes",
    "emoji-pretrain": "distilhash.data.emoji_scenes",
    "dcmh-mat": "distilhash.data.readers",
    "dchmt-mat": "distilhash.data.readers",
    "folder": "distilhash.data.folder",
    "openclipart": "distilhash.data.openclipart",
})


def create_source_dataset(name: str, /, **options: Any):
    """Build the dataset of source ``name`` with ``options`` (unknown names list valid ones)."""
    return SOURCES.create(name, **options)


def list_sources() -> list[str]:
    return SOURCES.names()
