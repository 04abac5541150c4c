"""Connecting to Ray: a user's cluster by address, or a local cluster started (and stopped) by us.

    with ray_session(address=None, num_cpus=2) as ray:   # local 2-CPU cluster on 127.0.0.1
        ...
    with ray_session("10.0.0.5:6379"):                    # a user's cluster (or $RAY_ADDRESS)
        ...

Ray is an optional extra (``pip install 'distilhash[ray]'``); it is imported only here, when a
session opens, so ``import distilhash`` never imports it. The extra does not include Ray Client
(``ray[client]``): run the driver on a node of the cluster and give the GCS address
(``HOST:PORT`` or ``auto``); a ``ray://`` address is refused with that advice.

Authentication: a cluster started with ``RAY_AUTH_MODE=token`` (Ray >= 2.52; on by default for
local clusters from 2.59) needs the same token in the driver: ``RAY_AUTH_MODE=token`` and
``RAY_AUTH_TOKEN`` (or ``RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token``) in the environment
before the command starts. A refused token becomes a :class:`ClusterError` saying so.

The driver's ``DISTILHASH_HOME`` (when set) is passed to every worker of the session
(``runtime_env`` ``env_vars``), so actors resolve dataset and teacher names like the driver.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distilhash.errors import ConfigError
from distilhash.distributed.pool import ClusterError

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
def ray_session(address: str | None = None, num_cpus: int | None = None, head_grace: float | str | None = "auto",
                **init_options: Any) -> Iterator[Any]:
    """Yield the ``ray`` module with a connected session.

    Args:
        address: a cluster address (``host:6379`` or ``auto``; ``ray://`` needs Ray Client, not installed); default:
            ``$RAY_ADDRESS``; when neither is set, a local cluster is started on 127.0.0.1 with
            ``num_cpus`` CPUs (default: all of this machine's) and no dashboard, and shut down on exit.
        num_cpus: CPUs of the local cluster (ignored when connecting to a cluster).
        head_grace: on a cluster, seconds its head may stay unreachable before this process ends
            with a message saying so (:class:`~distilhash.distributed.head_watch.HeadWatch`; Ray's
            own client would end it without one); ``"auto"``: 10 s before Ray would (50 s by
            default); None: no watch.

    A session that is already open (``ray.is_initialized()``) is reused and left open.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    watch = None
    if address:
        _connect(ray, address, init_options)
        if head_grace is not None:
            from distilhash.distributed.head_watch import HeadWatch

            grace = None if head_grace == "auto" else float(head_grace)
            watch = HeadWatch(ray.get_runtime_context().gcs_address, grace_s=grace).start()
    else:
        # "local": always a new instance of our own, never another user's cluster found on this machine
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                 log_to_driver=False, _node_ip_address="127.0.0.1", **init_options)
    try:
        yield ray
    finally:
        if watch is not None:
            watch.stop()
        ray.shutdown()


def _connect(ray: Any, address: str, init_options: dict[str, Any]) -> None:
    """``ray.init(address)`` with errors that say what to do."""
    from distilhash.errors import DistilhashError

    if address.startswith("ray://"):
        try:
            import ray.util.client  # noqa: F401
            import grpc  # noqa: F401
        except ImportError:
            raise ConfigError(f"{address}: a ray:// address needs Ray Client (pip package ray[client]), which "
                              "distilhash does not install; run the command on a node of the cluster and pass "
                              "the GCS address instead (--ray-address HEAD_IP:6379, or auto)") from None
    env = dict(init_options.pop("runtime_env", None) or {})
    if os.environ.get("DISTILHASH_HOME"):
        env.setdefault("env_vars", {}).setdefault("DISTILHASH_HOME", str(os.path.abspath(os.environ["DISTILHASH_HOME"])))
    try:
        ray.init(address=address, log_to_driver=False, runtime_env=env or None, **init_options)
    except Exception as exc:  # noqa: BLE001 - explain the two set-up mistakes Ray reports tersely
        text = str(exc) + " " + str(exc.__cause__ or "")
        if "AuthenticationError" in text or "InvalidAuthToken" in text or "auth" in type(exc.__cause__).__name__.lower():
            raise ClusterError(f"the Ray cluster at {address} refused this driver's token: set RAY_AUTH_MODE=token "
                               "and the cluster's token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token; "
                               "`ray get-auth-token` on the head prints it) before running the command") from None
        if isinstance(exc, ConnectionError):
            raise ClusterError(f"no Ray cluster answers at {address} ({str(exc).splitlines()[0]}); start one with "
                               "`ray start --head --port 6379` (see docs/distributed.md)") from None
        if isinstance(exc, DistilhashError):
            raise
        raise


def cluster_cpus(ray: Any) -> float:
    """Total CPUs the connected cluster offers (``ray.cluster_resources()['CPU']``)."""
    return float(ray.cluster_resources().get("CPU", 1.0))
