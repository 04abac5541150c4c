"""Registry of dataset sources: each turns files (or a generator) into a CrossModalDataset.

``distilhash data prepare SOURCE`` looks the source up here. A source is a function
``(**options) -> CrossModalDataset`` registered with ``@SOURCES.register(name)`` in its own
module; the module is declared in the lazy registry below and imported on first use.
"""

from __future__ import annotations

import inspect
from typing import Any

from distilhash.errors import ConfigError
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
    """Build the dataset of source ``name`` with ``options`` (unknown names list valid ones).

    A source whose function names all its options refuses others here with a ConfigError listing
    the valid ones (sources taking ``**options`` check them against their config dataclass).
    """
    factory = SOURCES.get(name)
    params = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            raise ConfigError(f"dataset source {name!r}: unknown option(s) {', '.join(unknown)}; "
                              f"valid keys: {', '.join(sorted(params))}")
    return factory(**options)


def list_sources() -> list[str]:
    return SOURCES.names()
