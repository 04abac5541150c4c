"""The distances an index reports, from queries to a fixed set of code rows (not only the stored ones).

:class:`CodeSample` holds code rows (e.g. a random sample of an index's items, see
:meth:`~distilhash.index.protocol.Index.sample_codes`) prepared once for repeated queries:

* binary codes: the Hamming distance, popcount of the XOR over 64-bit words (as
  :func:`~distilhash.index.binary.hamming_to`), exact;
* PQ codes: the ADC distance of :mod:`distilhash.index.pq`, ``sum_m T[m, x_m]``, which is
  ``<q, x_hat>`` (``ip``: negated) or ``||q - x_hat||^2`` (``l2``) with ``x_hat`` the rows'
  reconstruction from the codebooks: one matrix product with the reconstructions, made once.
  Equal to the searchers' table sums up to float rounding (~1e-6); at a few hundred rows it is
  several times cheaper than building the per-query tables.

Used by the service to place a query's best hit among a sample of items (:mod:`distilhash.serve.match`).
"""

from __future__ import annotations

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import DataError
from distilhash.index.binary import to_words

__all__ = ["CodeSample"]


class CodeSample:
    """Code rows prepared for distance queries (module docstring).

    Args:
        codes: binary codes uint8 ``[n, B]``, or PQ codeword indices uint8 ``[n, M]``.
        codebooks: PQ codebooks float32 ``[M, K, d]`` (an index's ``codebooks``); None for binary codes.
        metric: PQ distance, ``l2`` (squared distance) or ``ip`` (minus the inner product).
    """

    def __init__(self, codes: np.ndarray, codebooks: np.ndarray | None = None, metric: str = "l2") -> None:
        self.codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if self.codes.ndim != 2:
            raise DataError(f"CodeSample: expected codes [n, w]; got shape {self.codes.shape}")
        if codebooks is not None and metric not in ("l2", "ip"):
            raise DataError(f"CodeSample: PQ metric {metric!r}; expected 'l2' or 'ip'")
        self.metric = metric
        self._words: np.ndarray | None = None  # binary: uint64 [n, W]
        self._recon: np.ndarray | None = None  # PQ: x_hat float32 [n, M*d]
        self._recon_sq: np.ndarray | None = None  # PQ: ||x_hat||^2 [n]
        if codebooks is None:
            self._words = to_words(self.codes)
        else:
            from distilhash.index.ivf import reconstruct

            self._recon = reconstruct(self.codes, np.asarray(codebooks, np.float32))
            self._recon_sq = np.einsum("nd,nd->n", self._recon, self._recon)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def distances(self, query: Encoded | np.ndarray) -> np.ndarray:
        """float32 ``[nq, n]``: the distance from each query row (binary codes uint8 ``[nq, B]``, or float
        PQ queries ``[nq, M * d]``; an :class:`~distilhash.codes.Encoded` or its array) to each row, lower = closer."""
        data = query.data if isinstance(query, Encoded) else np.asarray(query)
        if data.ndim != 2:
            raise DataError(f"CodeSample: expected queries [nq, w]; got shape {data.shape}")
        if self._words is not None:
            if data.shape[1] != self.codes.shape[1]:
                raise DataError(f"CodeSample: binary queries of {data.shape[1]} bytes for codes of {self.codes.shape[1]}")
            q = to_words(data)
            out = np.zeros((len(q), len(self)), np.float32)
            for w in range(q.shape[1]):
                out += np.bitwise_count(q[:, None, w] ^ self._words[None, :, w])
            return out
        q = np.asarray(data, np.float32)
        if q.shape[1] != self._recon.shape[1]:
            raise DataError(f"CodeSample: PQ queries of width {q.shape[1]}; the codebooks make {self._recon.shape[1]}")
        ip = q @ self._recon.T  # [nq, n]
        if self.metric == "ip":
            return -ip
        return np.maximum(np.einsum("qd,qd->q", q, q)[:, None] - 2.0 * ip + self._recon_sq[None, :], 0.0)
