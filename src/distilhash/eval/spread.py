"""One spread convention for every reported figure: the sample standard deviation (ddof = 1).

A spread over runs (method seeds, teacher fits, splits) estimates how much a re-run would move
the figure, so it uses the unbiased-variance form ``sqrt(sum (x - mean)^2 / (n - 1))``; with one
run there is no spread (``None``), never 0.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["sample_std", "mean_std", "STD_CONVENTION"]

#: How reports name the convention.
STD_CONVENTION = "sample std (ddof=1)"


def sample_std(values: Iterable[float]) -> float | None:
    """Sample standard deviation (ddof=1) of ``values``; None for fewer than two values."""
    v = np.asarray(list(values), dtype=np.float64)
    return float(v.std(ddof=1)) if v.size >= 2 else None


def mean_std(values: Iterable[float]) -> dict[str, float | int | None]:
    """``{"mean", "std" (sample, None below two values), "n"}`` of ``values``."""
    v = np.asarray(list(values), dtype=np.float64)
    return {"mean": float(v.mean()) if v.size else float("nan"), "std": sample_std(v), "n": int(v.size)}
