"""The ``ray`` fan-out: one Ray actor per shard, each holding its shard open read-only.

Needs a connected Ray session (:func:`distilhash.distributed.runtime.ray_session`). Each actor
asks for ``min(1, cluster CPUs / shards)`` CPUs so that S shard actors fit on a small cluster
(four shards on the 2-CPU local cluster of the tests ask 0.5 CPU each).

Placement next to the data: when the fan-out opens, every alive node reports which shard
directories and order files it can read (:func:`distilhash.distributed.preflight.check_nodes`).
A shard readable everywhere (a shared file system) has its replicas spread softly over all nodes;
a shard readable on some nodes only (node-local disks holding copies at the same path) has its
actors pinned to those nodes, replacements included; a shard no node can read is a
:class:`~distilhash.distributed.pool.ClusterError` naming it. Nodes that join later are not probed.

Each call is one round trip per shard, all shards in parallel (:meth:`RayFanout.items_partial`):
the actor returns its top-k with ids and metadata, the query and the answer travel as compact
binary messages (:mod:`distilhash.distributed.wire`). Two transports carry them:

* the data plane (default, ``data_plane=True``): each actor listens on its node's Ray address
  with a small authenticated TCP endpoint (:mod:`distilhash.distributed.data_plane`; the secret
  is drawn here and handed to the actors through Ray); a query is written to one connection per
  shard, then the answers are read: no Ray task per shard;
* Ray calls (``data_plane=False``, and the fallback): one actor method call per shard, one
  ``ray.get`` for all.

A shard whose data-plane call fails (connection refused or broken, no answer within
``data_timeout`` s, an error answer) is asked again at once through a Ray call to the same
actor, so a dead actor is found by Ray and handled by the recovery below; its endpoint rests for
``data_plane_retry`` s before it is tried again.

Recovery and replicas: each shard has ``replicas`` actors (default 1), spread over the nodes. A
lost actor (process killed, node gone) is dropped, a replacement starts in the background on
the shard's current files, and the call moves on to another live replica at once. A shard with
no live replica waits up to ``failover_wait`` s for its replacement; if none comes, the shard is
*missing*: :meth:`RayFanout.candidates_partial` reports it, ``ShardedIndex.search_partial``
returns the answer of the other shards together with the missing list, and
``ShardedIndex.search`` raises a :class:`~distilhash.distributed.pool.ClusterError` naming each
missing shard, its directory and why. A partial answer is never returned without saying so.

Read-your-writes: before answering, an actor compares its shard's files on disk (names, sizes,
modification times: a few ``stat`` calls) with what it opened and reopens the shard (and its
order file) when they changed, so a write made through any handle (this process's
``ShardedIndex.add`` / ``delete``, or another writer's) is visible to the next search.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from distilhash.distributed.runtime import cluster_cpus, import_ray
from distilhash.distributed.data_plane import DataPlaneClient, RemoteError
from distilhash.distributed.shard_actor import ShardServer
from distilhash.distributed.wire import decode_items, encode_query
from distilhash.index.fanout import FANOUTS

__all__ = ["RayFanout"]

#: queries up to this size travel inside each shard's call; larger ones are put in the object store once
_INLINE_BYTES = 64 << 10


@FANOUTS.register("ray")  # declared by name in distilhash.index.fanout, which never imports this module
class RayFanout:
    """Actors per shard (``replicas`` of them); a query batch is sent to one live replica of every shard.

    Args:
        index: the :class:`~distilhash.index.sharded.ShardedIndex`.
        replicas: actors per shard, replica r of shard s placed (softly) on alive node
            ``(s + r) mod nodes`` so that a shard's replicas sit on different nodes when there are
            enough. A lost actor is dropped and a replacement starts in the background; the call
            moves on at once to another live replica of the shard. A shard with no live replica
            waits up to ``failover_wait`` s for its replacement (one replica: a killed actor is
            back in about a second on a live node), and is otherwise reported missing
            (:meth:`candidates_partial`; ``ShardedIndex.search`` raises, naming it).
        max_attempts: per call, how often each replica of a shard may be lost before giving up.
        start_timeout: seconds the first actors may take to open their shards.
        data_plane: searches go over the actors' socket endpoints (module docstring); False: Ray calls only.
        data_timeout: seconds a data-plane connect or answer may take before the shard is asked through Ray.
    """

    name = "ray"
    fetches_items = True  # items_partial: ids and metadata come with the candidates (one round trip per shard)
    #: seconds an actor's endpoint rests after a failed data-plane call (its searches go through Ray meanwhile)
    data_plane_retry = 5.0

    def __init__(self, index: Any, replicas: int = 1, max_attempts: int = 3, failover_wait: float = 10.0,
                 start_timeout: float = 60.0, data_plane: bool = True, data_timeout: float = 2.0) -> None:
        from distilhash.distributed.preflight import check_nodes
        from distilhash.errors import ConfigError

        self.index = index
        self.ray = import_ray()
        if not self.ray.is_initialized():
            raise ConfigError("the 'ray' fan-out needs a Ray session: open one with distilhash.distributed.runtime.ray_session()")
        if replicas < 1:
            raise ConfigError(f"replicas must be >= 1, got {replicas}")
        self.replicas, self.max_attempts = replicas, max_attempts
        self.failover_wait, self.start_timeout = failover_wait, start_timeout
        self.restarts = [0] * len(index.shards)
        self.last_error: list[str] = [""] * len(index.shards)
        self._secret = secrets.token_bytes(32) if data_plane else None
        self._driver_node = self.ray.get_runtime_context().get_node_id()
        self._driver_address = next((str(n["NodeManagerAddress"]) for n in self.ray.nodes()
                                     if n.get("NodeID") == self._driver_node), "")
        self._client = DataPlaneClient(self._secret, data_timeout) if self._secret else None
        #: searches try the data plane first (False: Ray calls only; settable at run time, e.g. to compare the two)
        self.use_data_plane = self._client is not None
        self.endpoints: dict[Any, tuple[str, int]] = {}  # actor handle -> its data-plane address
        self._resting: dict[Any, float] = {}  # actor handle -> monotonic time its endpoint may be tried again
        #: shard answers by transport ("data plane", "ray"), and data-plane calls that fell back to Ray
        self.served = {"data plane": 0, "ray": 0, "fallbacks": 0}
        self.last_data_plane_error = ""
        self._lock = threading.RLock()
        self._turns = [0] * len(index.shards)  # per shard: a shared counter would step by S per search and,
        # with S a multiple of the replica count, always pick the same replica of a shard
        self.homes = self._find_homes(check_nodes(self.ray, paths=self._shard_paths(), paths_everywhere=False))
        self.actors: list[list[Any]] = []
        self._starting: dict[Any, tuple[int, Any]] = {}
        self.reload()

    # -- placement ---------------------------------------------------------------------------
    def _files(self, s: int) -> tuple[str, str]:
        """Shard ``s``'s directory and order file as absolute paths: actors run in their raylet's working
        directory, not the driver's, so an index opened by a relative path (``serve ix/big``) must not be
        read relative to theirs."""
        return os.path.abspath(self.index.shards[s].directory), os.path.abspath(self.index.orders[s].path)

    def _shard_paths(self) -> dict[str, str]:
        """What each shard's actor reads: ``shard S`` (its directory) and ``order S`` (its order file)."""
        out = {}
        for s in range(len(self.index.shards)):
            out[f"shard {s}"], out[f"order {s}"] = self._files(s)
        return out

    def _find_homes(self, facts: dict[str, dict[str, Any]]) -> list[set[str] | None]:
        """Per shard: the nodes that can read its files (None: every node can, place freely).

        ClusterError naming every shard that no node can read."""
        from distilhash.distributed.pool import ClusterError

        homes: list[set[str] | None] = []
        missing = []
        for s in range(len(self.index.shards)):
            home = {node for node, f in facts.items() if not {f"shard {s}", f"order {s}"} & set(f["unreadable"])}
            if not home:
                missing.append(f"shard {s} ({self.index.shards[s].directory})")
            homes.append(None if home == set(facts) else home)
        if missing:
            raise ClusterError("no alive Ray node can read " + "; ".join(missing) + " (each shard must be readable "
                               "at the same path on at least one node)")
        return homes

    # -- actors ------------------------------------------------------------------------------
    def _start(self, s: int, r: int) -> Any:
        """A new actor for shard ``s`` (its ``r``-th start): on node ``(s + r) mod nodes`` among the nodes that
        hold the shard (only those, when not every node does; softly otherwise)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from distilhash.distributed.pool import alive_nodes

        n_actors = len(self.index.shards) * self.replicas
        cpus = min(1.0, cluster_cpus(self.ray) / max(1, n_actors))
        home = self.homes[s]
        nodes = [n["NodeID"] for n in alive_nodes(self.ray) if n.get("Resources", {}).get("CPU", 0) > 0
                 and (home is None or n["NodeID"] in home)]
        options: dict[str, Any] = {"num_cpus": cpus, "max_restarts": 0, "max_task_retries": 0}
        if nodes:
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(nodes[(s + r) % len(nodes)], soft=home is None)
        elif home is not None:  # every node holding the shard is gone: pinned to one, the actor fails to place
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(sorted(home)[0], soft=False)
        opts = self.index.options
        plane = ({"secret": self._secret, "driver_node": self._driver_node, "driver_address": self._driver_address}
                 if self._secret else None)
        return self.ray.remote(**options)(ShardServer).remote(*self._files(s), opts.backend, dict(opts.searcher_options),
                                                               plane)

    def reload(self) -> None:
        """(Re)start every shard's actors and wait until they have opened their shards."""
        self.close()
        with self._lock:
            self.actors = [[self._start(s, r) for r in range(self.replicas)] for s in range(len(self.index.shards))]
            for s, handles in enumerate(self.actors):
                for h in handles:
                    self._wait_open(s, h, None)

    def _wait_open(self, s: int, handle: Any, why: BaseException | None) -> None:
        from distilhash.distributed.pool import ClusterError

        where = self.index.shards[s].directory
        lost = f"its Ray actor was lost ({str(why).splitlines()[0]}) and " if why is not None else ""
        try:
            self._register(handle, self.ray.get(handle.hello.remote(), timeout=self.start_timeout))
        except self.ray.exceptions.GetTimeoutError:
            raise ClusterError(f"shard {s} ({where}): {lost}no node could hold an actor for it within "
                               f"{self.start_timeout:.0f} s") from None
        except Exception as exc:  # noqa: BLE001
            last = re.sub(r"^[\w.]*(?:Error|Exception): ", "", str(exc).strip().splitlines()[-1])  # no class path
            raise ClusterError(f"shard {s} ({where}): {lost}an actor could not open the shard: {last}") from None

    def _register(self, handle: Any, hello: dict[str, Any]) -> None:
        """Note a started actor's data-plane endpoint once this driver has reached it (an empty query, refused at
        once, over an authenticated connection); an endpoint not reached (a firewall, another network) is not
        used: that actor is searched through Ray calls, and ``last_data_plane_error`` says why."""
        if self._client is None:
            return
        if not hello.get("endpoint"):
            self.last_data_plane_error = f"an actor has no endpoint: {hello.get('endpoint_error') or 'none opened'}"
            return
        address = (str(hello["endpoint"][0]), int(hello["endpoint"][1]))
        answers, failed = self._client.call_many({0: (address, b"", 1)})
        if answers or isinstance(failed.get(0), RemoteError):
            self.endpoints[handle] = address
        else:
            self.last_data_plane_error = f"endpoint {address[0]}:{address[1]} not reachable from the driver: {failed[0]}"

    def _kill(self, handle: Any) -> None:
        try:
            self.ray.kill(handle)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def _lost(self, s: int, handle: Any, why: BaseException) -> None:
        """Drop a lost actor of shard ``s`` and start a replacement in the background."""
        with self._lock:
            if handle in self.actors[s]:
                self.actors[s].remove(handle)
            self._forget(handle)
            self._kill(handle)
            self.last_error[s] = f"its Ray actor was lost ({str(why).strip().splitlines()[0][:200]})"
            self._replace_async(s)

    def _replace_async(self, s: int) -> None:
        """Start actors for shard ``s`` until live + starting = ``replicas`` (call under the lock)."""
        while len(self.actors[s]) + sum(1 for v in self._starting.values() if v[0] == s) < self.replicas:
            self.restarts[s] += 1
            new = self._start(s, self.restarts[s])
            self._starting[new.hello.remote()] = (s, new)

    def _poll_starting(self, wait_for: set[int] | None = None, timeout: float = 0.0) -> None:
        """Put started replacements into service; wait up to ``timeout`` s until every shard in ``wait_for`` has one."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                refs = list(self._starting)
            ready = self.ray.wait(refs, num_returns=len(refs), timeout=0)[0] if refs else []
            for ref in ready:
                with self._lock:
                    if ref not in self._starting:
                        continue
                    s, handle = self._starting.pop(ref)
                try:
                    hello = self.ray.get(ref)
                    with self._lock:
                        self._register(handle, hello)
                        self.actors[s].append(handle)
                except Exception as exc:  # noqa: BLE001 - its node went too, or it cannot open the shard
                    self._kill(handle)
                    self.last_error[s] = (f"a new actor could not open the shard: {str(exc).strip().splitlines()[-1][:300]}"
                                          if isinstance(exc, self.ray.exceptions.RayActorError) and exc.actor_init_failed
                                          else f"a new actor was lost too ({str(exc).strip().splitlines()[0][:200]})")
            waiting = {s for s in (wait_for or ()) if not self.actors[s]}
            with self._lock:
                pending = [r for r, (s, _) in self._starting.items() if s in waiting]
            left = deadline - time.monotonic()
            if not waiting or not pending or left <= 0:
                return
            self.ray.wait(pending, num_returns=1, timeout=min(left, 0.5))

    def _pick(self, s: int) -> Any | None:
        with self._lock:
            live = self.actors[s]
            if not live:
                return None
            self._turns[s] += 1
            return live[self._turns[s] % len(live)]

    def _ensure(self, shards: set[int]) -> None:
        """Shards without a live actor get a replacement started and waited for (up to ``failover_wait`` s)."""
        empty = {s for s in shards if not self.actors[s]}
        if not empty:
            self._poll_starting()
            return
        with self._lock:
            for s in empty:
                self._replace_async(s)
        self._poll_starting(wait_for=empty, timeout=self.failover_wait)

    def missing_error(self, missing: list[int]) -> Any:
        """ClusterError naming every missing shard, its directory and why it is missing."""
        from distilhash.distributed.pool import ClusterError

        return ClusterError("no live Ray actor for " + "; ".join(
            f"shard {s} ({self.index.shards[s].directory}): {self.last_error[s] or 'not started'}" for s in missing))

    # -- calls -------------------------------------------------------------------------------
    def _forget(self, handle: Any) -> None:
        """Drop a lost actor's endpoint and its pooled connections (call under the lock)."""
        address = self.endpoints.pop(handle, None)
        self._resting.pop(handle, None)
        if address is not None and self._client is not None:
            self._client.forget(address)

    def _over_data_plane(self, picks: dict[int, Any], plane: tuple[bytes, int]) -> dict[int, Any]:
        """Ask every picked actor with a usable endpoint over its socket; {shard: answer bytes} of those that answered.

        A failed call leaves the shard out (the caller asks it through Ray) and rests the endpoint."""
        now = time.monotonic()
        body, k = plane
        calls = {s: (self.endpoints[h], body, k) for s, h in picks.items()
                 if h in self.endpoints and self._resting.get(h, 0.0) <= now}
        if not calls:
            return {}
        answers, failed = self._client.call_many(calls)
        with self._lock:
            self.served["data plane"] += len(answers)
            self.served["fallbacks"] += len(failed)
            for s, why in failed.items():
                self._resting[picks[s]] = now + self.data_plane_retry
                self._client.forget(calls[s][0])
                self.last_data_plane_error = f"shard {s} at {calls[s][0][0]}:{calls[s][0][1]}: {why}"
        return answers

    def _gather(self, method: str, shards: Iterable[int], args_of: Callable[[int], tuple],
                plane: tuple[bytes, int] | None = None) -> tuple[dict[int, Any], list[int]]:
        """``method(*args_of(s))`` on a live replica of every shard ``s``; (answers, shards left without a live replica).

        ``plane``: (query bytes, k) for the data plane, tried first for each picked actor (``items`` only)."""
        from distilhash.distributed.pool import ClusterError, _is_loss, unwrap

        out: dict[int, Any] = {}
        missing: list[int] = []
        pending = set(shards)
        for _ in range(self.max_attempts * self.replicas):
            self._ensure(pending)
            picks: dict[int, Any] = {}
            for s in sorted(pending):
                h = self._pick(s)
                if h is None:
                    missing.append(s)
                else:
                    picks[s] = h
            if plane is not None and self.use_data_plane and self._client is not None:
                out.update(self._over_data_plane(picks, plane))
            refs = {s: (h, getattr(h, method).remote(*args_of(s))) for s, h in picks.items() if s not in out}
            self.served["ray"] += len(refs)
            lost: dict[int, BaseException] = {}
            try:  # one ray.get for every shard's answer (the usual case: no loss)
                out.update(zip(refs, self.ray.get([ref for _, ref in refs.values()])))
                refs = {}
            except Exception:  # noqa: BLE001 - some shard failed: sort them out one by one below
                pass
            for s, (h, ref) in refs.items():
                try:
                    out[s] = self.ray.get(ref)
                except Exception as exc:  # noqa: BLE001
                    if not _is_loss(self.ray, exc):
                        raise ClusterError(f"shard {s} ({self.index.shards[s].directory}): {unwrap(self.ray, exc)}") from None
                    lost[s] = exc
                    self._lost(s, h, exc)
            if not lost:
                return out, sorted(missing)
            pending = set(lost)
        return out, sorted(missing + list(pending))

    def _shipped(self, query: Any) -> Any:
        """The query as sent to every shard: inline when small (Ray copies small arguments into the
        call), else one object in the store shared by the S calls."""
        size = len(query) if isinstance(query, bytes) else getattr(getattr(query, "data", query), "nbytes", 0)
        return self.ray.put(query) if size > _INLINE_BYTES else query

    def _per_shard(self, method: str, query: Any, k: int) -> tuple[list[list[Any]], list[int]]:
        """``method(query, k)`` on one live replica of every shard; missing shards get empty per-query tuples.

        ``items`` travels as :mod:`~distilhash.distributed.wire` bytes (data plane first, Ray calls
        as the fallback); ``candidates`` as Ray call arguments."""
        shipped: list[Any] = []

        def args_of(s: int) -> tuple:  # the Ray-call argument, put in the store at most once (when large)
            if not shipped:
                shipped.append(self._shipped(body if method == "items" else query))
            return shipped[0], k

        body = encode_query(query) if method == "items" else b""
        got, missing = self._gather(method, range(len(self.actors)), args_of,
                                    plane=(body, k) if method == "items" else None)
        if method == "items":
            got = {s: decode_items(b) for s, b in got.items()}
        if not got:
            raise self.missing_error(missing)
        sample = next(iter(got.values()))  # [query] -> tuple of arrays / lists: empty ones of the same types
        for s in missing:
            got[s] = [tuple(a[:0] for a in sample[q]) for q in range(len(sample))]
        return [got[s] for s in range(len(self.actors))], missing

    def candidates_partial(self, query: Any, k: int) -> tuple[list[list[Any]], list[int]]:
        """Every reachable shard's candidates, and the shards without a live replica (empty candidates)."""
        return self._per_shard("candidates", query, k)

    def items_partial(self, query: Any, k: int) -> tuple[list[list[Any]], list[int]]:
        """``[shard][query] -> (distances, global order numbers, ids, metadata)`` of each shard's top-k in one
        round trip per shard (the calls run in parallel), and the shards without a live replica."""
        return self._per_shard("items", query, k)

    def candidates(self, query: Any, k: int) -> list[list[Any]]:
        per_shard, missing = self.candidates_partial(query, k)
        if missing:
            raise self.missing_error(missing)
        return per_shard

    def results(self, shard: int, dist: Any, rows: Any) -> Any:
        from distilhash.index.core import SearchResult

        got, missing = self._gather("results", [shard], lambda s: (dist, rows))
        if missing:
            raise self.missing_error(missing)
        return SearchResult(*got[shard])

    def data_plane_floor(self) -> int:
        """One empty frame to the first endpoint of every shard, refused by the actor before any search: the
        data plane's own round trip (benchmarks); returns how many endpoints answered."""
        if self._client is None:
            return 0
        calls = {s: (self.endpoints[a[0]], b"", 1) for s, a in enumerate(self.actors) if a and a[0] in self.endpoints}
        answers, failed = self._client.call_many(calls)
        return sum(1 for why in failed.values() if isinstance(why, RemoteError)) + len(answers)

    def pids(self) -> list[int]:
        """PIDs of the first live actor of every shard (tests)."""
        return [int(self.ray.get(a[0].pid.remote())) for a in self.actors]

    def close(self) -> None:
        with getattr(self, "_lock", threading.RLock()):
            if getattr(self, "_client", None) is not None:
                self._client.close()
            self.endpoints, self._resting = {}, {}
            for handles in self.actors:
                for a in handles:
                    self._kill(a)
            for _, a in self._starting.values():
                self._kill(a)
            self.actors = []
            self._starting = {}
