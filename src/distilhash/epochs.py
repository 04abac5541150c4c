"""The one epoch loop of the library: train, validate, early-stop on the validation score, restore the best.

A foundation module (no model, no torch import at module level): methods, students and the
teachers' own fits (``teachers/lit_fit.py``, ``lite0_fit.py``, ``lite0_tune_fit.py``,
``lite0_text_fit.py``; the last two keep their warm start as epoch 0 with ``validate_start``) all
train through it.

Usage::

    result = run_epochs(model, train_epoch=lambda epoch: {"loss": ...},
                        validate=lambda: val_score, config=LoopConfig(epochs=50))
    method.fit_info_.update(result.fit_info())

``train_epoch(epoch) -> dict of named mean loss terms`` (epochs count from 1; ``None``: the epoch
ran no step, e.g. a time budget ran out before it, and the loop ends without validating it);
``validate() -> float`` (higher is better; e.g. mean validation mAP on ``split.val``; a loss
``l`` is validated as ``-l``). The model's ``state_dict`` at the best validation is restored at
the end. ``validate=None`` runs the epochs without validation or restore (a warm-up).
``should_stop(epoch) -> reason or None``, asked after each epoch, ends the loop early for a
reason of the caller's (a wall-clock budget). The loop is the only epoch loop in the library:
methods, teachers and students all train through it.

Every run reports its training budget in one schema (:func:`budget_info`, stored as
``fit_info_["budget"]`` and copied into every run record): the cap, the epochs run, the kept
epoch and whether training stopped on its own (``stopped_early``) or hit the cap. A run that
hits the cap is not known to have converged; reports show the flag per row.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distilhash.progress import progress

__all__ = ["LoopConfig", "LoopResult", "run_epochs", "budget_info", "combine_budgets", "NO_BUDGET", "EarlyStopping"]

#: The budget of a method that is not trained by epochs (closed form, fixed iterations, no training).
NO_BUDGET: dict[str, Any] = {"unit": "none", "note": "not trained by epochs (closed form, fixed iterations or no training)",
                             "stopped_early": None}


def budget_info(cap: int, epochs_run: int, kept_epoch: int, stopped_early: bool | None, *, patience: int | None = None,
                unit: str = "epoch", warmup_epochs: int = 0, note: str = "") -> dict[str, Any]:
    """The budget record of one training run (the schema every method reports).

    Attributes of the dict: ``unit`` (what is counted), ``cap`` (most units allowed), ``patience``
    (validations without improvement before stopping; None: no early stopping), ``epochs_run``,
    ``kept_epoch`` (the restored state), ``stopped_early`` (True: stopped by patience before the
    cap; False: hit the cap; None: not applicable, e.g. one pass over a stream),
    ``warmup_epochs`` (extra epochs before the counted ones), ``epochs_total`` = warm-up + run.
    """
    return {"unit": unit, "cap": int(cap), "patience": patience, "epochs_run": int(epochs_run),
            "kept_epoch": int(kept_epoch), "stopped_early": stopped_early, "warmup_epochs": int(warmup_epochs),
            "epochs_total": int(warmup_epochs) + int(epochs_run), "selection": "split.val", **({"note": note} if note else {})}


def combine_budgets(stages: dict[str, dict[str, Any]], note: str = "") -> dict[str, Any]:
    """One budget for a method trained in stages: caps and epochs summed, ``stopped_early`` only if every
    stage stopped on its own (None if any stage has no early stopping); the stages kept under ``stages``."""
    flags = [b.get("stopped_early") for b in stages.values()]
    stopped = None if any(f is None for f in flags) else all(flags)
    out = budget_info(sum(b["cap"] for b in stages.values()), sum(b["epochs_run"] for b in stages.values()),
                      sum(b["kept_epoch"] for b in stages.values()), stopped,
                      unit=next(iter(stages.values()))["unit"] if stages else "epoch",
                      warmup_epochs=sum(b.get("warmup_epochs", 0) for b in stages.values()), note=note)
    out["kept_epoch_note"] = "sum of the stages' kept epochs"
    out["stages"] = stages
    return out


class EarlyStopping:
    """Track the best score; ``update`` returns True when training should stop.

    Stops when ``patience`` consecutive validations fail to improve the best score by more than
    ``min_delta``. ``best_state`` holds a deep copy of the state passed with the best score.
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best_score = float("-inf")
        self.best_epoch = -1
        self.best_state: Any = None
        self.bad = 0

    def update(self, epoch: int, score: float, state: Any) -> bool:
        if score > self.best_score + self.min_delta:
            self.best_score, self.best_epoch, self.bad = score, epoch, 0
            self.best_state = copy.deepcopy(state)
        else:
            self.bad += 1
        return self.patience > 0 and self.bad >= self.patience


@dataclass(frozen=True)
class LoopConfig:
    """Epoch budget and early stopping.

    Attributes:
        epochs: maximum number of epochs.
        eval_every: validate every this many epochs (and after the last one).
        patience: stop after this many validations without improvement (0: never stop early).
        min_delta: improvement needed to count as better.
        min_epochs: patience may stop the loop only from this epoch on.
        progress: show a progress bar (None: ``$DISTILHASH_PROGRESS``).
        desc: progress bar label.
        validate_start: also validate once before the first epoch; that state is epoch 0 and is kept
            unless an epoch scores higher (a warm start that training must beat).
    """

    epochs: int = 50
    eval_every: int = 1
    patience: int = 5
    min_delta: float = 1e-4
    min_epochs: int = 1
    progress: bool | None = None
    desc: str = "train"
    validate_start: bool = False


@dataclass
class LoopResult:
    """What happened: the kept epoch (-1: none validated), why, and the per-epoch history.

    ``stopped_early``: ended before the cap (patience, ``should_stop`` or an epoch without a step);
    ``by_patience``: ended by the patience rule (possibly at the cap)."""

    best_epoch: int
    best_score: float
    epochs_run: int
    stop_reason: str
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    cap: int = 0
    patience: int = 0
    stopped_early: bool = False
    by_patience: bool = False

    def kept_because(self) -> str:
        """Why :attr:`best_epoch` was kept; says so when every validation tied (nothing told the epochs apart)."""
        vals = {row["val"] for row in self.history if "val" in row}
        if len(vals) == 1 and sum("val" in row for row in self.history) > 1:
            return (f"every validation on split.val scored {self.best_score:.4f}, so nothing told the epochs apart "
                    "and the first was kept (an arbitrary choice)")
        return f"highest validation score ({self.best_score:.4f}) on split.val"

    def fit_info(self) -> dict[str, Any]:
        """A JSON-ready summary for ``method.fit_info_``."""
        return {
            "kept_epoch": self.best_epoch,
            "kept_because": self.kept_because(),
            "best_val_score": self.best_score,
            "epochs_run": self.epochs_run,
            "stop_reason": self.stop_reason,
            "train_seconds": self.seconds,
            "history": self.history,
            "budget": budget_info(self.cap, self.epochs_run, self.best_epoch, self.stopped_early,
                                  patience=self.patience or None),
        }


def run_epochs(model, train_epoch: Callable[[int], dict[str, float] | None], validate: Callable[[], float] | None,
               config: LoopConfig = LoopConfig(), should_stop: Callable[[int], str | None] | None = None) -> LoopResult:
    """Run the loop described in the module docstring on a torch ``model`` (a ``nn.Module``)."""
    t0 = time.perf_counter()
    stopper = EarlyStopping(config.patience, config.min_delta)
    history: list[dict[str, Any]] = []
    reason = f"epoch budget ({config.epochs}) exhausted"
    stopped_early = by_patience = False
    if validate is not None and config.validate_start:
        model.eval()
        score = float(validate())
        history.append({"epoch": 0, "val": round(score, 6)})
        stopper.update(0, score, {k: v.detach().clone() for k, v in model.state_dict().items()})
    bar = progress(range(1, config.epochs + 1), desc=config.desc, enabled=config.progress)
    epoch = 0
    for epoch in bar:
        model.train()
        terms = train_epoch(epoch)
        if terms is None:
            epoch -= 1
            reason, stopped_early = "no training step ran in the epoch", True
            break
        row: dict[str, Any] = {"epoch": epoch, **{k: round(float(v), 6) for k, v in terms.items()}}
        history.append(row)
        if validate is not None and (epoch % config.eval_every == 0 or epoch == config.epochs):
            model.eval()
            score = float(validate())
            row["val"] = round(score, 6)
            stop = stopper.update(epoch, score, {k: v.detach().clone() for k, v in model.state_dict().items()})
            bar.set_postfix(loss=f"{terms.get('total', float('nan')):.4f}", val=f"{score:.4f}",
                            best=f"{stopper.best_score:.4f}@{stopper.best_epoch}")
            if stop and epoch >= config.min_epochs:
                reason = f"no validation improvement > {config.min_delta} in {config.patience} validations"
                stopped_early, by_patience = epoch < config.epochs, True
                break
        own = should_stop(epoch) if should_stop is not None else None
        if own:
            reason, stopped_early = own, epoch < config.epochs
            break
    bar.close()
    if validate is not None:
        if stopper.best_state is not None:
            model.load_state_dict(stopper.best_state)
        model.eval()
    return LoopResult(stopper.best_epoch, stopper.best_score, epoch, reason, time.perf_counter() - t0, history,
                      cap=config.epochs, patience=config.patience, stopped_early=stopped_early, by_patience=by_patience)
