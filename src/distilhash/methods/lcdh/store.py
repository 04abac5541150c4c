"""Where the stream's frozen codes live while LCDH fits: :class:`MemoryCodeStore`.

Every absorbed chunk appends, per item, the student's image code, its text code and the
teacher's code (all ±1, ``[n, L]``), the item's dataset row and the chunk number. Codes are
never recomputed or rewritten. The method keeps them in RAM; persisting them is the index
stage's job: :class:`distilhash.pipeline.stream.IndexCodeStore` extends this store with durable
appends to the index engine (``durable`` True, ``restore`` for resuming).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MemoryCodeStore", "KINDS"]

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

    def describe(self) -> str:
        """Where the codes are kept (recorded in ``fit_info_``)."""
        return "memory"

    def close(self) -> None:
        pass
