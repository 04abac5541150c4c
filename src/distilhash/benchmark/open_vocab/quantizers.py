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


def _faiss_quantizer(kind: str) -> Any:
    """``(train [N, D], seed) -> reconstruct(x [n, D]) -> [n, D]`` of a 64-bit faiss quantizer (8 x 8 bits)."""
    def make(train: np.ndarray, seed: int) -> Any:
        import faiss

        faiss.omp_set_num_threads(1)
        d = train.shape[1]
        if kind == "opq":
            rot = faiss.OPQMatrix(d, 8)
            rot.train(train)
            pq = faiss.ProductQuantizer(d, 8, 8)
            pq.cp.seed = seed
            pq.train(rot.apply(train))
            return lambda x: rot.reverse_transform(pq.decode(pq.compute_codes(rot.apply(x))))
        q = faiss.ResidualQuantizer(d, 8, 8) if kind == "rq" else faiss.LocalSearchQuantizer(d, 8, 8)
        if kind == "rq":
            q.max_beam_size, q.cp.seed = 8, seed
        else:
            q.random_seed = seed
        q.train(train)
        return lambda x: q.decode(q.compute_codes(x))
    return make


def _pq_quantizer(train: np.ndarray, seed: int) -> Any:
    from distilhash.quantizers.pq import ProductQuantizer

    pq = ProductQuantizer(train.shape[1], 8, 8, seed=seed).fit(train)
    return lambda x: pq.decode(pq.encode(x))


#: ``quantizers`` part: name -> ``(train rows [N, D], seed) -> reconstruct``
QUANTIZERS = {"pq 8x256": _pq_quantizer, "faiss opq + pq 8x256": _faiss_quantizer("opq"),
              "faiss rq 8x256 beam 8": _faiss_quantizer("rq"), "faiss lsq 8x256": _faiss_quantizer("lsq")}


def l2_scores(q: np.ndarray, x: np.ndarray, rel: np.ndarray) -> tuple[float, float]:
    """P@10 and mAP@all of queries ``q [Q, D]`` ranking ``x [N, D]`` by L2 distance (``rel [Q, N]``, every query has
    a relevant item)."""
    d = (q ** 2).sum(1)[:, None] - 2 * q @ x.T + (x ** 2).sum(1)[None]
    r = np.take_along_axis(rel, np.argsort(d, axis=1, kind="stable"), 1)
    prec = np.cumsum(r, 1) / np.arange(1, r.shape[1] + 1)
    return float(r[:, :10].mean()), float(((prec * r).sum(1) / r.sum(1)).mean())
