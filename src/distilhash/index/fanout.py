"""Fan-outs: how a :class:`ShardedIndex` sends one batch of queries to all of its shards.

==========  ======================================================================================
name        how
==========  ======================================================================================
threads     one thread per shard in this process (the shards' C scans release the GIL); default
serial      the shards one after another (reference; no threads)
ray         Ray actors per shard (``replicas``, default 1), each holding its shard open read-only
            (shards must be on a file system every node sees); failover between replicas, missing
            shards reported; needs ``ray`` and a running or local cluster
==========  ======================================================================================

A fan-out whose shards live in other processes declares ``fetches_items = True`` and answers
``items_partial(query, k)``: ``([shard][query] -> (distances, global order numbers, ids,
metadata), missing shards)``, each shard's top-k with its ids and metadata in one round trip (k
metadata reads per shard instead of the winners' only, against a second round trip per shard).
The others answer ``candidates_partial(query, k)``: ``([shard][query] -> (distances, global order
numbers, rows), missing shards)`` (:func:`distilhash.index.shard_order.shard_candidates`;
a missing shard contributes empty lists; only the Ray fan-out with replicas can miss one), and
``results(shard, distances, rows)``: the ids and metadata of the picked rows.

``threads`` and ``serial`` live here; ``ray`` is declared by module name and registered by
:mod:`distilhash.distributed.ray_fanout` when first asked for, so ``index/`` never imports the
scale-out package.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from distilhash.errors import ClusterError, ConfigError
from distilhash.index.shard_order import shard_candidates
from distilhash.registry import Registry

__all__ = ["FANOUTS", "create_fanout", "ThreadFanout", "SerialFanout"]

FANOUTS: Registry = Registry("shard fan-out", modules={"ray": "distilhash.distributed.ray_fanout"})


def create_fanout(name: str, index: Any, **options: Any) -> Any:
    """The fan-out ``name`` (see module docstring) over ``index``'s shards; ``options`` go to its constructor."""
    if name not in FANOUTS:
        raise ConfigError(f"unknown fan-out {name!r}; expected one of {', '.join(FANOUTS.declared())}")
    if options and name != "ray":
        raise ConfigError(f"the {name} fan-out takes no options (got {', '.join(options)}); replicas need the ray fan-out")
    return FANOUTS.create(name, index, **options)


@FANOUTS.register("serial")
class SerialFanout:
    """Shards searched one after another."""

    name = "serial"
    fetches_items = False  # True: the fan-out answers items_partial (ids + metadata with the candidates)

    def __init__(self, index: Any) -> None:
        self.index = index

    def candidates(self, query: Any, k: int) -> list[list[Any]]:
        return [shard_candidates(s, o, query, k) for s, o in zip(self.index.shards, self.index.orders)]

    def candidates_partial(self, query: Any, k: int) -> tuple[list[list[Any]], list[int]]:
        """Every shard's candidates (in-process shards are always reachable: nothing missing)."""
        return self.candidates(query, k), []

    def results(self, shard: int, dist: Any, rows: Any) -> Any:
        return self.index.shards[shard].results_of_rows(dist, rows)

    def missing_error(self, missing: list[int]) -> Exception:
        """The error for shards the fan-out could not reach (in-process shards always are)."""
        return ClusterError(f"shard(s) {missing} of {self.index.directory} could not be reached")

    def close(self) -> None:
        pass


@FANOUTS.register("threads")
class ThreadFanout(SerialFanout):
    """One worker thread per shard (joined on close); safe to call from several threads at once."""

    name = "threads"

    def __init__(self, index: Any) -> None:
        super().__init__(index)
        n = len(index.shards)
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=n, thread_name_prefix="shard") if n > 1 else None

    def candidates(self, query: Any, k: int) -> list[list[Any]]:
        shards = self.index.shards
        if self._pool is None:
            return super().candidates(query, k)
        futures = [self._pool.submit(shard_candidates, s, o, query, k) for s, o in zip(shards, self.index.orders)]
        return [f.result() for f in futures]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
