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

__all__ = ["Scored", "fit_and_score", "encode_rates"]


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

    def figures(self, top: int = 1000) -> dict[str, dict[str, float]]:
        """``{"map_all", "map_at_<top>", "precision_at_<top>"}``, each per direction (``top`` must be
        one of the ``top_n`` the run was evaluated with)."""
        return {"map_all": self.map_all(), f"map_at_{top}": {d: r.map_at[top] for d, r in self.reports.items()},
                f"precision_at_{top}": {d: r.precision_at[top] for d, r in self.reports.items()}}


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


def encode_rates(method, features, split, n_query: int = 200) -> dict[str, float]:
    """Encoding speed of a fitted feature-input method: ``<modality>_database_items_per_s`` (all of
    ``split.retrieval`` in one call) and ``<modality>_query_ms_per_item`` (the first ``n_query`` of
    ``split.query`` one at a time), for ``image`` and ``text``."""
    out = {}
    for mod in ("image", "text"):
        feats = getattr(features, mod)
        t0 = time.perf_counter()
        method.encode(mod, feats[split.retrieval], "database")
        out[f"{mod}_database_items_per_s"] = len(split.retrieval) / (time.perf_counter() - t0)
        q = feats[split.query[:n_query]]
        t0 = time.perf_counter()
        for i in range(len(q)):
            method.encode(mod, q[i : i + 1], "query")
        out[f"{mod}_query_ms_per_item"] = 1000 * (time.perf_counter() - t0) / len(q)
    return out
