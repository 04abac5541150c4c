"""The Ray engine on a real multi-node cluster (raylets started by `ray start` on this host, token
auth): extraction survives losing a node with a cache identical to one process's; a --threads
larger than any node is fitted instead of hanging; a node running other distilhash code is named
before work starts; losing every node that can hold a worker is a clear error, not a hang.

Drivers run as subprocesses (a Ray driver needs the cluster's token before it imports ray)."""

from __future__ import annotations

import shutil
import time

import pytest

pytest.importorskip("ray")

from distilhash.distributed.local_cluster import LocalCluster  # noqa: E402
from distilhash.distributed.node_loss import ToyTeacher, drive, run_trial, toy_dataset  # noqa: E402
from distilhash.teachers.cache import extract_features, load_features  # noqa: E402


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    base = tmp_path_factory.mktemp("toy")
    d = toy_dataset(base / "toy", n=384)
    single = load_features(extract_features(d, ToyTeacher(0.0), base / "single", progress=False))
    return d, single


def test_extraction_survives_losing_a_node_and_matches_one_process(toy, tmp_path):
    d, single = toy
    trial = run_trial(tmp_path, kill=True, dataset=d, part_size=32, delay=0.2)
    assert trial["completed"], trial["stderr"]
    assert trial["killed_pids"], "the victim node was never killed"
    assert trial["engine"]["workers_lost"] >= 1 and trial["engine"]["parts_retried"] >= 1
    assert trial["files"] == single.manifest["files"]  # every cache file bit-identical


@pytest.fixture(scope="module")
def small_cluster():
    """A head with no CPU and one 1-CPU worker node: the worker node is the only place for a worker."""
    with LocalCluster(nodes=2, cpus_per_node=1, head_cpus=0) as cluster:
        yield cluster


def test_threads_above_every_node_are_fitted_with_a_note(small_cluster, toy, tmp_path):
    d, single = toy
    r = drive(small_cluster, d, tmp_path / "c", threads=2, delay=0.0, part_size=128, timeout=240)
    assert r["completed"], r["stderr"]
    assert r["engine"]["cpus_per_worker"] == 1.0 and r["engine"]["workers"] == 1
    assert r["files"] == single.manifest["files"]


def test_a_node_with_other_distilhash_code_is_named_before_work(small_cluster, toy, tmp_path):
    import distilhash

    src = tmp_path / "other-src"
    shutil.copytree(distilhash.__file__.rsplit("/", 2)[0], src)
    with open(src / "distilhash" / "codes.py", "a") as f:
        f.write("\n# another version\n")
    node = small_cluster.add_node(env={"PYTHONPATH": str(src)})
    try:
        r = drive(small_cluster, toy[0], tmp_path / "c", delay=0.0, timeout=240)
        assert not r["completed"] and r["error"] == "ClusterError", r
        assert "source hash" in r["message"] and "same version on every node" in r["message"]
    finally:
        small_cluster.kill_node(node)


def test_no_node_left_is_a_clear_error_not_a_hang(small_cluster, toy, tmp_path):
    small_cluster.kill_node(1)
    t0 = time.perf_counter()
    r = drive(small_cluster, toy[0], tmp_path / "c", delay=0.0, placement_timeout=15, timeout=240)
    assert not r["completed"] and r["error"] == "ClusterError", r
    assert "no Ray extraction worker alive" in r["message"] or "no alive node with a CPU" in r["message"]
    assert time.perf_counter() - t0 < 120
