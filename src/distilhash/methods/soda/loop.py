"""A small epoch loop with validation-based early stopping (torch), used by both SODA stages.

Each epoch: shuffle the fit rows, run ``step(batch_indices) -> dict of named loss terms`` (with a
``total``) over mini-batches, then score on the validation part with ``evaluate() -> float``
(higher is better). The state of the best-scoring epoch is kept; training stops after
``patience`` evaluations without improvement or after ``epochs`` epochs. Returns what happened
(kept epoch, why it stopped, per-epoch history, seconds) for ``fit_info_``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from distilhash.methods.soda.config import StageConfig

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
    from tqdm.auto import tqdm

    params = [p for m in modules.values() for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    best_score, best_epoch, since_best = -np.inf, 0, 0
    best_state = {k: copy.deepcopy(m.state_dict()) for k, m in modules.items()}
    history: list[dict[str, float]] = []
    stop_reason = f"reached the maximum of {cfg.epochs} epochs"
    start = time.perf_counter()
    bar = tqdm(range(1, cfg.epochs + 1), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        for m in modules.values():
            m.train()
        perm = rng.permutation(n_items)
        sums: dict[str, float] = {}
        n_steps = 0
        for lo in range(0, n_items, cfg.batch_size):
            idx = perm[lo : lo + cfg.batch_size]
            if len(idx) < 2:
                continue
            terms = step(idx)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            opt.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            n_steps += 1
        for m in modules.values():
            m.eval()
        score = float(evaluate())
        record = {"epoch": epoch, "val": score, **{k: v / max(n_steps, 1) for k, v in sums.items()}}
        history.append(record)
        bar.set_postfix(val=f"{score:.4f}", loss=f"{record.get('total', float('nan')):.4f}")
        if score > best_score:
            best_score, best_epoch, since_best = score, epoch, 0
            best_state = {k: copy.deepcopy(m.state_dict()) for k, m in modules.items()}
        else:
            since_best += 1
            if since_best >= cfg.patience:
                stop_reason = f"no better validation score for {cfg.patience} epochs"
                break
    bar.close()
    for k, m in modules.items():
        m.load_state_dict(best_state[k])
        m.eval()
    return {
        "kept_epoch": best_epoch,
        "val_score": best_score,
        "select_on": cfg.select_on,
        "epochs_run": len(history),
        "stop_reason": stop_reason,
        "seconds": time.perf_counter() - start,
        "history": history,
    }
