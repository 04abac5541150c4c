"""Tuning the static table on the training captions, kept only when it wins on ``split.val``.

model2vec's table holds one vector per subword, read from the tower on that subword *alone*; a
caption's static features are their normalised sum. On captions that list many things (EmojiScenes:
"family: woman, woman, girl and hot beverage") the sum weighs words differently from the tower,
and no linear map after the sum can fix that (the ridge map alone: 0.987x the tower's text->image
mAP@all). Here the table rows and the map are trained together on the ``split.fit`` captions
against their teacher text features (mean cosine, Adam, mini-batches), starting from the model2vec
table and a ridge map fitted on the same captions::

    f(x) = normalize(normalize(sum_t E[ids_t]) W + b)       E [V, d], W [d, D], b [D]   (all trained)

After each epoch the caption features of ``split.val`` are scored by a caller-given function
(the pipeline: text->image mAP@all of the ``split.val`` captions against the ``split.fit`` images
through the teacher's image features). The epoch with the highest score wins, **epoch 0 (no
tuning) included**: a tuning that does not beat the untuned encoder on ``split.val`` is dropped
(openclipart: 2,000 fit captions, the score falls from the first epoch, nothing is kept). The
query set is never used. The encoder format does not change (a table and a map).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TuneData", "tune_static_table"]


@dataclass
class TuneData:
    """What tuning trains on and is selected by.

    Attributes:
        fit_texts: the captions trained on (``split.fit``), ``n`` of them.
        fit_targets: their teacher text features, float ``[n, D]``.
        val_texts: the captions scored after each epoch (``split.val``).
        val_score: ``features float32 [n_val, D] -> float``, higher is better (the pipeline: mAP@all).
        description: what ``val_score`` measures (goes into the report and the fingerprint).
        fingerprint: identifies the data behind ``val_score`` (e.g. the split and the teacher features).
    """

    fit_texts: Sequence[str]
    fit_targets: np.ndarray
    val_texts: Sequence[str]
    val_score: Callable[[np.ndarray], float]
    description: str
    fingerprint: str = ""


def _flat(ids: list[list[int]], rows: np.ndarray):
    import torch

    flat, offsets = [], []
    for i in rows:
        offsets.append(len(flat))
        flat.extend(ids[i])
    return torch.tensor(flat, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)


def tune_static_table(table: np.ndarray, weights: np.ndarray, bias: np.ndarray, fit_ids: list[list[int]],
                      val_ids: list[list[int]], data: TuneData, *, epochs: int, lr: float, batch: int,
                      seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Train ``E, W, b`` on the fit captions for up to ``epochs`` epochs; keep the epoch ``data.val_score`` likes best.

    Args:
        table: the model2vec table float32 ``[V, d]``; weights ``[d, D]``, bias ``[D]``: the start map.
        fit_ids / val_ids: subword ids per fit / val caption (the encoder's ``token_ids``).
    Returns:
        The chosen table, weights, bias (the inputs themselves when epoch 0 wins) and a report
        (``epoch`` chosen, ``val_scores`` per epoch from 0, settings).
    """
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # only the rows the captions use take part (the others would get no gradient): ids renumbered into them
    used = np.unique(np.fromiter((i for ids in (*fit_ids, *val_ids) for i in ids), np.int64))
    where = np.zeros(len(table), np.int64)
    where[used] = np.arange(len(used))
    fit_ids = [where[np.asarray(ids, np.int64)].tolist() for ids in fit_ids]
    val_ids = [where[np.asarray(ids, np.int64)].tolist() for ids in val_ids]
    e = torch.nn.Parameter(torch.tensor(table[used], dtype=torch.float32))
    w = torch.nn.Parameter(torch.tensor(weights, dtype=torch.float32))
    b = torch.nn.Parameter(torch.tensor(bias, dtype=torch.float32))
    y = torch.tensor(np.asarray(data.fit_targets, np.float32))
    y = y / y.norm(dim=1, keepdim=True).clamp_min(1e-12)
    val_flat, val_off = _flat(val_ids, np.arange(len(val_ids)))

    def forward(flat, offsets):
        s = torch.nn.functional.embedding_bag(flat, e, offsets, mode="sum")
        s = s / s.norm(dim=1, keepdim=True).clamp_min(1e-12)
        out = s @ w + b
        return out / out.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def score() -> float:
        with torch.no_grad():
            return float(data.val_score(forward(val_flat, val_off).numpy()))

    scores = [score()]
    best = (scores[0], 0, table, weights, bias)
    opt = torch.optim.Adam([e, w, b], lr=lr)
    from tqdm.auto import tqdm

    bar = tqdm(range(1, epochs + 1), desc="static table tuning", leave=False)
    for epoch in bar:
        perm = rng.permutation(len(fit_ids))
        for start in range(0, len(perm), batch):
            rows = perm[start:start + batch]
            f = forward(*_flat(fit_ids, rows))
            loss = 1.0 - (f * y[rows]).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        scores.append(score())
        bar.set_postfix(val=f"{scores[-1]:.4f}", best=f"{max(scores):.4f}")
        if scores[-1] > best[0]:
            tuned = np.array(table, np.float32, copy=True)
            tuned[used] = e.detach().numpy()
            best = (scores[-1], epoch, tuned, w.detach().numpy().copy(), b.detach().numpy().copy())
    _, epoch, t, wt, bt = best
    report = {"epoch": epoch, "val_scores": [round(s, 5) for s in scores], "val_metric": data.description,
              "kept": epoch > 0, "epochs": epochs, "lr": lr, "batch": batch, "seed": seed,
              "n_fit": len(fit_ids), "n_val": len(val_ids), "rows_tuned": int(len(used)),
              "rule": "epoch with the highest split.val score, epoch 0 (the untuned encoder) included"}
    return (np.ascontiguousarray(t, np.float32), np.ascontiguousarray(wt, np.float32),
            np.ascontiguousarray(bt, np.float32), report)
