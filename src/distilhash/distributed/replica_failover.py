"""Fault injection for the Ray fan-out with shard replicas: clients searching while a node dies.

    cmd = failover_command(cluster.address, work_dir, cluster.sids[1], clients=8)   # then subprocess.run(cmd, env=cluster.env)

Run as the driver process of a :class:`~distilhash.distributed.local_cluster.LocalCluster` (the
cluster's token must be in the environment before ray is imported). It builds a sharded index of
random 64-bit binary codes, opens it with the Ray fan-out (``replicas`` actors per shard, spread
over the nodes) and with the in-process threads fan-out (the reference), then runs ``clients``
threads that search for ``seconds`` seconds; ``kill_at`` seconds in, every process of the victim
node is SIGKILLed by PID. Counted: requests that failed, answers flagged partial
(``search_partial``'s missing shards) and answers that differ from the reference (only counted
for unflagged answers: a partial answer is never silent). Then a few ids are deleted through the
index and searched for: ``stale`` counts deleted ids still returned. Prints one JSON line.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.distributed.driver import driver_command, driver_main

__all__ = ["run", "failover_command"]


def _kill_session(sid: int) -> list[int]:
    from distilhash.distributed.local_cluster import session_pids

    killed = []
    for pid in session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    return killed


def run(address: str, work: str | Path, *, kill_session: int = 0, clients: int = 8, seconds: float = 20.0,
        kill_at: float = 5.0, n_items: int = 20_000, n_shards: int = 4, replicas: int = 2, k: int = 10,
        seed: int = 0) -> dict[str, Any]:
    """See module docstring; returns the counts and latency percentiles (ms)."""
    from distilhash.codes import Encoded
    from distilhash.distributed.runtime import ray_session
    from distilhash.index import create_sharded_index, open_sharded_index

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n_items, 8), dtype=np.uint8)
    ids = [f"item{i:06d}" for i in range(n_items)]
    ix_dir = Path(work) / "ix"
    with create_sharded_index(ix_dir, n_shards, kind="binary", n_bits=64) as w:
        w.add(ids, Encoded("binary", codes, 64), None, snapshot=True)
    queries = [Encoded("binary", rng.integers(0, 256, (1, 8), dtype=np.uint8), 64) for _ in range(64)]
    stats: dict[str, Any] = {"requests": 0, "failed": 0, "partial": 0, "wrong": 0, "errors": [], "latency_ms": [],
                             "after_kill_failed": 0, "after_kill_requests": 0, "after_kill_ms": []}
    lock = threading.Lock()
    with ray_session(address) as _ray, open_sharded_index(ix_dir, writable=True, fanout="ray",
                                                           fanout_options={"replicas": replicas}) as ix, \
            open_sharded_index(ix_dir, fanout="threads") as ref:
        expected = [[r.ids for r in ref.search(q, k)] for q in queries]
        t_start = time.perf_counter()
        killed: list[int] = []
        stop = threading.Event()

        def client(c: int) -> None:
            i = c
            while not stop.is_set():
                q = i % len(queries)
                i += clients
                t0 = time.perf_counter()
                try:
                    res, missing = ix.search_partial(queries[q], k)
                    ok = True
                except Exception as exc:  # noqa: BLE001 - a failed request is what we count
                    ok, missing, res = False, [], None
                    err = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                dt = (time.perf_counter() - t0) * 1000
                after = bool(killed)
                with lock:
                    stats["requests"] += 1
                    stats["after_kill_requests"] += after
                    if not ok:
                        stats["failed"] += 1
                        stats["after_kill_failed"] += after
                        if len(stats["errors"]) < 5:
                            stats["errors"].append(err)
                        continue
                    stats["latency_ms"].append(dt)
                    if after:
                        stats["after_kill_ms"].append(dt)
                    if missing:
                        stats["partial"] += 1
                    elif [r.ids for r in res] != expected[q]:
                        stats["wrong"] += 1

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        while time.perf_counter() - t_start < seconds:
            if kill_session and not killed and time.perf_counter() - t_start >= kill_at:
                killed.extend(_kill_session(kill_session))
                stats["killed_at_s"] = time.perf_counter() - t_start
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join()
        # read-your-writes: delete the current top hits, search again at once
        gone = sorted({i for e in expected[:8] for i in e[0][:2]})
        ix.delete(gone)
        after, missing = ix.search_partial(Encoded("binary", np.concatenate([q.data for q in queries[:8]]), 64), k)
        stats["stale"] = sum(i in gone for r in after for i in r.ids)
        stats["missing_after_delete"] = missing
        stats["restarts"] = list(ix.fanout.restarts)
        stats["killed_pids"] = killed
    lat = np.array(stats.pop("latency_ms") or [np.nan])
    after_kill = np.array(stats.pop("after_kill_ms") or [np.nan])
    stats.update(after_kill_p99_ms=float(np.nanpercentile(after_kill, 99)), after_kill_max_ms=float(np.nanmax(after_kill)))
    stats.update(p50_ms=float(np.nanpercentile(lat, 50)), p99_ms=float(np.nanpercentile(lat, 99)),
                 clients=clients, seconds=seconds, replicas=replicas, shards=n_shards, items=n_items)
    return stats


def failover_command(address: str, work: str | Path, kill_session: int, **options: Any) -> list[str]:
    """The driver's command line: :func:`run` with these arguments in a fresh process (one JSON line out)."""
    return driver_command("distilhash.distributed.replica_failover", address=address, work=str(work), kill_session=kill_session, **options)


if __name__ == "__main__":
    driver_main(run)
