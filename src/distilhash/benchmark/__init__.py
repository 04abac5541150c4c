"""Benchmark harness: suites declared as data, one JSON per run, a markdown report with plots.

* :mod:`~distilhash.benchmark.suite` — the suite file format and its expansion into runs.
* :mod:`~distilhash.benchmark.sources` — where a run's teacher features and split come from.
* :mod:`~distilhash.benchmark.runner` — fit, encode, evaluate and record one run; run a suite.
* :mod:`~distilhash.benchmark.report` — aggregate run JSONs into tables and plots.

Entry point: ``distilhash bench SUITE`` (:mod:`distilhash.cli.bench`).
"""
