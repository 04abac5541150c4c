"""The rankings judged by eye in ``bench/everyday_queries.py``: named rankings -> top-k dataset rows per query.

A ranking is named ``"KIND ARG"``, its kind one of :data:`RANKING_KINDS`::

    index demo-dcmq64-image                 # a built index answered as the search service answers
    float lite0-prior:openclipart-224-short # a float teacher: cosine of its text and image features

    tops = everyday_rankings(["index demo-dcmq64-image", "float lite0-prior:openclipart-224-short"],
                             ["a cat", "a red car"], dataset, retrieval_rows, k=10)
    tops["index demo-dcmq64-image"][0]      # the 10 dataset rows (ints) "a cat" returns, best first

``index NAME`` reads the query encoder recorded in the index's manifest with the service's default
text encoder (``auto``: the model's static encoder when it has one, else the teacher's text tower)
and searches the index as it is, so the ranking is the one the search page shows. Every hit must be
one of ``rows`` (the judged database): an index holding other items, or lacking some, is refused
before any query is answered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from distilhash.errors import ConfigError
from distilhash.registry import Registry

__all__ = ["RANKING_KINDS", "everyday_rankings", "parse_ranking"]

#: kind -> ``(arg, queries, dataset, rows int [n], k) -> per query k dataset rows``
RANKING_KINDS: Registry[Callable[..., list[list[int]]]] = Registry("everyday ranking kind")


def parse_ranking(name: str) -> tuple[str, str]:
    """``"KIND ARG"`` -> (kind, arg); a clear error for a name without a registered kind."""
    kind, _, arg = name.strip().partition(" ")
    if kind not in RANKING_KINDS or not arg.strip():
        raise ConfigError(f"ranking {name!r}; expected 'KIND ARG' with KIND one of {', '.join(RANKING_KINDS.names())} "
                          "(e.g. 'index demo-dcmq64-image', 'float lite0-prior:openclipart-224-short')")
    return kind, arg.strip()


def everyday_rankings(names: Sequence[str], queries: Sequence[str], dataset: Any, rows: np.ndarray,
                      k: int = 10) -> dict[str, list[list[int]]]:
    """name -> per query the top-``k`` dataset rows among ``rows`` (int ``[n]``, e.g. ``split.retrieval``)."""
    parsed = [(name, *parse_ranking(name)) for name in names]  # every name checked before any model loads
    rows = np.asarray(rows, dtype=np.int64)
    return {name: RANKING_KINDS.create(kind, arg, list(queries), dataset, rows, k) for name, kind, arg in parsed}


@RANKING_KINDS.register("index")
def _index_ranking(arg: str, queries: list[str], dataset: Any, rows: np.ndarray, k: int) -> list[list[int]]:
    """A built index (a directory, or a name under ``$DISTILHASH_HOME/indexes``) queried as the service does."""
    from distilhash.index import open_index
    from distilhash.paths import resolve_named
    from distilhash.query_encoders.query_encoder import query_encoder_for

    row_of = {dataset.ids[int(i)]: int(i) for i in rows}
    with open_index(resolve_named(arg, "indexes")) as index:
        held = {item for item, _ in index.iter_metadata()}
        _check_same_items(arg, held, row_of)
        encoder = query_encoder_for(index)  # the model and teacher its manifest records; text encoder "auto"
        results = index.search(encoder.encode("text", queries), k)
    return [[row_of[x] for x in res.ids] for res in results]


def _check_same_items(arg: str, held: set[str], row_of: dict[str, int]) -> None:
    """The index must hold exactly the judged database: checked on all its items, not only on the top k returned."""
    outside = sorted(held - row_of.keys())
    if outside:
        raise ConfigError(f"index {arg} holds {len(outside)} item(s) such as {outside[0]!r} that are not one of the "
                          f"{len(row_of)} judged database items (build the index on that part only)")
    absent = len(row_of) - len(held)
    if absent:
        raise ConfigError(f"index {arg} lacks {absent} of the {len(row_of)} judged database items; expected an index "
                          "of exactly that part (rebuild it)")


@RANKING_KINDS.register("float")
def _float_ranking(arg: str, queries: list[str], dataset: Any, rows: np.ndarray, k: int) -> list[list[int]]:
    """Float teacher ``arg``: texts' and images' features compared by inner product (unit rows: cosine)."""
    from distilhash.teachers.registry import create_teacher

    teacher = create_teacher(arg)
    if teacher.capabilities.dataset_images:  # its own (cached) path over the dataset's stored images
        images = teacher.encode_dataset_images(dataset, rows)
    else:
        images = teacher.encode_images([dataset.images.load(int(i)) for i in rows])
    scores = teacher.encode_texts(queries) @ images.T
    return [[int(rows[j]) for j in np.argsort(-s, kind="stable")[:k]] for s in scores]
