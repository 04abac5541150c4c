"""The generic epoch loop: train, validate, early-stop on the validation score, restore the best.

Usage::

    result = run_epochs(model, train_epoch=lambda epoch: {"loss": ...},
                        validate=lambda: val_score, config=LoopConfig(epochs=50))
    method.fit_info_.update(result.fit_info())

``train_epoch(epoch) -> dict of named mean loss terms``; ``validate() -> float`` (higher is
better; e.g. mean validation mAP on ``split.val``). The model's ``state_dict`` at the best
validation is restored at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distilhash.training.early_stopping import EarlyStopping
from distilhash.training.progress import progress

__all__ = ["LoopConfig", "LoopResult", "run_epochs"]


@dataclass(frozen=True)
class LoopConfig:
    """Epoch budget and early stopping.

    Attributes:
        epochs: maximum number of epochs.
        eval_every: validate every this many epochs (and after the last one).
        patience: stop after this many validations without improvement (0: never stop early).
        min_delta: improvement needed to count as better.
        progress: show a progress bar (None: ``$DISTILHASH_PROGRESS``).
        desc: progress bar label.
    """

    epochs: int = 50
    eval_every: int = 1
    patience: int = 5
    min_delta: float = 1e-4
    progress: bool | None = None
    desc: str = "train"


@dataclass
class LoopResult:
    """What happened: the kept epoch, why, and the per-epoch history."""

    best_epoch: int
    best_score: float
    epochs_run: int
    stop_reason: str
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)

    def fit_info(self) -> dict[str, Any]:
        """A JSON-ready summary for ``method.fit_info_``."""
        return {
            "kept_epoch": self.best_epoch,
            "kept_because": f"highest validation score ({self.best_score:.4f}) on split.val",
            "best_val_score": self.best_score,
            "epochs_run": self.epochs_run,
            "stop_reason": self.stop_reason,
            "train_seconds": self.seconds,
            "history": self.history,
        }


def run_epochs(model, train_epoch: Callable[[int], dict[str, float]], validate: Callable[[], float],
               config: LoopConfig = LoopConfig()) -> LoopResult:
    """Run the loop described in the module docstring on a torch ``model`` (a ``nn.Module``)."""
    t0 = time.perf_counter()
    stopper = EarlyStopping(config.patience, config.min_delta)
    history: list[dict[str, Any]] = []
    reason = f"epoch budget ({config.epochs}) exhausted"
    bar = progress(range(1, config.epochs + 1), desc=config.desc, enabled=config.progress)
    epoch = 0
    for epoch in bar:
        model.train()
        terms = train_epoch(epoch)
        row: dict[str, Any] = {"epoch": epoch, **{k: round(float(v), 6) for k, v in terms.items()}}
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            model.eval()
            score = float(validate())
            row["val"] = round(score, 6)
            stop = stopper.update(epoch, score, {k: v.detach().clone() for k, v in model.state_dict().items()})
            bar.set_postfix(loss=f"{terms.get('total', float('nan')):.4f}", val=f"{score:.4f}",
                            best=f"{stopper.best_score:.4f}@{stopper.best_epoch}")
            history.append(row)
            if stop:
                reason = f"no validation improvement > {config.min_delta} in {config.patience} validations"
                break
        else:
            history.append(row)
    bar.close()
    if stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)
    model.eval()
    return LoopResult(stopper.best_epoch, stopper.best_score, epoch, reason, time.perf_counter() - t0, history)

