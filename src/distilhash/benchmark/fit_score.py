"""Fit one method and score it, timed: the single run of a bench script that compares a few configs
outside a suite (a suite's runs go through :func:`distilhash.benchmark.runner.execute_run`).

Usage::

    scored = fit_and_score(create_method("dcmq", n_bits=64), features, split, dataset=ds, curves=False)
    scored.reports["i2t"].map_all, scored.fit_seconds

The method is fitted on ``split.fit`` (model selection on ``split.val`` inside ``fit``) and scored
with :func:`distilhash.eval.metrics.evaluate_method` on ``part`` (``"query"``: ``split.query`` vs
``split.retrieval``); a method whose capabilities declare ``input == "raw"`` is given ``dataset``
for fitting and encoding. The load averages around the run are kept with the times.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from distilhash.benchmark.provenance import load_average

__all__ = ["Scored", "fit_and_score"]


@dataclass
class Scored:
    """A fitted method, its reports per direction (``"i2t"``, ``"t2i"``) and what the run cost."""

    method: Any
    reports: dict[str, Any]
    fit_seconds: float
    eval_seconds: float
    load_before: list[float]
    load_after: list[float]

    def map_all(self) -> dict[str, float]:
        """mAP@all per direction."""
        return {d: float(r.map_all) for d, r in self.reports.items()}


def fit_and_score(method, features, split, dataset=None, part: str = "query", **evaluate_kw: Any) -> Scored:
    """Fit ``method`` and evaluate it in both directions (``evaluate_kw`` goes to ``evaluate``)."""
    from distilhash.eval.metrics import evaluate_method

    raw = dataset if method.capabilities.input == "raw" else None
    load_before = load_average()
    t = time.perf_counter()
    method.fit(features, split, **({"dataset": raw} if raw is not None else {}))
    fit_seconds = time.perf_counter() - t
    t = time.perf_counter()
    reports = evaluate_method(method, features, split, part=part, dataset=raw, **evaluate_kw)
    return Scored(method, reports, fit_seconds, time.perf_counter() - t, load_before, load_average())
