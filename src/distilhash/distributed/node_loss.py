"""Fault injection for the Ray engine: lose a node in the middle of an extraction, check the cache.

    trial = run_trial(work_dir, kill=True)     # a fresh 2-node cluster; node 1 SIGKILLed after part 1
    assert trial["completed"] and trial["files"] == reference["files"]

Shared by ``tests/test_distributed_cluster.py`` and ``bench/node_loss.py``. The extraction runs
in a separate driver process (:func:`run_driver` through :mod:`distilhash.distributed.driver`; a Ray
driver must have the cluster's token in its environment before it imports ray) with
:class:`ToyTeacher`: deterministic features of a small dataset (so a trial takes seconds), a
fixed pause per call (so parts are in flight when the node dies). After the first part is
written while the victim node holds a working worker, the driver kills every process of that node (its raylet, its workers, its
agents) by PID. A trial passes when the driver exits 0 and every file of the cache has the same
sha256 as the reference run's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.distributed.driver import driver_command, driver_main
from distilhash.teachers.base import TeacherBase

__all__ = ["ToyTeacher", "toy_dataset", "drive", "run_trial", "run_driver"]


class ToyTeacher(TeacherBase):
    """Deterministic toy teacher (width 16): word hashes for texts, pixel values for images; ``delay`` s per call."""

    name = "toy-teacher"
    width = 16
    fingerprint = "toy-v1"
    image_size = 8

    def __init__(self, delay: float = 0.2) -> None:
        self.delay = float(delay)

    def encode_texts(self, texts: list[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
        time.sleep(self.delay)
        out = np.zeros((len(texts), self.width), np.float32)
        for i, t in enumerate(texts):
            for w in str(t).split():
                out[i, sum(map(ord, w)) % self.width] += 1.0
        out[:, 0] += 0.5
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_images(self, images: Any, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        time.sleep(self.delay)
        x = np.asarray(images, np.float32).reshape(len(images), -1)[:, : self.width] + 1.0
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def toy_dataset(directory: str | Path, n: int = 512, seed: int = 0) -> Path:
    """A prepared random dataset of ``n`` items (8x8 images, 5 labels, captions from label names) with a split."""
    from distilhash.data.dataset import CrossModalDataset, save_dataset
    from distilhash.data.images import ArrayImageStore
    from distilhash.data.split import SplitSpec, make_split
    from distilhash.data.store import SPLIT_FILE

    rng = np.random.default_rng(seed)
    labels = (rng.random((n, 5)) < 0.3).astype(np.uint8)
    labels[np.arange(n), rng.integers(0, 5, n)] = 1
    names = [f"label{j}" for j in range(5)]
    ds = CrossModalDataset(name="toy", ids=[f"item{i:05d}" for i in range(n)],
                           texts=[" ".join(names[j] for j in np.flatnonzero(r)) for r in labels], labels=labels,
                           label_names=names, images=ArrayImageStore(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)))
    d = save_dataset(ds, directory)
    make_split(n, SplitSpec(n_query=n // 8, n_train=n // 2, n_val=n // 16, seed=seed), ds.content_hash()).save(d / SPLIT_FILE)
    return d


def run_driver(dataset: str, out: str, address: str, *, part_size: int = 32, delay: float = 0.2, threads: float = 1.0,
               kill_session: int = 0, kill_after: int = 1, placement_timeout: float = 120.0) -> dict[str, Any]:
    """The driver process of a trial (see module docstring): the engine record, or ``error`` and ``message``.

    ``kill_session``: session id of the node to kill after ``kill_after`` parts (0: none)."""
    from distilhash.distributed.extract import extract_features_ray
    from distilhash.distributed.local_cluster import session_pids
    from distilhash.teachers.cache import load_features

    killed: list[int] = []

    seen = [0]

    def on_part(p: int, pids: list[int]) -> None:
        """After ``kill_after`` parts written while the victim node's worker was working, kill that node."""
        victim = set(session_pids(kill_session)) if kill_session and not killed else set()
        if victim & set(pids):
            seen[0] += 1
            if seen[0] >= kill_after:
                for pid in victim:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                    except ProcessLookupError:
                        pass

    from distilhash.errors import DistilhashError

    t0 = time.perf_counter()
    try:
        path = extract_features_ray(dataset, ToyTeacher(delay), out, part_size=part_size, address=address, progress=False,
                                    on_part=on_part, cpus_per_worker=threads, placement_timeout=placement_timeout)
    except DistilhashError as exc:
        return {"error": type(exc).__name__, "message": str(exc), "wall_s": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    fs = load_features(path)
    return {"engine": fs.manifest["engine"], "files": fs.manifest["files"], "killed_pids": killed, "wall_s": wall}


def drive(cluster: Any, dataset: str | Path, out: str | Path, *, kill_node: int | None = None, part_size: int = 32,
          delay: float = 0.2, threads: float = 1.0, placement_timeout: float = 120.0,
          timeout: float = 600.0) -> dict[str, Any]:
    """Run one extraction driver process against ``cluster`` (a running :class:`LocalCluster`).

    Returns ``completed`` (exit 0), ``returncode``, ``stderr`` (tail), ``driver_s`` and the
    driver's JSON line: on success ``engine``, ``files``, ``killed_pids``, ``wall_s``; on a
    distilhash error ``error`` (its class) and ``message``.
    """
    cmd = driver_command("distilhash.distributed.node_loss", dataset=str(dataset), out=str(out), address=cluster.address, part_size=part_size,
                         delay=delay, threads=threads, placement_timeout=placement_timeout,
                         kill_session=cluster.sids[kill_node] if kill_node is not None else 0)
    env = {**cluster.env, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    result: dict[str, Any] = {"completed": proc.returncode == 0, "returncode": proc.returncode,
                              "stderr": proc.stderr[-2000:], "driver_s": time.perf_counter() - t0}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if lines:
        result.update(json.loads(lines[-1]))
    return result


def run_trial(work: str | Path, *, kill: bool, dataset: str | Path, n_nodes: int = 2, part_size: int = 32,
              delay: float = 0.2, threads: float = 1.0, timeout: float = 600.0) -> dict[str, Any]:
    """A fresh cluster of ``n_nodes`` 1-CPU nodes, one extraction (:func:`drive`), node 1 killed when ``kill``.

    Adds ``cluster_start_s`` to what :func:`drive` returns.
    """
    from distilhash.distributed.local_cluster import LocalCluster

    t0 = time.perf_counter()
    with LocalCluster(nodes=n_nodes, cpus_per_node=1) as cluster:
        started = time.perf_counter() - t0
        result = drive(cluster, dataset, Path(work) / "cache", kill_node=n_nodes - 1 if kill else None,
                       part_size=part_size, delay=delay, threads=threads, timeout=timeout)
    result["cluster_start_s"] = started
    return result


if __name__ == "__main__":
    driver_main(run_driver)
