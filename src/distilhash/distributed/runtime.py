"""Connecting to Ray: a user's cluster by address, or a local cluster started (and stopped) by us.

    with ray_session(address=None, num_cpus=2) as ray:   # local 2-CPU cluster on 127.0.0.1
        ...
    with ray_session("ray://head:10001"):                 # a user's cluster (or $RAY_ADDRESS)
        ...

Ray is an optional extra (``pip install 'distilhash[ray]'``); it is imported only here, when a
session opens, so ``import distilhash`` never imports it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distilhash.errors import ConfigError

__all__ = ["import_ray", "ray_session", "cluster_cpus"]


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError telling how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("the Ray engine needs the optional dependency ray: pip install 'distilhash[ray]' "
                          f"(ray==2.60.0); without it use the default single-process engine ({exc})") from None
    return ray


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None, **init_options: Any) -> Iterator[Any]:
    """Yield the ``ray`` module with a connected session.

    Args:
        address: a cluster address (``ray://host:10001``, ``host:6379`` or ``auto``); default:
            ``$RAY_ADDRESS``; when neither is set, a local cluster is started on 127.0.0.1 with
            ``num_cpus`` CPUs (default: all of this machine's) and no dashboard, and shut down on exit.
        num_cpus: CPUs of the local cluster (ignored when connecting to a cluster).

    A session that is already open (``ray.is_initialized()``) is reused and left open.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        ray.init(address=address, log_to_driver=False, **init_options)
    else:
        # "local": always a new instance of our own, never another user's cluster found on this machine
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                 log_to_driver=False, _node_ip_address="127.0.0.1", **init_options)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: Any) -> float:
    """Total CPUs the connected cluster offers (``ray.cluster_resources()['CPU']``)."""
    return float(ray.cluster_resources().get("CPU", 1.0))
