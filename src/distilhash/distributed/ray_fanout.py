"""The ``ray`` fan-out: one Ray actor per shard, each holding its shard open read-only.

Needs a connected Ray session (:func:`distilhash.distributed.runtime.ray_session`). Each actor
asks for ``min(1, cluster CPUs / shards)`` CPUs so that S shard actors fit on a small cluster
(four shards on the 2-CPU local cluster of the tests ask 0.5 CPU each). The shard directories
must be readable at the same path on every node (a shared file system); every node is checked
when the fan-out opens (:func:`distilhash.distributed.preflight.check_nodes`).

Recovery: a shard whose actor is lost (process killed, node gone) gets a new actor, opened on
the shard's current state on disk, and the call is repeated (``max_attempts`` times, with
backoff); only when no actor can be (re)started for a shard does a search fail, with a
:class:`~distilhash.distributed.pool.ClusterError` naming the shard and its directory.

Read-your-writes: before answering, an actor compares its shard's files on disk (names, sizes,
modification times: a few ``stat`` calls) with what it opened and reopens the shard (and its
order file) when they changed, so a write made through any handle (this process's
``ShardedIndex.add`` / ``delete``, or another writer's) is visible to the next search.
"""

from __future__ import annotations

import os
import time
from typing import Any

from distilhash.distributed.runtime import cluster_cpus, import_ray

__all__ = ["RayFanout"]


def _disk_state(*paths: str) -> tuple:
    """(name, size, mtime_ns) of every file in the directories / of the files ``paths``."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            for e in sorted(os.scandir(p), key=lambda e: e.name):
                if e.is_file():
                    st = e.stat()
                    out.append((p, e.name, st.st_size, st.st_mtime_ns))
        elif os.path.exists(p):
            st = os.stat(p)
            out.append((p, "", st.st_size, st.st_mtime_ns))
    return tuple(out)


class _ShardServer:
    """Actor body: one shard opened read-only with its order file; answers ``candidates`` and ``results``."""

    def __init__(self, directory: str, order_path: str, backend: str, searcher_options: dict[str, Any]) -> None:
        self.args = (directory, order_path, backend, searcher_options)
        self._open()

    def _open(self) -> None:
        from distilhash.distributed.shard_order import ShardOrder
        from distilhash.index import IndexOptions, open_index

        directory, order_path, backend, searcher_options = self.args
        state = _disk_state(directory, order_path)
        old = getattr(self, "index", None)
        self.index = open_index(directory, options=IndexOptions(backend=backend, searcher_options=searcher_options))
        self.order = ShardOrder.load(order_path, self.index)
        self.index.searcher()
        self.state = state
        self.opens = getattr(self, "opens", 0) + 1
        if old is not None:
            old.close()

    def _fresh(self) -> None:
        if _disk_state(*self.args[:2]) != self.state:
            self._open()

    def pid(self) -> int:
        return os.getpid()

    def opened(self) -> int:
        """How many times this actor has opened its shard (1 + reopens after writes)."""
        return self.opens

    def candidates(self, query: Any, k: int) -> list[Any]:
        from distilhash.distributed.shard_order import shard_candidates

        self._fresh()
        return shard_candidates(self.index, self.order, query, k)

    def results(self, dist: Any, rows: Any) -> tuple:
        return tuple(self.index.results_of_rows(dist, rows))  # rows of the state candidates() just used


class RayFanout:
    """One actor per shard; a query batch is sent to all of them and their top-k lists gathered."""

    name = "ray"

    def __init__(self, index: Any, max_attempts: int = 3, backoff: float = 0.1, start_timeout: float = 60.0) -> None:
        from distilhash.distributed.preflight import check_nodes

        self.index = index
        self.ray = import_ray()
        if not self.ray.is_initialized():
            from distilhash.errors import ConfigError

            raise ConfigError("the 'ray' fan-out needs a Ray session: open one with distilhash.distributed.runtime.ray_session()")
        self.max_attempts, self.backoff, self.start_timeout = max_attempts, backoff, start_timeout
        self.restarts = [0] * len(index.shards)
        check_nodes(self.ray, paths={f"shard {s}": sh.directory for s, sh in enumerate(index.shards)})
        self.actors: list[Any] = []
        self.reload()

    def _server(self) -> Any:
        cpus = min(1.0, cluster_cpus(self.ray) / max(1, len(self.index.shards)))
        return self.ray.remote(num_cpus=cpus, max_restarts=0, max_task_retries=0)(_ShardServer)

    def _start(self, s: int) -> Any:
        opts = self.index.options
        shard, order = self.index.shards[s], self.index.orders[s]
        return self._server().remote(str(shard.directory), str(order.path), opts.backend, dict(opts.searcher_options))

    def reload(self) -> None:
        """(Re)start every shard actor (not needed for writes or lost actors: both are handled)."""
        self.close()
        self.actors = [self._start(s) for s in range(len(self.index.shards))]

    def _replace(self, s: int, why: BaseException) -> None:
        """A new actor for shard ``s``; ClusterError naming the shard when none can start."""
        from distilhash.distributed.pool import ClusterError

        try:
            self.ray.kill(self.actors[s])
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.actors[s] = self._start(s)
        self.restarts[s] += 1
        where = self.index.shards[s].directory
        try:
            self.ray.get(self.actors[s].pid.remote(), timeout=self.start_timeout)
        except self.ray.exceptions.GetTimeoutError:
            raise ClusterError(f"shard {s} ({where}): its Ray actor was lost ({str(why).splitlines()[0]}) and no node "
                               f"could hold a new one within {self.start_timeout:.0f} s") from None
        except Exception as exc:  # noqa: BLE001
            raise ClusterError(f"shard {s} ({where}): its Ray actor was lost ({str(why).splitlines()[0]}) and a new "
                               f"one could not open the shard: {str(exc).strip().splitlines()[-1]}") from None

    def _gather(self, method: str, args: dict[int, tuple]) -> dict[int, Any]:
        """``method(*args[s])`` on shard ``s``'s actor for every ``s``; lost actors replaced and asked again."""
        from distilhash.distributed.pool import ClusterError, _is_loss, unwrap

        out: dict[int, Any] = {}
        pending = dict(args)
        for attempt in range(self.max_attempts):
            refs = {s: getattr(self.actors[s], method).remote(*a) for s, a in pending.items()}
            lost: dict[int, BaseException] = {}
            for s, ref in refs.items():
                try:
                    out[s] = self.ray.get(ref)
                except Exception as exc:  # noqa: BLE001
                    if not _is_loss(self.ray, exc):
                        err = unwrap(self.ray, exc)
                        raise ClusterError(f"shard {s} ({self.index.shards[s].directory}): {err}") from None
                    lost[s] = exc
            if not lost:
                return out
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            for s, exc in lost.items():
                self._replace(s, exc)
            pending = {s: pending[s] for s in lost}
        raise ClusterError(f"shard(s) {sorted(pending)}: the Ray actor was lost {self.max_attempts} times in one call")

    def candidates(self, query: Any, k: int) -> list[list[Any]]:
        ref = self.ray.put(query)
        got = self._gather("candidates", {s: (ref, k) for s in range(len(self.actors))})
        return [got[s] for s in range(len(self.actors))]

    def results(self, shard: int, dist: Any, rows: Any) -> Any:
        from distilhash.index.core import SearchResult

        return SearchResult(*self._gather("results", {shard: (dist, rows)})[shard])

    def pids(self) -> list[int]:
        """PIDs of the shard actors (tests)."""
        return [int(p) for p in self.ray.get([a.pid.remote() for a in self.actors])]

    def close(self) -> None:
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # noqa: BLE001
                pass
        self.actors = []
