"""Validation scores for model selection: queries ``split.val`` against database ``split.fit``.

``mAP@all`` with relevance ``y_q . y_x > 0``, ties broken by database index (stable sort), queries
without a relevant item counting 0 — the protocol's definition. :func:`val_teacher_fidelity` reads no
labels: the share of the float teacher's own top 10 that the codes' top 10 keeps (each val image and
caption as a query, cross-modal), for collections without labels and for selecting codes that stay
faithful to the teacher rather than to the label set. Used inside training loops, so
it is computed in torch, in query chunks, with the torch distances of :func:`encoded_distances`
(same conventions as :func:`distilhash.eval.rankers.distances`, which a test checks; faster
inside a training loop). Kinds it does not know are passed to the eval rankers.
"""

from __future__ import annotations

import numpy as np

from distilhash.codes import CodeKind, Encoded, unpack_bits

__all__ = ["map_all_from_distances", "encoded_distances", "retrieval_map", "val_map", "pair_mrr", "top_k_overlap",
           "teacher_fidelity", "val_teacher_fidelity"]


def encoded_distances(query: Encoded, database: Encoded) -> np.ndarray:
    """Distances ``[nq, nd]`` (lower = closer) between encoded queries and database items."""
    reference = _TORCH_DISTANCES.get((query.kind, database.kind))
    if reference is not None:
        return reference(query, database)
    from distilhash.eval.rankers import distances

    return np.asarray(distances(query, database))


def _cosine(query: Encoded, database: Encoded) -> np.ndarray:
    """float queries against float items: 1 - cosine."""
    import torch

    q = torch.nn.functional.normalize(torch.as_tensor(query.data, dtype=torch.float32), dim=1)
    x = torch.nn.functional.normalize(torch.as_tensor(database.data, dtype=torch.float32), dim=1)
    return (1.0 - q @ x.T).numpy()


def _adc(query: Encoded, database: Encoded) -> np.ndarray:
    """float queries against pq items: asymmetric distance (l2) or minus the asymmetric inner product (ip)."""
    import torch

    cb = torch.as_tensor(database.codebooks, dtype=torch.float32)  # [M, K, d]
    M, K, d = cb.shape
    q = torch.as_tensor(query.data, dtype=torch.float32).reshape(-1, M, d)
    ip = torch.einsum("qmd,mkd->qmk", q, cb)
    if database.metric == "ip":
        table = -ip
    else:
        table = (q * q).sum(-1, keepdim=True) - 2 * ip + (cb * cb).sum(-1)[None]
    codes = torch.as_tensor(database.data.astype(np.int64))  # [nd, M]
    out = torch.zeros(q.shape[0], codes.shape[0])
    for m in range(M):
        out += torch.index_select(table[:, m], 1, codes[:, m])
    return out.numpy()


def _hamming(query: Encoded, database: Encoded) -> np.ndarray:
    """binary queries against binary items: Hamming distance (as float)."""
    a = unpack_bits(query.data, query.n_bits).astype(np.float32) * 2 - 1
    b = unpack_bits(database.data, database.n_bits).astype(np.float32) * 2 - 1
    return (query.n_bits - a @ b.T) / 2


#: (query kind, database kind) -> the in-loop distance; other pairs go to the eval rankers
_TORCH_DISTANCES = {
    (CodeKind.FLOAT, CodeKind.FLOAT): _cosine,
    (CodeKind.FLOAT, CodeKind.PQ): _adc,
    (CodeKind.BINARY, CodeKind.BINARY): _hamming,
}


def map_all_from_distances(dist: np.ndarray, query_labels: np.ndarray, database_labels: np.ndarray,
                           chunk: int = 256) -> float:
    """mAP@all from distances ``[nq, nd]`` and multi-hot labels ``[nq, C]``, ``[nd, C]``."""
    import torch

    d = torch.as_tensor(np.asarray(dist, dtype=np.float32))
    yq = torch.as_tensor(np.asarray(query_labels, dtype=np.float32))
    yd = torch.as_tensor(np.asarray(database_labels, dtype=np.float32))
    ranks = torch.arange(1, d.shape[1] + 1, dtype=torch.float32)
    total = 0.0
    for s in range(0, d.shape[0], chunk):
        order = torch.sort(d[s : s + chunk], dim=1, stable=True).indices
        rel = ((yq[s : s + chunk] @ yd.T) > 0).float()
        rel = torch.gather(rel, 1, order)
        hits = rel.cumsum(1)
        n_rel = rel.sum(1)
        ap = (rel * hits / ranks).sum(1) / n_rel.clamp(min=1)
        total += float(ap.double().sum())
    return total / max(d.shape[0], 1)


def retrieval_map(method, features, query_idx: np.ndarray, db_idx: np.ndarray) -> dict[str, float]:
    """``{"i2t", "t2i", "mean"}`` mAP@all of ``method`` on the given query / database rows."""
    return _both_directions(method, features, query_idx, db_idx, features.labels[query_idx], features.labels[db_idx])


def _code_distances(method, features, query_idx: np.ndarray, db_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances ``[nq, nd]`` of ``method``'s codes, image->text and text->image, encoded as at search time."""
    i2t = encoded_distances(method.encode("image", features.image[query_idx], "query"),
                            method.encode("text", features.text[db_idx], "database"))
    t2i = encoded_distances(method.encode("text", features.text[query_idx], "query"),
                            method.encode("image", features.image[db_idx], "database"))
    return i2t, t2i


def _both_directions(method, features, query_idx: np.ndarray, db_idx: np.ndarray, yq: np.ndarray,
                     yd: np.ndarray) -> dict[str, float]:
    """``{"i2t", "t2i", "mean"}`` mAP@all of ``method``'s codes, relevance from ``yq`` ``[nq, L]`` / ``yd`` ``[nd, L]``."""
    i2t, t2i = (map_all_from_distances(d, yq, yd) for d in _code_distances(method, features, query_idx, db_idx))
    return {"i2t": i2t, "t2i": t2i, "mean": 0.5 * (i2t + t2i)}


def top_k_overlap(dist: np.ndarray, reference: np.ndarray, k: int = 10, chunk: int = 256) -> float:
    """Mean over queries of ``|top-k by dist  &  top-k by reference| / k``, both ``[nq, nd]`` (lower = closer).

    Equals the mean precision@k of ``dist`` when the relevant items are the ``k`` first of ``reference``.
    Ties are broken by database index (stable sort), as in :func:`map_all_from_distances`; ``k`` is capped
    at ``nd``. 0 for no query.
    """
    import torch

    if k < 1:
        raise ValueError(f"top_k_overlap: k must be >= 1, got {k}")
    d = torch.as_tensor(np.asarray(dist, dtype=np.float32))
    r = torch.as_tensor(np.asarray(reference, dtype=np.float32))
    if d.shape != r.shape:
        raise ValueError(f"top_k_overlap: distances {tuple(d.shape)} and reference {tuple(r.shape)} differ in shape")
    k = min(k, d.shape[1])
    total = 0.0
    for s in range(0, d.shape[0], chunk):
        mine = torch.sort(d[s : s + chunk], dim=1, stable=True).indices[:, :k]
        theirs = torch.sort(r[s : s + chunk], dim=1, stable=True).indices[:, :k]
        hit = torch.zeros_like(d[s : s + chunk]).scatter_(1, mine, 1.0)
        total += float(hit.gather(1, theirs).sum(1).double().sum()) / k
    return total / max(d.shape[0], 1)


def teacher_fidelity(method, features, query_idx: np.ndarray, db_idx: np.ndarray, k: int = 10) -> dict[str, float]:
    """``{"i2t", "t2i", "mean"}``: :func:`top_k_overlap` of ``method``'s codes with the float teacher's cosines
    (``features.image`` ``[n, D]`` vs ``features.text`` ``[n, D]``), each query row against the database rows.
    Reads no labels."""
    from distilhash.codes import Encoded

    def teacher(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _cosine(Encoded("float", a, 32 * a.shape[1]), Encoded("float", b, 32 * b.shape[1]))

    codes = _code_distances(method, features, query_idx, db_idx)
    refs = (teacher(features.image[query_idx], features.text[db_idx]), teacher(features.text[query_idx], features.image[db_idx]))
    i2t, t2i = (top_k_overlap(c, r, k) for c, r in zip(codes, refs))
    return {"i2t": i2t, "t2i": t2i, "mean": 0.5 * (i2t + t2i)}


def val_map(method, features, split) -> dict[str, float]:
    """mAP@all on ``split.val`` queries against the ``split.fit`` database (model selection only)."""
    return retrieval_map(method, features, split.val, split.fit)


def pair_mrr(method, features, idx: np.ndarray) -> dict[str, float]:
    """``{"i2t", "t2i", "mean"}`` mean reciprocal rank of each item's own partner among the rows ``idx``
    (image -> caption and caption -> image; no labels: AP with one relevant item is 1 / its rank)."""
    own = np.eye(len(idx), dtype=np.float32)
    return _both_directions(method, features, idx, idx, own, own)


def val_teacher_fidelity(method, features, split, k: int = 10) -> dict[str, float]:
    """:func:`teacher_fidelity` of the ``split.val`` queries against the ``split.fit`` database (model selection only)."""
    return teacher_fidelity(method, features, split.val, split.fit, k)
