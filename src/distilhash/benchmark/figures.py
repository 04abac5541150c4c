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

__all__ = ["figure", "captioned_samples", "label_frequency_bars", "latency_bars"]


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


def captioned_samples(path: str | Path, ds: Any, items: Any, title: str, *, label_text: Any = None,
                      widths: tuple[int, int] = (34, 38), figsize: tuple[float, float] = (12, 11.5),
                      interpolation: str | None = None) -> None:
    """A 3 x 4 sheet of dataset items (``items``: 12 row indices): each image under the first three
    wrapped lines of its text (``widths[0]`` characters) and two of its ``[labels]`` (``widths[1]``;
    each label name through ``label_text``), saved at 80 dpi as ``path``."""
    import textwrap

    import numpy as np

    label_text = label_text or (lambda name: name)
    with figure(path, 3, 4, figsize=figsize, dpi=80, tight=False) as (fig, axes):
        for ax, i in zip(axes.ravel(), items):
            ax.imshow(ds.images.pixels[i], interpolation=interpolation)
            ax.set_axis_off()
            labels = ", ".join(label_text(ds.label_names[j]) for j in np.flatnonzero(ds.labels[i]))
            ax.set_title("\n".join(textwrap.wrap(ds.texts[i], widths[0])[:3]) + "\n["
                         + "\n".join(textwrap.wrap(labels, widths[1])[:2]) + "]", fontsize=8)
        fig.suptitle(title, fontsize=11)
        fig.tight_layout(rect=(0, 0, 1, 0.97))


def label_frequency_bars(ax: Any, ds: Any, xlabel: str) -> None:
    """Bars of every label's share of the items of ``ds``, most frequent first, on ``ax``."""
    import numpy as np

    freq = np.sort(ds.labels.sum(0))[::-1]
    ax.bar(np.arange(len(freq)), freq / len(ds), width=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of items")
    ax.set_title(f"{ds.name}: label frequencies")


def latency_bars(ax: Any, summaries: list[dict[str, Any]], ticks: list[str], goal_ms: float, goal_label: str) -> None:
    """p50 and p99 bars of latency summaries (``p50_ms`` / ``p99_ms``; None drawn as 0) on a log axis, the goal dashed."""
    import numpy as np

    pos = np.arange(len(summaries))
    for off, key in ((-0.2, "p50_ms"), (0.2, "p99_ms")):
        ax.bar(pos + off, [s.get(key) or 0 for s in summaries], 0.4, label=key[:-3])
    ax.axhline(goal_ms, color="red", lw=1, ls="--", label=goal_label)
    ax.set_xticks(pos, ticks)
    ax.set_yscale("log")
    ax.set_ylabel("client latency (ms)")
    ax.legend()
