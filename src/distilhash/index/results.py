"""Search answers: the rows a searcher found turned into external ids, distances and metadata."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["SearchResult", "result_of_rows", "results_of_batch"]


class SearchResult(NamedTuple):
    """Results of one query, best first: external ids, distances (lower = closer), metadata."""

    ids: list[str]
    distances: np.ndarray
    metadata: list[dict[str, Any]]


def result_of_rows(state: Any, dist: np.ndarray, rows: np.ndarray) -> SearchResult:
    """The ids and metadata of ``rows`` (int64 ``[k]``) of an :class:`~distilhash.index.storage.IndexState`, with ``dist``."""
    items = state.items_of_rows(rows)
    return SearchResult([i for i, _ in items], dist, [md for _, md in items])


def results_of_batch(state: Any, found: list[tuple[np.ndarray, np.ndarray]]) -> list[SearchResult]:
    """:func:`result_of_rows` of every query's ``(distances, rows)``, the metadata of the whole batch read in one lookup."""
    if not found:
        return []
    rows = np.concatenate([np.asarray(r, dtype=np.int64) for _, r in found])
    items = state.items_of_rows(rows)
    out, start = [], 0
    for d, r in found:
        part = items[start : start + len(r)]
        start += len(r)
        out.append(SearchResult([i for i, _ in part], d, [md for _, md in part]))
    return out
