"""Online (streaming) training with durable codes: the stream layer between a method and the index engine.

A streaming method (``capabilities.streaming``, e.g. LCDH) absorbs ``split.retrieval`` chunk by
chunk and appends each chunk's frozen codes to a store it is given. :func:`fit_stream` gives it
an :class:`IndexCodeStore`, which mirrors the codes in memory and appends them durably to three
binary indexes of the index engine (``DIR/codes-image``, ``DIR/codes-text``, ``DIR/codes-teacher``;
``CodeIndex.add`` is fsynced when it returns), and a model checkpoint directory
(``DIR/checkpoint``). After an interruption the same call resumes: the store reopens its indexes
and reports which chunks they already hold; the method resumes from its checkpoint.

Example:
    >>> from distilhash.pipeline.stream import fit_stream  # doctest: +SKIP
    >>> method = fit_stream(create_method("lcdh", n_bits=64), feats, split, dataset, "runs/lcdh/stream")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import pack_bits, unpack_bits
from distilhash.errors import ConfigError, IndexCorruptError
from distilhash.methods.lcdh.store import KINDS, MemoryCodeStore

__all__ = ["IndexCodeStore", "fit_stream", "CHECKPOINT_DIR"]

CHECKPOINT_DIR = "checkpoint"


class IndexCodeStore(MemoryCodeStore):
    """Memory mirror + durable appends to three binary indexes under ``directory``."""

    durable = True

    def __init__(self, n_bits: int, directory: str | Path, extra: dict | None = None) -> None:
        from distilhash.index import create_index, open_index
        from distilhash.index.format import MANIFEST

        super().__init__(n_bits)
        self.directory = Path(directory)
        self.indexes = {}
        for kind in KINDS:
            path = self.directory / f"codes-{kind}"
            if (path / MANIFEST).exists():
                idx = open_index(path, writable=True)
                if idx.info().get("n_bits") != n_bits:
                    raise IndexCorruptError(f"{path} holds {idx.info().get('n_bits')}-bit codes; this stream has {n_bits} bits")
            else:
                idx = create_index(path, kind="binary", n_bits=n_bits, extra={"lcdh_codes": kind, **(extra or {})})
            self.indexes[kind] = idx

    def restore(self, chunks: list[tuple[int, np.ndarray, list[str]]]) -> int:
        """Fill the memory mirror from the indexes for ``(chunk, rows, ids)`` already streamed (resume).

        Returns how many of those items were found; items of a chunk are taken only if all three
        indexes hold them.
        """
        found = 0
        for chunk, rows, ids in chunks:
            got = {k: idx.get(list(ids)) for k, idx in self.indexes.items()}
            keep = [j for j, i in enumerate(ids) if all(i in got[k] for k in KINDS)]
            if not keep:
                continue
            codes = {k: unpack_bits(np.stack([got[k][ids[j]][0] for j in keep]), self.n_bits).astype(np.int8) * 2 - 1
                     for k in KINDS}
            MemoryCodeStore.add(self, np.asarray(rows)[keep], [ids[j] for j in keep], codes, chunk)
            found += len(keep)
        n_index = {k: len(idx) for k, idx in self.indexes.items()}
        if any(v != found for v in n_index.values()):
            raise IndexCorruptError(f"{self.directory}: the code indexes hold {n_index} items but the stream state "
                                    f"accounts for {found}; remove the directory to restart the stream")
        return found

    def present(self, ids: list[str]) -> set[str]:
        return set(self.indexes["image"].get(ids))

    def add(self, rows: np.ndarray, ids: list[str], codes: dict[str, np.ndarray], chunk: int) -> None:
        """Durably append (ids already present, from a crash mid-chunk, are kept as they are)."""
        have = self.present(list(ids))
        keep = np.array([i not in have for i in ids], bool)
        meta = [{"row": int(r), "chunk": int(chunk)} for r in np.asarray(rows)[keep]]
        kept_ids = [i for i, k in zip(ids, keep) if k]
        for kind in KINDS:
            if kept_ids:
                self.indexes[kind].add(kept_ids, pack_bits(np.asarray(codes[kind])[keep] > 0), meta)
        super().add(rows, ids, codes, chunk)

    def describe(self) -> str:
        return f"index engine (durable CodeIndex.add) at {self.directory}"

    def close(self) -> None:
        for idx in self.indexes.values():
            idx.close()


def fit_stream(method, features, split, dataset, stream_dir: str | Path, on_chunk=None, **fit_kwargs: Any):
    """Fit a streaming ``method`` with its codes stored durably under ``stream_dir`` (module docstring).

    Resumes an interrupted stream in the same directory. Returns the fitted method.
    """
    if not method.capabilities.streaming:
        raise ConfigError(f"{method.name} has no online (--stream) mode; only streaming methods have one (lcdh)")
    stream_dir = Path(stream_dir)
    store = IndexCodeStore(method.n_bits, stream_dir, extra={"method": method.name, "split_hash": split.hash})
    return method.fit(features, split, dataset=dataset, store=store, checkpoint_dir=stream_dir / CHECKPOINT_DIR,
                      on_chunk=on_chunk, **fit_kwargs)
