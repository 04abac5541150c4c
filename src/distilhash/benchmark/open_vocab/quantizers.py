"""64-bit quantizers of a teacher's own features, as references for DCMQ's codes (``bench/open_vocab_dcmq_emoji.py
quantizers``): each maps training rows ``[N, D]`` and a seed to ``reconstruct(x [n, D]) -> [n, D]``.

* ``pq 8x256``: :class:`~distilhash.quantizers.pq.ProductQuantizer`, 8 codebooks of 256 (the ``pq`` method's codes);
* ``faiss opq + pq 8x256``: faiss's OPQ rotation, then PQ; ``faiss rq 8x256 beam 8``: residual quantization, 8 full-width
  codebooks of 256, beam search 8; ``faiss lsq 8x256``: local search quantization, faiss's default settings.

faiss is the optional ``index`` dependency; it is imported when a faiss quantizer is fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["QUANTIZERS", "l2_scores"]


def _faiss_opq(train: np.ndarray, seed: int) -> Any:
    """faiss OPQ rotation + PQ 8 x 8 bits, trained on ``train [N, D]``: ``x [n, D] -> reconstruction [n, D]``."""
    import faiss

    faiss.omp_set_num_threads(1)
    rot = faiss.OPQMatrix(train.shape[1], 8)
    rot.train(train)
    pq = faiss.ProductQuantizer(train.shape[1], 8, 8)
    pq.cp.seed = seed
    pq.train(rot.apply(train))
    return lambda x: rot.reverse_transform(pq.decode(pq.compute_codes(rot.apply(x))))


def _faiss_rq(train: np.ndarray, seed: int) -> Any:
    """faiss residual quantizer 8 x 8 bits, beam 8."""
    import faiss

    faiss.omp_set_num_threads(1)
    q = faiss.ResidualQuantizer(train.shape[1], 8, 8)
    q.max_beam_size, q.cp.seed = 8, seed
    q.train(train)
    return lambda x: q.decode(q.compute_codes(x))


def _faiss_lsq(train: np.ndarray, seed: int) -> Any:
    """faiss local-search quantizer 8 x 8 bits (default settings)."""
    import faiss

    faiss.omp_set_num_threads(1)
    q = faiss.LocalSearchQuantizer(train.shape[1], 8, 8)
    q.random_seed = seed
    q.train(train)
    return lambda x: q.decode(q.compute_codes(x))


def _pq_quantizer(train: np.ndarray, seed: int) -> Any:
    from distilhash.quantizers.pq import ProductQuantizer

    pq = ProductQuantizer(train.shape[1], 8, 8, seed=seed).fit(train)
    return lambda x: pq.decode(pq.encode(x))


#: ``quantizers`` part: name -> ``(train rows [N, D], seed) -> reconstruct``
QUANTIZERS = {"pq 8x256": _pq_quantizer, "faiss opq + pq 8x256": _faiss_opq,
              "faiss rq 8x256 beam 8": _faiss_rq, "faiss lsq 8x256": _faiss_lsq}


def l2_scores(q: np.ndarray, x: np.ndarray, rel: np.ndarray) -> tuple[float, float]:
    """P@10 and mAP@all of queries ``q [Q, D]`` ranking ``x [N, D]`` by L2 distance (``rel [Q, N]``, every query has
    a relevant item)."""
    d = (q ** 2).sum(1)[:, None] - 2 * q @ x.T + (x ** 2).sum(1)[None]
    r = np.take_along_axis(rel, np.argsort(d, axis=1, kind="stable"), 1)
    prec = np.cumsum(r, 1) / np.arange(1, r.shape[1] + 1)
    return float(r[:, :10].mean()), float(((prec * r).sum(1) / r.sum(1)).mean())
