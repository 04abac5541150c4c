"""Which in-memory searcher answers an index's queries, and how it is built.

:func:`choose_backend` resolves ``IndexOptions.backend = "auto"`` (binary: multi-index hashing
from ``mih_min_items`` items on, else the flat scan; the flat scan is the native C kernel when a
compiler is available, else FAISS, else numpy). :func:`build_searcher` creates the searcher from
the registries and binds persistent state (e.g. IVF lists kept beside the index).

Every registered searcher is a :class:`Searcher`; binary ones are :class:`BinarySearcher`s (radius
search, Hamming distances). ``tests/test_contracts.py`` checks each registered name. A new searcher
registers itself in ``BINARY_SEARCHERS`` (:mod:`~distilhash.index.binary`) or ``PQ_SEARCHERS``
(:mod:`~distilhash.index.pq`); one in its own module (like ``mih.py``, ``ivf.py``) is also declared
by module in that registry's ``modules=``, which is how this module and the contract test find it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from distilhash.codes import CodeKind

if TYPE_CHECKING:
    from distilhash.index.topk import Tombstones

__all__ = ["Searcher", "BinarySearcher", "choose_backend", "build_searcher", "searches_concurrently"]

#: per query: (distances [<=k], rows int64 [<=k]), ordered by (distance, row)
Result = list[tuple[np.ndarray, np.ndarray]]


@runtime_checkable
class Searcher(Protocol):
    """An in-memory exact searcher over stored codes (binary: packed bits ``[n, code_size]``; pq: ``[n, M]``).

    ``concurrent_search``: True when ``search`` keeps no per-call state, so the service may run several
    queries on one searcher at once (shared lock); False: one query at a time.
    """

    name: str
    concurrent_search: ClassVar[bool]

    @property
    def ntotal(self) -> int: ...  # rows added

    def add(self, codes: np.ndarray) -> None: ...

    def nbytes(self) -> int: ...  # memory held for the codes

    def search(self, queries: np.ndarray, k: int, dead: Tombstones) -> Result: ...


@runtime_checkable
class BinarySearcher(Searcher, Protocol):
    """A searcher of packed binary codes, which also answers radius queries (Hamming distance <= r)."""

    def range_search(self, queries: np.ndarray, radius: int, dead: Tombstones) -> Result: ...


def choose_backend(kind: CodeKind | str, n_rows: int, backend: str = "auto", mih_min_items: int = 50_000) -> str:
    """The searcher name for an index of ``kind`` (``binary`` | ``pq``) holding ``n_rows`` rows."""
    if backend != "auto":
        return backend
    from distilhash.index import native

    if native.available():  # FAISS is imported (~0.3 s) only when it will be used
        flat = "native"
    else:
        flat = "faiss" if importlib.util.find_spec("faiss") is not None else "numpy"
    if not CodeKind.parse(kind, "index kind").hamming:  # pq: a flat ADC scan
        return flat
    if n_rows >= mih_min_items:
        return "mih"
    return "faiss-flat" if flat == "faiss" else flat


def searches_concurrently(kind: CodeKind | str, name: str) -> bool:
    """Whether searcher ``name`` of ``kind`` declares ``concurrent_search`` (see :class:`Searcher`)."""
    if CodeKind.parse(kind, "index kind").hamming:
        from distilhash.index.binary import BINARY_SEARCHERS as registry
    else:
        from distilhash.index.pq import PQ_SEARCHERS as registry
    return bool(registry.get(name).concurrent_search)


def build_searcher(name: str, kind: CodeKind | str, codes: np.ndarray, directory: Path, *, code_size: int,
                   codebooks: np.ndarray | None = None, metric: str = "l2",
                   options: dict[str, Any] | None = None) -> Searcher:
    """Searcher ``name`` holding ``codes`` (binary: packed bits ``[n, code_size]``; pq: ``[n, M]`` indices)."""
    options = options or {}
    if CodeKind.parse(kind, "index kind").hamming:
        from distilhash.index.binary import BINARY_SEARCHERS

        searcher = BINARY_SEARCHERS.create(name, code_size, **options)
    else:
        from distilhash.index.pq import PERSISTENT_SEARCHERS, PQ_SEARCHERS

        searcher = PQ_SEARCHERS.create(name, codebooks, metric, **options)
        if name in PERSISTENT_SEARCHERS:  # e.g. IVF lists, kept beside the index (rebuilt when stale)
            searcher.bind_state(Path(directory) / PERSISTENT_SEARCHERS[name])
    searcher.add(codes)
    return searcher
