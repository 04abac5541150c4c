"""The one :class:`Index` protocol: what every open index offers, whatever its layout.

:class:`~distilhash.index.core.CodeIndex` (one directory) and
:class:`~distilhash.index.sharded.ShardedIndex` (S shards behind one manifest) both implement it;
callers hold an ``Index`` from :func:`distilhash.index.open_index` and never ask which one it is.
Shapes: ``query`` is an :class:`~distilhash.codes.Encoded` batch or a uint8 ``[Q, code_size]``
array; ``search`` returns one :class:`SearchResult` per query row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from distilhash.codes import CodeKind, Encoded
from distilhash.index.core import SearchResult, VerifyReport

__all__ = ["Index", "INDEX_MEMBERS"]


@runtime_checkable
class Index(Protocol):
    """An open code index (binary or PQ codes + ids + metadata), single or sharded."""

    directory: Path
    writable: bool

    @property
    def kind(self) -> CodeKind: ...  # CodeKind.BINARY or CodeKind.PQ

    @property
    def n_bits(self) -> int: ...

    @property
    def code_size(self) -> int: ...  # bytes per code

    @property
    def metric(self) -> str | None: ...

    @property
    def codebooks(self) -> np.ndarray | None: ...  # PQ: float32 [M, K, D/M]; binary: None

    @property
    def manifest(self) -> dict[str, Any]: ...  # kind, n_bits, model_dir, teacher, extra, ...

    @property
    def backend(self) -> str: ...

    @property
    def count(self) -> int: ...  # live items

    def __len__(self) -> int: ...

    def add(self, ids: list[str], codes: Encoded | np.ndarray, metadata: list[dict[str, Any]] | None = None,
            snapshot: bool | None = None) -> None: ...

    def delete(self, ids: list[str], missing_ok: bool = False) -> int: ...

    def compact(self) -> None: ...

    def search(self, query: Encoded | np.ndarray, k: int = 10) -> list[SearchResult]: ...

    # (results, shards that could not be searched): an index whose shards are remote (the Ray fan-out)
    # may answer from the shards it reached and name the others; every other index returns [] there
    def search_partial(self, query: Encoded | np.ndarray, k: int = 10) -> tuple[list[SearchResult], list[int]]: ...

    def search_radius(self, query: Encoded | np.ndarray, radius: int) -> list[SearchResult]: ...

    def get(self, ids: list[str]) -> dict[str, tuple[np.ndarray, dict[str, Any]]]: ...

    def iter_metadata(self, chunk: int = 20_000, include_deleted: bool = False) -> Iterator[tuple[str, dict[str, Any]]]: ...

    def sample_codes(self, n: int, seed: int = 0) -> np.ndarray: ...  # uint8 [min(n, count), code_size]

    def searcher(self) -> Any: ...  # build (warm) the in-memory searcher(s)

    def verify(self) -> VerifyReport: ...

    def info(self) -> dict[str, Any]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Index: ...

    def __exit__(self, *exc: object) -> None: ...


#: Every member name of the protocol (what a new index kind must provide; checked by the tests).
INDEX_MEMBERS: tuple[str, ...] = tuple(sorted(
    name for name in {*Index.__annotations__, *vars(Index)}
    if not name.startswith("_") or name in ("__len__", "__enter__", "__exit__")))
