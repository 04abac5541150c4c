"""The ``ray`` fan-out: one Ray actor per shard, each holding its shard open read-only.

Needs a connected Ray session (:func:`distilhash.distributed.runtime.ray_session`). Each actor
asks for ``min(1, cluster CPUs / shards)`` CPUs so that S shard actors fit on a small cluster
(four shards on the 2-CPU local cluster of the tests ask 0.5 CPU each). The shard directories
must be readable at the same path on every node (a shared file system). Writes still go through
the driver's own handles (the actors see them after :meth:`RayFanout.reload`).
"""

from __future__ import annotations

from typing import Any

from distilhash.distributed.runtime import cluster_cpus, import_ray

__all__ = ["RayFanout"]


class _ShardServer:
    """Actor body: one shard opened read-only with its order file; answers ``candidates`` and ``results``."""

    def __init__(self, directory: str, order_path: str, backend: str, searcher_options: dict[str, Any]) -> None:
        from distilhash.distributed.shard_order import ShardOrder
        from distilhash.index import IndexOptions, open_index

        self.index = open_index(directory, options=IndexOptions(backend=backend, searcher_options=searcher_options))
        self.order = ShardOrder.load(order_path, self.index)
        self.index.searcher()

    def candidates(self, query: Any, k: int) -> list[Any]:
        from distilhash.distributed.shard_order import shard_candidates

        return shard_candidates(self.index, self.order, query, k)

    def results(self, dist: Any, rows: Any) -> tuple:
        return tuple(self.index.results_of_rows(dist, rows))


class RayFanout:
    """One actor per shard; a query batch is sent to all of them and their top-k lists gathered."""

    name = "ray"

    def __init__(self, index: Any) -> None:
        self.index = index
        self.ray = import_ray()
        if not self.ray.is_initialized():
            from distilhash.errors import ConfigError

            raise ConfigError("the 'ray' fan-out needs a Ray session: open one with distilhash.distributed.runtime.ray_session()")
        self.actors: list[Any] = []
        self.reload()

    def reload(self) -> None:
        """(Re)start the shard actors on the shards' current state on disk."""
        self.close()
        ray = self.ray
        cpus = min(1.0, cluster_cpus(ray) / max(1, len(self.index.shards)))
        server = ray.remote(num_cpus=cpus)(_ShardServer)
        opts = self.index.options
        self.actors = [server.remote(str(s.directory), str(o.path), opts.backend, dict(opts.searcher_options))
                       for s, o in zip(self.index.shards, self.index.orders)]

    def candidates(self, query: Any, k: int) -> list[list[Any]]:
        ref = self.ray.put(query)
        return self.ray.get([a.candidates.remote(ref, k) for a in self.actors])

    def results(self, shard: int, dist: Any, rows: Any) -> Any:
        from distilhash.index.core import SearchResult

        return SearchResult(*self.ray.get(self.actors[shard].results.remote(dist, rows)))

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
