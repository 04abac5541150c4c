"""Code indexes: binary (Hamming) and PQ (asymmetric distance) codes with ids and metadata.

Python API (same verbs as ``distilhash index``)::

    from distilhash.index import create_index, open_index
    idx = create_index("my-index", kind="binary", n_bits=64, model_dir=..., teacher=...)
    idx.add(ids, codes, metadata)          # durable when it returns
    idx.delete(["id-3"])
    results = idx.search(query_codes, k=10)  # [SearchResult(ids, distances, metadata)]
    idx.verify().ok; idx.info()

Searchers (exact, identical results, ordered by (distance, row)): ``numpy`` reference,
``faiss-flat`` (FAISS IndexBinaryFlat), ``mih`` (multi-index hashing, sublinear on clustered
codes), and for PQ ``numpy`` / ``faiss`` (IndexPQ with our codebooks). See docs/index.md.

Every open index, single (:class:`CodeIndex`) or sharded (:class:`ShardedIndex`, S shards
behind one ``sharded.json``, :mod:`distilhash.index.sharded`), is an :class:`Index`
(:mod:`distilhash.index.protocol`); :func:`open_index` / :func:`verify_index` recognise either
layout (:mod:`distilhash.index.layout`).
"""

from __future__ import annotations

from distilhash.index.core import (
    CodeIndex,
    IndexLockedError,
    IndexOptions,
    SearchResult,
    VerifyReport,
)
from distilhash.index.create import create_index
from distilhash.index.layout import open_index, verify_index
from distilhash.index.protocol import Index
from distilhash.index.sharded import ShardedIndex, create_sharded_index, is_sharded, open_sharded_index

__all__ = ["CodeIndex", "Index", "IndexLockedError", "IndexOptions", "SearchResult", "ShardedIndex", "VerifyReport",
           "create_index", "create_sharded_index", "is_sharded", "open_index", "open_sharded_index", "verify_index"]
