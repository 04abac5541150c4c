"""Finite-value checks for feature matrices: a NaN or infinite row is an error naming the rows.

A NaN row fed to a method does not fail by itself: ``sign(NaN)`` packs to all-zero bits, so the
item is stored with code ``00 00 ...`` and silently matches nothing in particular. Every reader
of features (the feature cache, the baselines' ``fit`` / ``encode``, ``index build``) calls
:func:`require_finite_rows` instead.

Example:
    >>> import numpy as np
    >>> bad_rows(np.array([[1.0, 0.0], [np.nan, 1.0], [0.0, np.inf]], np.float32)).tolist()
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from distilhash.errors import FeatureError

__all__ = ["bad_rows", "require_finite_rows", "describe_rows"]


def bad_rows(x: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """int64 indices of the rows of a 2-D array ``[N, D]`` holding a NaN or an infinity (read in chunks)."""
    x = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if x.ndim != 2:
        raise FeatureError(f"expected a 2-D feature array [N, D], got shape {x.shape}")
    if x.dtype.kind not in "fc":
        return np.zeros(0, np.int64)
    found = [start + np.flatnonzero(~np.isfinite(x[start:start + chunk]).all(axis=1))
             for start in range(0, x.shape[0], chunk)]
    return np.concatenate(found).astype(np.int64) if found else np.zeros(0, np.int64)


def describe_rows(numbers: Sequence[int], ids: Sequence[str] | None = None, limit: int = 5) -> str:
    """``"rows 3 (id a), 17 (id b) (+4 more)"``: row numbers with, optionally, the id of each."""
    shown = [f"{int(r)}" + (f" (id {ids[k]})" if ids is not None else "") for k, r in enumerate(numbers[:limit])]
    more = f" (+{len(numbers) - limit} more)" if len(numbers) > limit else ""
    return ("row " if len(numbers) == 1 else "rows ") + ", ".join(shown) + more


def require_finite_rows(x: np.ndarray, what: str, ids: Sequence[str] | None = None,
                        row_numbers: np.ndarray | None = None) -> None:
    """Raise FeatureError naming ``what`` and the offending rows unless every value of ``x`` is finite.

    Args:
        x: ``[N, D]`` features.
        what: the thing named in the message, e.g. ``"features/photos__minilm-lit/image.npy"``.
        ids: item ids of the rows of ``x`` (named in the message).
        row_numbers: the dataset row of each row of ``x`` when ``x`` is a subset (named instead of 0..N-1).
    """
    rows = bad_rows(x)
    if rows.size == 0:
        return
    numbers = rows if row_numbers is None else np.asarray(row_numbers, dtype=np.int64)[rows]
    named_ids = None if ids is None else [ids[int(r)] for r in rows[:5]]
    raise FeatureError(f"{what}: {len(rows)} of {x.shape[0]} rows hold NaN or infinite values "
                       f"({describe_rows(numbers.tolist(), named_ids)}); expected finite features — "
                       "extract them again or fix the file")
