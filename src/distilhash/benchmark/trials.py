"""The fault-trial harness: repeated trials, each in a fresh directory with the load before it, and
their spread as text.

The node-loss and failover benchmarks (``bench/node_loss.py``: ``extraction``, ``fanout``,
``serve``) each run a number of independent trials of one experiment (start
a cluster, kill a node, count what went wrong); this module is that loop, once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_trials", "mean_std_text"]


def run_trials(n: int, trial: Callable[[int, Path], dict[str, Any]], show: Sequence[str] = (), *, base: Path | None = None,
               catch: bool = False, load: Callable[[], Any] | None = None) -> list[dict[str, Any]]:
    """``trial(i, directory)`` for i in 0..n-1, each in its own new directory (under ``base``, or a
    temporary directory removed afterwards); ``load_before`` (the load average) is added to every
    record and the ``show`` keys are printed per trial. With ``catch``, a trial that raises is
    recorded as ``{"error": "Type: message"}`` instead of ending the run (a trial that could not run
    is reported, not hidden)."""
    from distilhash.benchmark.provenance import load_average

    load = load or load_average
    out: list[dict[str, Any]] = []

    def loop(root: Path) -> None:
        for i in range(n):
            before = load()
            try:
                rec = trial(i, root / f"t{i}")
            except Exception as exc:  # noqa: BLE001 - only with catch; re-raised otherwise
                if not catch:
                    raise
                rec = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            rec["load_before"] = before
            out.append(rec)
            print(i, {k: rec.get(k) for k in show}, flush=True)

    if base is not None:
        loop(Path(base))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            loop(Path(tmp))
    return out


def mean_std_text(values: Iterable[float], digits: int = 1) -> str:
    """``"mean ± sample std"`` of ``values`` with ``digits`` decimals (std 0 for one value; ``nan ± 0`` for none)."""
    v = np.asarray(list(values), float)
    if not len(v):
        return f"nan ± {0:.{digits}f}"
    std = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    return f"{float(np.mean(v)):.{digits}f} ± {std:.{digits}f}"
