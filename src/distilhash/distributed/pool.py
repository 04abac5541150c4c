"""A pool of model-holding Ray actors that survives the loss of actors and of whole nodes.

    pool = WorkerPool(ray, ExtractWorker, (ds_dir, ...), cpus_per_worker=2, label="extract")
    info = pool.call("describe")                                # on any live worker, failing over
    pool.run([(p, "encode_part", (p, start, stop)) for p in todo], on_result)
    pool.close()

Resources are fitted to the cluster before any actor is made (:func:`fit_workers`): a worker asks
for ``min(cpus_per_worker, largest node's CPUs)`` CPUs and there are at most as many workers as
the alive nodes can place, so no actor waits forever for a node that cannot exist; a cluster
with no CPU at all is an immediate :class:`ClusterError` naming what the nodes offer.

Failures. Actors are created with no Ray restarts: the pool itself notices a lost actor (its
process killed, its node gone: ``RayActorError``, ``WorkerCrashedError``, ``NodeDiedError``,
``ObjectLostError``), puts the actor's unfinished parts back in the queue with a backoff of
``backoff * 2 ** (attempt - 1)`` seconds, and starts a replacement wherever the alive nodes have
room. Parts are pure functions of their arguments, so a part computed twice gives the same
result. The run fails only when a part has failed ``max_attempts`` times, when no worker has been
alive for ``placement_timeout`` seconds (no node left that can hold one), or when a worker's
``__init__`` raises (a node without the data or the package: the error names the node).
Errors the actor's own code raises (a ``DistilhashError`` inside a task) are not node losses and
are re-raised as they are.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from distilhash.distributed.preflight import alive_nodes
from distilhash.errors import ClusterError, DistilhashError  # ClusterError lives there so index/ can raise it

__all__ = ["WorkerPool", "PoolWorker", "ClusterError", "fit_workers", "Fit", "alive_nodes", "unwrap"]


@dataclass(frozen=True)
class Fit:
    """How many workers of how many CPUs the alive nodes can place, and what was changed from the request."""

    workers: int
    cpus_per_worker: float
    capacity: int
    notes: tuple[str, ...]


def _node_cpus(nodes: list[dict[str, Any]]) -> list[float]:
    return [float(n.get("Resources", {}).get("CPU", 0.0)) for n in nodes]


def fit_workers(ray: Any, cpus_per_worker: float, workers: int | None) -> Fit:
    """Fit ``workers`` actors of ``cpus_per_worker`` CPUs to the alive nodes (see module docstring).

    Raises ClusterError when no alive node has a CPU.
    """
    cpus = _node_cpus(alive_nodes(ray))
    biggest = max(cpus, default=0.0)
    if biggest <= 0:
        raise ClusterError(f"the Ray cluster has no alive node with a CPU (nodes' CPUs: {cpus or 'no node'}); "
                           "start a worker node with `ray start --address HEAD:PORT --num-cpus N`")
    notes = []
    cpw = float(cpus_per_worker)
    if cpw > biggest:
        notes.append(f"each worker asked for {cpw:g} CPUs (--threads) but the largest node has {biggest:g}: "
                     f"using {biggest:g} CPU(s) per worker")
        cpw = biggest
    capacity = int(sum(c // cpw for c in cpus))
    n = capacity if workers is None else int(workers)
    if n > capacity:
        notes.append(f"{n} workers asked for; the nodes ({', '.join(f'{c:g}' for c in cpus)} CPUs) hold {capacity} "
                     f"of {cpw:g} CPU(s): using {capacity}")
        n = capacity
    return Fit(max(1, n), cpw, capacity, tuple(notes))


def unwrap(ray: Any, exc: BaseException) -> BaseException:
    """The DistilhashError raised inside an actor, when that is what a Ray error carries."""
    cause = getattr(exc, "cause", None)
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, DistilhashError):
        return cause
    return exc


def _is_loss(ray: Any, exc: BaseException) -> bool:
    """True when ``exc`` means the worker (or its node) is gone, not that its code failed."""
    e = ray.exceptions
    if isinstance(exc, e.RayActorError):
        return not exc.actor_init_failed
    return isinstance(exc, (e.WorkerCrashedError, e.NodeDiedError, e.ObjectLostError, e.LocalRayletDiedError))


class WorkerPool:
    """W actors of ``actor_cls(*args)`` over the cluster (see module docstring).

    Args:
        ray: the connected ``ray`` module.
        actor_cls: the actor body; it must have a ``node()`` method (returns where it runs) or
            inherit :class:`PoolWorker`; ``args`` its constructor arguments (the fitted CPU count
            is passed as keyword ``threads``).
        cpus_per_worker, workers: the request, fitted by :func:`fit_workers`.
        inflight: parts in flight per worker.
        label: names the work in errors (``"extract"``, ``"encode"``).
        say: where the fitting notes go (default: print).
        eager: queue parts on an actor as soon as it is created, not once its ``__init__`` has
            answered (Ray runs them after the ``__init__``): start-up and the first part overlap.
        check_paths: name -> path; each worker, as it starts, reports its node's facts
            (:func:`~distilhash.distributed.preflight.node_facts`) and any difference from the
            driver's (code, Python, those paths unreadable, DISTILHASH_HOME when ``need_home``) is a
            ClusterError naming the node before that worker's results are used.
    """

    def __init__(self, ray: Any, actor_cls: type, args: tuple, *, cpus_per_worker: float = 1.0,
                 workers: int | None = None, inflight: int = 2, max_attempts: int = 5, backoff: float = 0.5,
                 placement_timeout: float = 120.0, label: str = "work", say: Callable[[str], Any] | None = print,
                 eager: bool = False, check_paths: dict[str, str] | None = None, need_home: bool = False) -> None:
        self.ray = ray
        self.fit = fit_workers(ray, cpus_per_worker, workers)
        for note in self.fit.notes:
            if say is not None:
                say(f"note: {note}")
        self.label, self.inflight_per, self.max_attempts, self.backoff = label, inflight, max_attempts, backoff
        self.say = say
        self.eager = eager
        self.check_paths, self.need_home, self._mine = check_paths, need_home, None
        if check_paths is not None:
            from distilhash.distributed.preflight import node_facts

            self._mine = node_facts(check_paths)
        self._warned = False
        self.placement_timeout = placement_timeout
        self._remote = ray.remote(num_cpus=self.fit.cpus_per_worker, max_restarts=0, max_task_retries=0)(actor_cls)
        self._args = args
        self._threads = max(1, int(self.fit.cpus_per_worker))
        self.actors: dict[int, Any] = {}        # worker number -> handle
        self.ready: dict[int, Any] = {}         # worker number -> node facts, once its __init__ is done
        self._starting: dict[Any, int] = {}     # ref of node() -> worker number
        self._next = 0
        self._last_alive = time.monotonic()
        self.lost = 0                           # workers lost so far
        self.retried = 0                        # parts resubmitted after a loss
        for _ in range(self.fit.workers):
            self._spawn()

    # -- workers -----------------------------------------------------------------------------
    def _spawn(self) -> None:
        w, self._next = self._next, self._next + 1
        self.actors[w] = self._remote.remote(*self._args, threads=self._threads)
        ask = self.actors[w].node.remote() if self.check_paths is None else self.actors[w].node_facts.remote(self.check_paths)
        self._starting[ask] = w

    def _drop(self, w: int) -> None:
        handle = self.actors.pop(w, None)
        self.ready.pop(w, None)
        if handle is not None:
            try:
                self.ray.kill(handle)
            except Exception:  # noqa: BLE001 - already gone
                pass

    def _replace_lost(self) -> None:
        """Start replacements while the alive nodes have room for more workers than we hold."""
        try:
            room = fit_workers(self.ray, self.fit.cpus_per_worker, None).capacity
        except ClusterError:
            room = 0
        while len(self.actors) < min(self.fit.workers, room):
            self._spawn()

    def _lose(self, w: int) -> None:
        if w in self.actors:
            self.lost += 1
            self._drop(w)
            self._replace_lost()

    def _started(self, ref: Any) -> None:
        w = self._starting.pop(ref)
        try:
            facts = self.ray.get(ref)
        except Exception as exc:  # noqa: BLE001
            self._raise_init_failed(exc)
            if not _is_loss(self.ray, exc):
                self.close()
                raise unwrap(self.ray, exc) from None
            self._lose(w)
            return
        if self._mine is not None:
            from distilhash.distributed.preflight import compare_facts

            problems = compare_facts(self._mine, facts, f"node {facts['node_id'][:8]} ({facts['host']})",
                                     need_home=self.need_home)
            if problems:
                self.close()
                raise ClusterError("the Ray cluster's nodes cannot run this:\n  " + "\n  ".join(problems))
        self.ready[w] = facts
        self._last_alive = time.monotonic()

    def _raise_init_failed(self, exc: BaseException) -> None:
        """A ClusterError when ``exc`` says a worker's ``__init__`` raised (no node will do better)."""
        if isinstance(exc, self.ray.exceptions.RayActorError) and exc.actor_init_failed:
            self.close()
            raise ClusterError(f"a Ray {self.label} worker could not start: {exc}\n"
                               "(every node needs the same distilhash version, the dataset / model paths and "
                               "DISTILHASH_HOME at the same paths; see docs/distributed.md)") from None

    def _check_alive(self) -> None:
        if self.ready:
            self._last_alive = time.monotonic()
            return
        waited = time.monotonic() - self._last_alive
        if waited > 10 and not self._warned and self.say is not None:
            self._warned = True
            self.say(f"note: no Ray {self.label} worker has started for {waited:.0f} s; each asks "
                     f"{self.fit.cpus_per_worker:g} CPU(s) and the cluster has "
                     f"{self.ray.available_resources().get('CPU', 0):g} free (other jobs may hold them); "
                     f"waiting up to {self.placement_timeout:.0f} s")
        if waited > self.placement_timeout:
            nodes = alive_nodes(self.ray)
            self.close()
            raise ClusterError(
                f"no Ray {self.label} worker alive for {self.placement_timeout:.0f} s: "
                f"{len(nodes)} alive node(s) with {', '.join(f'{c:g}' for c in _node_cpus(nodes)) or 'no'} CPUs "
                f"(free now: {self.ray.available_resources().get('CPU', 0):g}); each worker needs "
                f"{self.fit.cpus_per_worker:g} CPU(s). No node is left that can hold one")

    # -- work --------------------------------------------------------------------------------
    def call(self, method: str, *args: Any) -> Any:
        """``method(*args)`` on one live worker, moving to another when it is lost."""
        for _ in range(self.max_attempts * max(1, self.fit.workers)):
            while not self.ready:
                self._wait_started(timeout=1.0)
            w = next(iter(self.ready))
            try:
                return self.ray.get(getattr(self.actors[w], method).remote(*args))
            except Exception as exc:  # noqa: BLE001
                if not _is_loss(self.ray, exc):
                    raise unwrap(self.ray, exc) from None
                self._lose(w)
        raise ClusterError(f"{method} failed on {self.max_attempts * self.fit.workers} Ray {self.label} workers in turn")

    def _wait_started(self, timeout: float) -> None:
        if self._starting:
            done, _ = self.ray.wait(list(self._starting), num_returns=1, timeout=timeout)
            for ref in done:
                self._started(ref)
        else:
            self._replace_lost()
            if not self._starting:
                time.sleep(timeout)
        self._check_alive()

    def run(self, parts: Iterable[tuple[Hashable, str, tuple]], on_result: Callable[[Hashable, Any], bool | None]) -> int:
        """Run every part ``(key, method, args)``; ``on_result(key, result)`` in completion order.

        ``on_result`` may return True to stop early (the rest is left undone). Returns the
        number of parts finished.
        """
        queue: deque[tuple[float, Hashable, str, tuple]] = deque((0.0, k, m, a) for k, m, a in parts)
        attempts: dict[Hashable, int] = {}
        inflight: dict[Any, tuple[int, Hashable, str, tuple]] = {}  # ref -> (worker, key, method, args)
        finished = 0
        while queue or inflight:
            now = time.monotonic()
            load = {w: 0 for w in (self.actors if self.eager else self.ready)}
            for w, *_ in inflight.values():
                if w in load:
                    load[w] += 1
            for w in list(load):
                while load[w] < self.inflight_per and queue and queue[0][0] <= now:
                    _, key, method, args = queue.popleft()
                    inflight[getattr(self.actors[w], method).remote(*args)] = (w, key, method, args)
                    load[w] += 1
            waiting = list(inflight) + list(self._starting)
            delay = max(0.05, min(1.0, (queue[0][0] - now) if queue else 1.0))
            if not waiting:
                self._wait_started(timeout=delay)
                continue
            done, _ = self.ray.wait(waiting, num_returns=1, timeout=delay)
            for ref in done:
                if ref in self._starting:
                    self._started(ref)
                    continue
                w, key, method, args = inflight.pop(ref)
                for start_ref in [r for r, sw in self._starting.items() if sw == w]:
                    self._started(start_ref)  # an eager part's worker: its facts are checked before its result is used
                try:
                    result = self.ray.get(ref)
                except Exception as exc:  # noqa: BLE001
                    self._raise_init_failed(exc)
                    if not _is_loss(self.ray, exc):
                        self.close()
                        raise unwrap(self.ray, exc) from None
                    attempts[key] = attempts.get(key, 0) + 1
                    if attempts[key] >= self.max_attempts:
                        self.close()
                        raise ClusterError(f"Ray {self.label} part {key} was lost with its worker {attempts[key]} "
                                           f"times; giving up (last error: {str(exc).splitlines()[0]})") from None
                    self.retried += 1
                    queue.append((time.monotonic() + self.backoff * 2 ** (attempts[key] - 1), key, method, args))
                    queue = deque(sorted(queue, key=lambda q: q[0]))
                    self._lose(w)
                    continue
                finished += 1
                if on_result(key, result):
                    return finished
            self._check_alive()
        return finished

    def pids(self) -> list[int]:
        """PIDs of the ready workers (tests kill them)."""
        return [int(info["pid"]) for info in self.ready.values()]

    def close(self) -> None:
        for w in list(self.actors):
            self._drop(w)
        self._starting.clear()


class PoolWorker:
    """Base of a pool actor body: ``node()`` says where it runs (node id, address, pid)."""

    def node(self) -> dict[str, Any]:
        import os

        import ray

        ctx = ray.get_runtime_context()
        return {"node_id": ctx.get_node_id(), "pid": os.getpid(), "host": os.uname().nodename}

    def node_facts(self, paths: dict[str, str]) -> dict[str, Any]:
        """:meth:`node` plus :func:`~distilhash.distributed.preflight.node_facts` of ``paths`` (the pool's start-up check)."""
        from distilhash.distributed.preflight import node_facts

        return {**node_facts(paths), **self.node()}
