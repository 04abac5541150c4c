"""Plots of retrieval reports: precision-recall curves and precision@N curves (matplotlib, Agg).

Every function takes ``{label: RetrievalReport}`` (one line per label) and writes a PNG; figures
are built with :class:`matplotlib.figure.Figure` directly, so no GUI backend and no pyplot
global state are involved.

Example:
    >>> from distilhash.eval.plots import plot_directions        # doctest: +SKIP
    >>> plot_directions({"i2t": {"lsh-64": r1, "itq-64": r2}, "t2i": {...}}, "bench/results/x.png")
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from distilhash.eval.metrics import RetrievalReport

__all__ = ["plot_pr", "plot_precision_at", "plot_directions"]


def _figure(n_cols: int, n_rows: int = 1):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.0 * n_cols, 4.0 * n_rows))  # no constrained layout: it dominates drawing time
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols)).ravel()
    fig.subplots_adjust(left=0.08 / n_cols * 2, right=0.98, bottom=0.12 / n_rows, top=1 - 0.1 / n_rows, wspace=0.25, hspace=0.35)
    return fig, axes


def draw_pr(ax, reports: Mapping[str, RetrievalReport], title: str = "") -> None:
    """Precision (y) against recall (x) on ``ax``; the legend says whether points are radii or depths."""
    for label, rep in reports.items():
        prec, rec = rep.pr_curve
        if len(prec) == 0:
            continue
        style = "o-" if rep.pr_axis == "hamming_radius" else ".-"
        if rep.pr_axis == "hamming_radius" and rep.pr_support is not None:
            keep = rep.pr_support > 0  # radii that retrieve nothing have no precision
            prec, rec = prec[keep], rec[keep]
        ax.plot(rec, prec, style, ms=3, lw=1.2, label=f"{label} ({'radius' if rep.pr_axis == 'hamming_radius' else 'depth'})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title or "precision-recall")
    ax.legend(fontsize=7)


def draw_precision_at(ax, reports: Mapping[str, RetrievalReport], title: str = "") -> None:
    """precision@N (y) against N (x, log scale) on ``ax``."""
    for label, rep in reports.items():
        n, p = rep.precision_curve
        if len(n) == 0:
            continue
        ax.plot(n, p, ".-", ms=3, lw=1.2, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("N (retrieved items)")
    ax.set_ylabel("precision@N")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title or "precision@N")
    ax.legend(fontsize=7)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def plot_pr(reports: Mapping[str, RetrievalReport], path: str | Path, title: str = "") -> Path:
    """PR curves of ``reports`` (one line each) written to ``path`` (PNG)."""
    fig, axes = _figure(1)
    draw_pr(axes[0], reports, title)
    return _save(fig, path)


def plot_precision_at(reports: Mapping[str, RetrievalReport], path: str | Path, title: str = "") -> Path:
    """precision@N curves of ``reports`` written to ``path`` (PNG)."""
    fig, axes = _figure(1)
    draw_precision_at(axes[0], reports, title)
    return _save(fig, path)


def plot_directions(by_direction: Mapping[str, Mapping[str, RetrievalReport]], path: str | Path, title: str = "") -> Path:
    """A grid: one row per direction (e.g. ``i2t``, ``t2i``), PR curve left, precision@N right."""
    rows = list(by_direction)
    fig, axes = _figure(2, max(1, len(rows)))
    for i, direction in enumerate(rows):
        draw_pr(axes[2 * i], by_direction[direction], f"{direction}: precision-recall")
        draw_precision_at(axes[2 * i + 1], by_direction[direction], f"{direction}: precision@N")
    if title:
        fig.suptitle(title)
        fig.subplots_adjust(top=1 - 0.14 / max(1, len(rows)))
    return _save(fig, path)
