"""Before/after in one run: the same benchmark against several source trees, interleaved.

On a shared machine the load changes from minute to minute, so a "before" run now and an "after"
run later compare two machines. A benchmark that starts the code it measures in a subprocess (a
server) can instead take ``--variant LABEL=SRC`` (``SRC``: a directory holding the ``distilhash``
package, e.g. ``git archive COMMIT src | tar -x -C DIR`` gives ``DIR/src``) and run every variant
in every round, the order reversed in every other round (A B, B A, A B, ...) so that a drift in
load favours neither. :func:`summarise` gives the mean and sample standard deviation per variant.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Variant", "parse_variant", "interleaved", "summarise"]


@dataclass(frozen=True)
class Variant:
    """A label and the source directory (``None``: this process's own ``distilhash``) a subprocess runs."""

    label: str
    src: Path | None = None

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The subprocess environment: ``src`` first on ``PYTHONPATH`` (unchanged without ``src``)."""
        env = dict(os.environ if base is None else base)
        if self.src is not None:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.src), env.get("PYTHONPATH", "")) if p)
        return env

    def describe(self) -> dict[str, Any]:
        """``{"label", "src", "commit", "dirty"}``: the git commit of ``src`` when it is in a work tree."""
        out: dict[str, Any] = {"label": self.label, "src": str(self.src) if self.src else None, "commit": None, "dirty": None}
        where = self.src or Path(__file__).resolve().parents[2]
        try:
            out["commit"] = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                                           check=True).stdout.strip()
            status = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--", "."], capture_output=True,
                                    text=True, check=True).stdout
            out["dirty"] = bool(status.strip())
        except (OSError, subprocess.CalledProcessError):
            pass  # not a git work tree (an exported commit): its label says which
        return out


def parse_variant(text: str) -> Variant:
    """``LABEL=SRC_DIR`` -> :class:`Variant`; ValueError naming what is wrong."""
    label, sep, src = text.partition("=")
    if not sep or not label.strip() or not src.strip():
        raise ValueError(f"--variant {text!r}: expected LABEL=SRC_DIR")
    path = Path(src).expanduser().resolve()
    if not (path / "distilhash" / "__init__.py").is_file():
        raise ValueError(f"--variant {text!r}: {path} holds no distilhash package (expected {path}/distilhash/__init__.py)")
    return Variant(label.strip(), path)


def interleaved(variants: list[Variant], rounds: int) -> list[tuple[int, Variant]]:
    """``(round, variant)`` in run order: every variant once per round, every other round reversed."""
    order = []
    for r in range(max(1, int(rounds))):
        order += [(r, v) for v in (variants if r % 2 == 0 else variants[::-1])]
    return order


def summarise(runs: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Any],
              fields: dict[str, Callable[[dict[str, Any]], float | None]]) -> list[dict[str, Any]]:
    """Per ``key(run)`` (e.g. (scenario, variant)), in first-seen order: ``n`` and for each field its
    ``mean`` and sample ``std`` (ddof=1; None with one run) over the runs."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    out = []
    for k, group in groups.items():
        row: dict[str, Any] = {"key": k, "n": len(group)}
        for name, get in fields.items():
            vals = np.array([v for v in (get(g) for g in group) if v is not None], float)
            row[name] = {"mean": round(float(vals.mean()), 4) if len(vals) else None,
                         "std": round(float(vals.std(ddof=1)), 4) if len(vals) > 1 else None}
        out.append(row)
    return out
