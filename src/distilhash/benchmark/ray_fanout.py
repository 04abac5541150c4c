"""The Ray fan-out's cost per query against the in-process threads fan-out, variants interleaved on the same actors.

``bench/distributed_search.py ray-fanout`` declares the variants (a plan: variant -> the replica counts that
run it) and calls :func:`build_fanout_index`, then :func:`fanout_run` per run inside :func:`ray_cluster`.
Variants: ``threads`` (the reference), ``ray 2 trips`` (candidates, then the winners' items: one Ray call per
shard each), ``ray calls`` (one Ray call per shard with ids and metadata), ``data plane`` (the same bytes over
each actor's socket endpoint), ``ray no-op x4`` and ``socket no-op x4`` (the two transports' floors). Every
searching variant's answers are checked equal to the threads fan-out's. Ray is imported only when used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.kernel_timing import rotating_calls
from distilhash.benchmark.provenance import load_average
from distilhash.benchmark.sharded_search import same_answers

__all__ = ["FLOORS", "variant_names", "build_fanout_index", "fanout_variants", "fanout_run", "ray_cluster"]

Plan = Mapping[str, Sequence[int]]
#: variants named without a replica count: the reference and the two floors
FLOORS = ("threads", "ray no-op x4", "socket no-op x4")


def variant_names(plan: Plan) -> tuple[str, ...]:
    """Every variant of ``plan`` as it is recorded: ``"data plane, 2 replicas"``; the reference and floors bare."""
    return tuple(v if v in FLOORS else f"{v}, {r} replica{'s' * (r > 1)}" for v, rs in plan.items() for r in rs)


def build_fanout_index(work: Path, n: int, shards: int, seed: int) -> tuple[Path, list[Any]]:
    """``work/ix``: ``n`` random 64-bit codes in ``shards`` shards, each with a short caption; and 1000 single queries."""
    from distilhash.codes import Encoded
    from distilhash.index import create_sharded_index

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    with create_sharded_index(work / "ix", shards, kind="binary", n_bits=64) as w:
        w.add([f"item{i:07d}" for i in range(n)], Encoded("binary", codes, 64),
              [{"caption": f"a drawing of thing number {i}"} for i in range(n)], snapshot=True)
    queries = [Encoded("binary", rng.integers(0, 256, (1, 8), dtype=np.uint8), 64) for _ in range(1000)]
    return work / "ix", queries


def fanout_variants(ix: Any, ref: Any, replicas: int, k: int, plan: Plan) -> dict[str, Any]:
    """The calls of every variant of ``plan`` this replica count runs, on the fan-out of ``ix`` (``ref``: the threads index)."""
    ray = __import__("ray")
    fan = ix.fanout
    suffix = f", {replicas} replica{'s' * (replicas > 1)}"

    def transport(plane: bool, trips: int = 1):
        def call(q):
            fan.use_data_plane, fan.fetches_items = plane, trips == 1
            try:
                return ix.search(q, k)
            finally:
                fan.use_data_plane, fan.fetches_items = True, True
        return call

    actors = [a[0] for a in fan.actors]
    every = {"threads": lambda q: ref.search(q, k), "ray 2 trips": transport(False, 2), "ray calls": transport(False),
             "data plane": transport(True), "ray no-op x4": lambda q: ray.get([a.opened.remote() for a in actors]),
             "socket no-op x4": lambda q: fan.data_plane_floor()}
    return {(n if n in FLOORS else n + suffix): every[n] for n, rs in plan.items() if replicas in rs}


def fanout_run(ix_dir: Path, queries: list[Any], count: int, k: int, plan: Plan) -> dict[str, Any]:
    """Every variant of ``plan`` once (fresh actors per replica count, interleaved, 20 warm-up queries first): per
    variant the latencies in ms of ``count`` queries and whether the answers equal the threads answers; the
    fan-out's served counts per replica count; the load before and after."""
    from distilhash.index import open_sharded_index

    out: dict[str, Any] = {"load_before": load_average()}
    with open_sharded_index(ix_dir, fanout="threads") as ref:
        expected = [ref.search(q, k) for q in queries[20:20 + count]]
        for replicas in (1, 2):
            with open_sharded_index(ix_dir, fanout="ray", fanout_options={"replicas": replicas}) as ix:
                for name, (lat, got) in rotating_calls(fanout_variants(ix, ref, replicas, k, plan), queries, count).items():
                    searched = name.startswith(("threads", "ray 2", "ray calls", "data plane"))
                    out[name] = {"ms": lat.tolist(), "same": all(same_answers(r, s) for r, s in zip(got, expected, strict=True)) if searched else True}
                out[f"served, {replicas} replicas"] = dict(ix.fanout.served)
    out["load_after"] = load_average()
    return out


@contextlib.contextmanager
def ray_cluster(kind: str) -> Iterator[Any]:
    """A Ray session: ``local`` (started in this process, 2 CPUs) or ``two-raylet`` (two raylets of 1 CPU on this host)."""
    from distilhash.distributed.runtime import ray_session

    if kind == "local":
        with ray_session(num_cpus=2) as ray:
            yield ray
        return
    from distilhash.distributed.local_cluster import LocalCluster

    with LocalCluster(nodes=2, cpus_per_node=1) as cluster, ray_session(cluster.address) as ray:
        yield ray
