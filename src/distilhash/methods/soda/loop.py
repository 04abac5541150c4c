"""One SODA stage on the shared training loop (:mod:`distilhash.training`).

Each epoch shuffles the fit rows (seeded), runs ``step(batch_indices) -> dict of named loss
terms`` (with a ``total``) over mini-batches and an Adam step each; then
:func:`distilhash.epochs.run_epochs` scores the epoch with ``evaluate() -> float`` on the
validation part (higher is better), keeps the best state, stops after ``patience`` evaluations
without improvement, and restores the best epoch. Returns the loop's ``fit_info`` (kept epoch and
why, stop reason, per-epoch history, seconds) plus the selection criterion.

Data-parallel (``dp``, one of W replicas; see :mod:`distilhash.distributed.data_parallel`): every
replica draws the same minibatches ``idx`` (shared seeded ``rng``) and steps on its share
``idx[r::W]``; the gradients are averaged with one all-reduce before each Adam step,

    g = (1/W) sum_r grad L(idx[r::W]),

so the replicas take identical steps. A batch is skipped on every replica when a share would hold
fewer than 2 items (one process skips batches of fewer than 2). The terms SODA averages over items
or pairs (likelihood, alignment, quantization) become the mean of per-replica means; the in-batch
pairs of stage 1 are the (B/W)^2 pairs within each share, and the bit-balance term
``||mean_i h_i||^2`` (weight 0 by default) is taken per share. Stage 2 scores each share against the
same anchors of the fixed image codes (``step`` draws them from the shared ``rng``, once per step on
every replica). At the end of each epoch worker 0's weights are broadcast (the drift is recorded);
``evaluate`` runs on worker 0 and its score is shared, so early stopping agrees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from distilhash.methods.soda.config import StageConfig
from distilhash.training.batches import minibatches
from distilhash.epochs import LoopConfig, run_epochs
from distilhash.training.terms import TermMeter

__all__ = ["run_stage"]


def run_stage(
    modules: dict[str, torch.nn.Module],
    step: Callable[[np.ndarray], dict[str, torch.Tensor]],
    evaluate: Callable[[], float],
    n_items: int,
    cfg: StageConfig,
    rng: np.random.Generator,
    desc: str,
    progress: bool = True,
    dp: Any = None,
) -> dict[str, Any]:
    """Train the parameters of ``modules`` (restored to their best epoch on return).

    ``dp``: a :class:`~distilhash.distributed.data_parallel.DataParallel` when this process is one
    of W replicas (module docstring); None trains alone.
    """
    model = torch.nn.ModuleDict(modules)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    world = 1 if dp is None else dp.world
    if dp is not None:
        dp.fork_torch_rng()  # dropout masks differ between replicas; shared draws come from rng

    def train_epoch(epoch: int) -> dict[str, float]:
        meter = TermMeter()
        for idx in minibatches(n_items, cfg.batch_size, rng, drop_last=False):
            if len(idx) < 2 * world:  # the same decision on every replica
                continue
            terms = step(idx if dp is None else dp.local(idx))
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            if dp is not None:
                dp.average_gradients(model)
            opt.step()
            meter.add(terms)
        if dp is not None:
            dp.broadcast_model(model)
        return meter.means()

    def validate() -> float:
        if dp is None:
            return evaluate()
        return dp.share(evaluate() if dp.is_main else None)

    loop = LoopConfig(epochs=cfg.epochs, patience=cfg.patience, min_delta=cfg.min_delta, progress=progress, desc=desc)
    result = run_epochs(model, train_epoch, validate, loop)
    return {**result.fit_info(), "select_on": cfg.select_on}
