"""The distances an index reports, from queries to any given code rows (not only the stored ones).

:func:`code_distances` is what the searchers compute, batched over queries: Hamming distance for
binary codes (popcount of the XOR, as :func:`~distilhash.index.binary.hamming_to`), the ADC
distance for PQ codes (the tables of :func:`~distilhash.index.pq.lookup_tables` summed in the
order m = 0..M-1, as :func:`~distilhash.index.pq.adc_distances`, so the figures equal the numpy
searchers' to the bit). Used by the service to place a query's best hit among a sample of items.
"""

from __future__ import annotations

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import DataError
from distilhash.index.binary import to_words
from distilhash.index.pq import lookup_tables

__all__ = ["code_distances"]


def code_distances(query: Encoded | np.ndarray, codes: np.ndarray, codebooks: np.ndarray | None = None,
                   metric: str = "l2") -> np.ndarray:
    """float32 ``[nq, n]``: the distance from each query row to each row of ``codes``, lower = closer.

    Args:
        query: binary query codes uint8 ``[nq, B]`` (``codebooks`` None), or float PQ queries
            ``[nq, M * d]``; an :class:`~distilhash.codes.Encoded` or its array.
        codes: binary codes uint8 ``[n, B]``, or PQ codeword indices uint8 ``[n, M]``.
        codebooks: PQ codebooks float32 ``[M, K, d]`` (an index's ``codebooks``); None for binary codes.
        metric: PQ distance, ``l2`` (squared distance) or ``ip`` (minus the inner product).
    """
    data = query.data if isinstance(query, Encoded) else np.asarray(query)
    codes = np.asarray(codes)
    if data.ndim != 2 or codes.ndim != 2:
        raise DataError(f"code_distances: expected queries [nq, w] and codes [n, w']; got {data.shape} and {codes.shape}")
    if codebooks is None:
        if data.shape[1] != codes.shape[1]:
            raise DataError(f"code_distances: binary queries of {data.shape[1]} bytes for codes of {codes.shape[1]}")
        q, x = to_words(data), to_words(codes)
        out = np.zeros((len(q), len(x)), np.float32)
        for w in range(q.shape[1]):
            out += np.bitwise_count(q[:, None, w] ^ x[None, :, w])
        return out
    tables = lookup_tables(data, codebooks, metric)  # [nq, M, K]
    acc = tables[:, 0, codes[:, 0]]  # [nq, n], accumulated in the order adc_distances uses
    for j in range(1, codes.shape[1]):
        acc += tables[:, j, codes[:, j]]
    return -acc if metric == "ip" else acc
