"""One SODA stage on the shared training loop (:mod:`distilhash.training`).

Each epoch shuffles the fit rows (seeded), runs ``step(batch_indices) -> dict of named loss
terms`` (with a ``total``) over mini-batches and an Adam step each; then
:func:`distilhash.training.loop.run_epochs` scores the epoch with ``evaluate() -> float`` on the
validation part (higher is better), keeps the best state, stops after ``patience`` evaluations
without improvement, and restores the best epoch. Returns the loop's ``fit_info`` (kept epoch and
why, stop reason, per-epoch history, seconds) plus the selection criterion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from distilhash.methods.soda.config import StageConfig
from distilhash.training.batches import minibatches
from distilhash.training.loop import LoopConfig, run_epochs
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
) -> dict[str, Any]:
    """Train the parameters of ``modules`` (restored to their best epoch on return)."""
    model = torch.nn.ModuleDict(modules)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def train_epoch(epoch: int) -> dict[str, float]:
        meter = TermMeter()
        for idx in minibatches(n_items, cfg.batch_size, rng, drop_last=False):
            if len(idx) < 2:
                continue
            terms = step(idx)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            opt.step()
            meter.add(terms)
        return meter.means()

    loop = LoopConfig(epochs=cfg.epochs, patience=cfg.patience, min_delta=cfg.min_delta, progress=progress, desc=desc)
    result = run_epochs(model, train_epoch, evaluate, loop)
    return {**result.fit_info(), "select_on": cfg.select_on}
