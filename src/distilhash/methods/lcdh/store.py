"""Where the stream's frozen codes live: in memory, or durably in the index engine.

Every absorbed chunk appends, per item, the student's image code, its text code and the
teacher's code (all ±1, ``[n, L]``), the item's dataset row and the chunk number. Codes are
never recomputed or rewritten. :class:`MemoryCodeStore` keeps them in RAM;
:class:`IndexCodeStore` also appends each chunk to three binary indexes of the index engine
(``DIR/codes-image``, ``DIR/codes-text``, ``DIR/codes-teacher``; ``CodeIndex.add`` is fsynced
when it returns) and reopens them to resume an interrupted stream.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distilhash.codes import pack_bits, unpack_bits
from distilhash.errors import IndexCorruptError

__all__ = ["MemoryCodeStore", "IndexCodeStore", "KINDS"]

KINDS = ("image", "text", "teacher")


class MemoryCodeStore:
    """Frozen codes in RAM (see module docstring). ``durable`` is False."""

    durable = False

    def __init__(self, n_bits: int) -> None:
        self.n_bits = n_bits
        self._rows: list[np.ndarray] = []
        self._chunks: list[np.ndarray] = []
        self._codes: dict[str, list[np.ndarray]] = {k: [] for k in KINDS}
        self._cache: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(sum(len(r) for r in self._rows))

    def add(self, rows: np.ndarray, ids: list[str], codes: dict[str, np.ndarray], chunk: int) -> None:
        """Append one chunk: dataset ``rows [n]``, ``ids [n]``, ``codes[kind] ±1 int8 [n, L]``."""
        self._rows.append(np.asarray(rows, np.int64))
        self._chunks.append(np.full(len(rows), chunk, np.int32))
        for k in KINDS:
            self._codes[k].append(np.asarray(codes[k], np.int8))
        self._cache = None

    def _concat(self) -> dict[str, np.ndarray]:
        if self._cache is None:
            L = self.n_bits
            cat = {k: (np.concatenate(v) if v else np.zeros((0, L), np.int8)) for k, v in self._codes.items()}
            cat["rows"] = np.concatenate(self._rows) if self._rows else np.zeros(0, np.int64)
            cat["chunk"] = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int32)
            self._cache = cat
        return self._cache

    @property
    def rows(self) -> np.ndarray:
        return self._concat()["rows"]

    @property
    def chunk_of(self) -> np.ndarray:
        return self._concat()["chunk"]

    def codes(self, kind: str) -> np.ndarray:
        """±1 int8 ``[n, L]`` of ``kind`` (image | text | teacher), in arrival order."""
        return self._concat()[kind]

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(self._concat())

    @classmethod
    def from_arrays(cls, n_bits: int, arrays: dict[str, np.ndarray]) -> MemoryCodeStore:
        store = cls(n_bits)
        chunks = np.asarray(arrays["chunk"])
        for c in np.unique(chunks):
            m = chunks == c
            store.add(np.asarray(arrays["rows"])[m], [], {k: np.asarray(arrays[k])[m] for k in KINDS}, int(c))
        return store

    def close(self) -> None:
        pass


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

    def close(self) -> None:
        for idx in self.indexes.values():
            idx.close()

