"""One :func:`open_index` / :func:`verify_index` for every on-disk index layout.

==========  ==================  ============================================================
layout      marker file         opened as
==========  ==================  ============================================================
sharded     ``sharded.json``    :class:`~distilhash.index.sharded.ShardedIndex` (S shards)
single      ``manifest.json``   :class:`~distilhash.index.core.CodeIndex`
==========  ==================  ============================================================

A directory is the first layout whose marker it holds (a directory with neither is opened as
``single``, whose opener names what is missing). A new layout is one row of :data:`LAYOUTS`: its
marker, opener, verifier, the options its opener takes, and the directories that hold its files
(:func:`index_dirs`: each has its own writer lock, which a read-only service shares).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distilhash.errors import ConfigError
from distilhash.index import core
from distilhash.index.core import IndexOptions, VerifyReport
from distilhash.index.protocol import Index
from distilhash.index.sharded import SHARDED_MANIFEST, open_sharded_index, shard_dirs, verify_sharded_index

__all__ = ["Layout", "LAYOUTS", "layout_of", "open_index", "verify_index", "index_dirs"]


def _itself(directory: Path) -> list[Path]:
    return [directory]


@dataclass(frozen=True)
class Layout:
    """How to recognise (``marker`` file), open and verify one index layout; the extra options its opener takes;
    ``dirs``: the directories holding its files (default: the directory itself)."""

    marker: str
    open: Callable[..., Index]
    verify: Callable[[Path, IndexOptions | None], VerifyReport]
    options: frozenset[str] = frozenset()
    dirs: Callable[[Path], list[Path]] = _itself


#: layout name -> Layout, in recognition order (the last one is the default).
LAYOUTS: dict[str, Layout] = {
    "sharded": Layout(SHARDED_MANIFEST, open_sharded_index, verify_sharded_index, frozenset({"fanout", "fanout_options"}),
                      shard_dirs),
    "single": Layout("manifest.json", core.open_index, core.verify_index),
}


def layout_of(directory: str | Path) -> str:
    """Name of the layout ``directory`` holds (see module docstring)."""
    directory = Path(directory)
    for name, layout in LAYOUTS.items():
        if (directory / layout.marker).is_file():
            return name
    return list(LAYOUTS)[-1]


def open_index(directory: str | Path, writable: bool = False, verify_checksums: bool = True,
               options: IndexOptions | None = None, **layout_options: Any) -> Index:
    """Open the index in ``directory``, single or sharded; every file is checked as it opens.

    ``layout_options`` go to the layout's opener (sharded: ``fanout``, ``fanout_options``).

    Raises:
        ConfigError: a layout option the directory's layout does not take (e.g. ``fanout`` for one index).
        IndexCorruptError: the directory is not an index, or is damaged.
        IndexLockedError: ``writable=True`` and another writer has it open.
    """
    name = layout_of(directory)
    layout = LAYOUTS[name]
    if unknown := sorted(set(layout_options) - layout.options):
        raise ConfigError(f"{directory} holds a {name} index, whose opener takes no option {', '.join(unknown)} "
                          f"(it takes: {', '.join(sorted(layout.options)) or 'none'})")
    return layout.open(directory, writable=writable, verify_checksums=verify_checksums, options=options,
                              **layout_options)


def verify_index(directory: str | Path, options: IndexOptions | None = None) -> VerifyReport:
    """Check the index in ``directory`` (every shard of a sharded one) without opening it for search."""
    return LAYOUTS[layout_of(directory)].verify(Path(directory), options)


def index_dirs(directory: str | Path) -> list[Path]:
    """The directories holding the files of the index in ``directory`` (one per shard of a sharded index)."""
    directory = Path(directory)
    return LAYOUTS[layout_of(directory)].dirs(directory)
