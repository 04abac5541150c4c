"""The Ray fan-out cost benchmark (bench/distributed_search.py ray-fanout) on a local 2-CPU Ray session, tiny index."""

from __future__ import annotations

import pytest

from distilhash.benchmark.distributed_report import fanout_summary
from distilhash.benchmark.ray_fanout import build_fanout_index, fanout_run, ray_cluster, variant_names

PLAN = {"threads": (1,), "ray calls": (1, 2), "data plane": (2,), "ray no-op x4": (2,), "socket no-op x4": (2,)}


def test_variant_names_carry_the_replica_count_except_the_reference_and_the_floors():
    assert variant_names(PLAN) == ("threads", "ray calls, 1 replica", "ray calls, 2 replicas", "data plane, 2 replicas",
                                   "ray no-op x4", "socket no-op x4")


def test_every_searching_variant_answers_as_the_threads_fanout(tmp_path):
    pytest.importorskip("ray")
    ix_dir, queries = build_fanout_index(tmp_path, 300, 4, seed=0)
    assert len(queries) == 1000 and ix_dir.is_dir()
    with ray_cluster("local"):
        run = fanout_run(ix_dir, queries, 4, 5, PLAN)
    names = variant_names(PLAN)
    assert set(names) <= set(run) and all(len(run[v]["ms"]) == 4 and run[v]["same"] for v in names)
    assert run["served, 2 replicas"]["data plane"] > 0 and len(run["load_before"]) == 3
    summary = fanout_summary([run], names)
    assert list(summary) == list(names) and all(s["all_same"] for s in summary.values())
