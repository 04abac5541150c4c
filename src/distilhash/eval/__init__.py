"""Evaluation: one tested definition of every retrieval number distilhash reports.

* :mod:`distilhash.eval.rankers` — distances (Hamming, cosine, PQ asymmetric distance) and stable
  rankings by (distance, database index), chunked over queries.
* :mod:`distilhash.eval.metrics` — ``evaluate`` / ``evaluate_method`` -> ``RetrievalReport``
  (mAP@all, truncated mAP@N, precision/recall@N, PR and precision@N curves, tie-aware option).
* :mod:`distilhash.eval.ap` — the per-query scores from the ranks of the relevant items.
* :mod:`distilhash.eval.plots` — PR and precision@N figures (matplotlib, Agg).

Definitions and how they relate to published code: ``docs/metrics.md``. Importing this package
imports nothing heavy.
"""
