"""Keep the best model state by a validation score (higher is better)."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["EarlyStopping"]


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
