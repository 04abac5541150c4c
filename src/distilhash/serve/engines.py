"""Where a served sharded index searches its shards (``engine``), and what an answer says about shards it missed.

==========  =========================================================================================
engine      how a sharded index is searched
==========  =========================================================================================
local       the threads fan-out: one thread per shard in the server process (default)
ray         the Ray fan-out: ``replicas`` actors per shard (default 2), placed on the nodes that can
            read the shard; searches go over each actor's authenticated socket endpoint (Ray calls with
            ``data_plane=False``, and as the fallback); a lost actor's searches move to another replica at once. Needs a Ray
            session for the life of the service (:func:`distilhash.serve.server.start_service`
            opens it: ``--ray-address``, or a local cluster)
==========  =========================================================================================

A single (unsharded) index always searches in the server process; asking for ``ray`` with one is
refused, naming the index. Every search answer carries ``partial`` and ``missing_shards``: with
the Ray engine a shard that has no live replica (and none came back within the fan-out's
``failover_wait``) is left out of the answer, never silently: ``partial: true`` and the shards'
numbers. When no shard at all can be reached the request fails with 503.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from distilhash.serve.refusal import ServiceError

__all__ = ["ENGINES", "layout_options", "partial_fields", "check_engine", "search_or_refuse", "cluster_refusal"]

_log = logging.getLogger("distilhash.serve")

#: engine -> the sharded index's fan-out (distilhash.index.fanout)
ENGINES: dict[str, str] = {"local": "threads", "ray": "ray"}

#: options the Ray fan-out takes from the service (distilhash.distributed.ray_fanout.RayFanout)
RAY_OPTIONS = frozenset({"replicas", "failover_wait", "max_attempts", "start_timeout", "data_plane", "data_timeout"})


def check_engine(engine: str, options: dict[str, Any], search_workers: int = 1) -> None:
    """ServiceError 500 for an unknown engine, an option it does not take, or several search workers
    with the Ray engine (one handle searches every shard in parallel; more handles would start more actors)."""
    if engine not in ENGINES:
        raise ServiceError(500, f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine != "local" and int(search_workers) > 1:
        raise ServiceError(500, f"search_workers {search_workers}: the {engine} engine searches every shard in "
                           "parallel from one handle; use search_workers 1")
    allowed = RAY_OPTIONS if engine == "ray" else frozenset()
    if unknown := sorted(set(options) - allowed):
        raise ServiceError(500, f"the {engine} engine takes no option {', '.join(unknown)}"
                           + (f" (it takes {', '.join(sorted(allowed))})" if allowed else " (replicas need --engine ray)"))


def layout_options(engine: str, options: dict[str, Any], directory: str | Path) -> dict[str, Any]:
    """The extra :func:`distilhash.index.open_index` arguments for ``directory`` under ``engine``."""
    from distilhash.index.layout import layout_of

    check_engine(engine, options)
    if layout_of(directory) != "sharded":
        if engine != "local":
            raise ServiceError(500, f"{directory} is a single index; the {engine} engine serves sharded indexes "
                               "(distilhash index build --shards S)")
        return {}
    if engine == "local":
        return {}
    return {"fanout": ENGINES[engine], "fanout_options": dict(options)}


def partial_fields(missing: list[int]) -> dict[str, Any]:
    """``{"partial", "missing_shards"}`` of an answer: which shards its results leave out (none: not partial)."""
    return {"partial": bool(missing), "missing_shards": [int(s) for s in missing]}


def cluster_refusal(engine: str) -> str | None:
    """Why a search cannot be answered now, or None: with the Ray engine, while the cluster's head does not
    answer (:func:`~distilhash.distributed.head_watch.unreachable_head`), a search would wait on Ray until
    the process ends; the request guard answers 503 with this at once instead."""
    if engine != "ray":
        return None
    from distilhash.distributed.head_watch import unreachable_head

    lost = unreachable_head()
    if lost is None:
        return None
    address, silent, left = lost
    return (f"the Ray cluster's head at {address} has not answered for {silent:.0f} s and searches need it; "
            f"this service ends in {left:.0f} s unless it comes back: restart the cluster, then the service")


def search_or_refuse(index: Any, query: Any, k: int) -> tuple[list[Any], list[int]]:
    """``index.search_partial(query, k)``; ServiceError 503 when no shard could be searched, 500 on other failures."""
    from distilhash.errors import ClusterError, DistilhashError

    try:
        return index.search_partial(query, k)
    except ClusterError as exc:
        _log.error("no shard of %s could be searched: %s", index.directory, exc)
        raise ServiceError(503, "no shard of the index could be searched (every replica is lost); "
                           "the server log names the shards; try again shortly") from None
    except DistilhashError as exc:
        raise ServiceError(500, f"search failed: {exc}") from None
