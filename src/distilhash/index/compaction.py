"""Compaction: write the next generation of an index from its current state (storage, writer only).

Generation ``N + 1`` holds the live items of generation ``N`` (snapshot items and logged ones,
tombstoned ones left out) plus, for a bulk add, the ``pending`` new items; it is committed by
:func:`~distilhash.index.snapshot.write_generation` replacing the manifest. The caller then
switches to it and calls :func:`drop_files` for the files of generation ``N``;
:func:`remove_orphans` deletes what an interrupted compaction left behind.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.index.format import GEN_FILE
from distilhash.index.snapshot import write_generation
from distilhash.index.storage import IndexState

__all__ = ["Pending", "write_next_generation", "generation_files", "drop_files", "remove_orphans"]

#: New items of a bulk add: (ids [n], stored codes uint8 [n, w], metadata [n]).
Pending = tuple[list[str], np.ndarray, list[dict[str, Any]]]


def generation_files(manifest: dict[str, Any]) -> set[str]:
    """Names of the files a manifest's generation consists of (its log included)."""
    return {e["name"] for e in manifest["files"].values()} | {manifest["log"]}


def write_next_generation(directory: Path, state: IndexState, pending: Pending | None = None) -> dict[str, Any]:
    """Write and commit generation N+1 = live items of ``state`` (+ ``pending``); returns its sealed manifest."""
    m = state.manifest
    seqs, codes, dead = state.seqs, state.all_codes(), state.dead
    if dead:
        alive = ~np.isin(seqs, np.fromiter(dead, np.int64, len(dead)))
        seqs, codes = seqs[alive], codes[alive]
    delete_snap = sorted(s for s in dead if s not in state.log_items)  # deleted snapshot items
    new_items: Any = ((s, i, md) for s, (i, md) in state.log_items.items() if s not in dead)  # seq order
    next_seq = state.next_seq
    if pending is not None:
        p_ids, p_codes, p_meta = pending
        p_seqs = np.arange(next_seq, next_seq + len(p_ids), dtype=np.int64)
        seqs = np.concatenate([seqs, p_seqs])
        codes = np.concatenate([codes, p_codes])
        new_items = itertools.chain(new_items, zip(p_seqs.tolist(), p_ids, p_meta))
        next_seq += len(p_ids)
    new_manifest = dict(m, generation=int(m["generation"]) + 1, next_seq=next_seq)
    old_store = directory / m["files"]["meta"]["name"]
    return write_generation(directory, new_manifest, codes, seqs, old_store, delete_snap, new_items)


def drop_files(directory: Path, names: set[str], keep_manifest: dict[str, Any]) -> None:
    """Delete the files ``names`` except those of ``keep_manifest``'s generation."""
    for name in names - generation_files(keep_manifest):
        (directory / name).unlink(missing_ok=True)


def remove_orphans(directory: Path, manifest: dict[str, Any]) -> None:
    """Delete files of other generations (and temporary files) left by an interrupted compaction."""
    keep = generation_files(manifest)
    for p in directory.iterdir():
        if (GEN_FILE.match(p.name) and p.name not in keep) or (p.name.startswith(".") and p.name.endswith(".tmp")):
            p.unlink(missing_ok=True)
