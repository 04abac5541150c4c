"""The plots of benchmark results: one figure, drawn in a ``with`` block, saved when it ends.

Usage::

    with figure(path, 1, 2, figsize=(11, 4), sharey=True) as (fig, axes):
        axes[0].plot(...)

The figure is a :class:`matplotlib.figure.Figure` (no pyplot state, nothing to close, no display
needed); on leaving the block it is laid out (``tight_layout`` unless ``tight=False``) and written
as PNG at ``dpi``. Nothing is written when the block raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["figure"]


@contextmanager
def figure(path: str | Path, nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (6, 4), dpi: int = 110,
           tight: bool = True, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """``(fig, axes)`` of an ``nrows x ncols`` grid (``axes`` as ``Figure.subplots`` returns it), saved to ``path``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, **subplots)
    yield fig, axes
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
