"""Notice when the Ray cluster's head is lost, and say so before Ray ends the driver.

A driver connected to a cluster (``ray_session(address)``) cannot go on without the head node's
GCS: Ray's own client retries for ``RAY_gcs_rpc_server_reconnect_timeout_s`` (60 s by default)
and then terminates the process from a C++ thread with "Failed to connect to GCS within 60
seconds", without a word about the work already done. A :class:`HeadWatch` is a daemon thread
that connects to the GCS port every ``every_s`` seconds; when the port has not accepted a
connection for ``grace_s`` seconds (:func:`default_grace`: 10 s inside Ray's own window, so a
head that Ray's GCS fault tolerance brings back in time is still waited for) it writes one
message to stderr (the head's address, how long, what the running job keeps on disk:
:func:`note`, and how to resume) and ends the process with :data:`EXIT_HEAD_LOST`. Finished
work is durable before the driver counts it (an extraction's parts, a shard's files), so nothing
finished is lost by ending here rather than when Ray would.

    with HeadWatch("10.0.0.5:6379"):     # ray_session does this for every cluster it connects to
        note("extraction: finished parts stay in CACHE/shards; rerun the same command to resume")
        ...
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["HeadWatch", "note", "unreachable_head", "default_grace", "ray_reconnect_timeout", "EXIT_HEAD_LOST"]

#: exit status of a driver whose cluster head was lost (BSD's EX_TEMPFAIL: try again later)
EXIT_HEAD_LOST = 75

_current: list[HeadWatch] = []


def note(text: str) -> None:
    """What the running job keeps if the head is lost now (said in the message; replaces the previous note)."""
    for watch in _current:
        watch.kept = text


def unreachable_head() -> tuple[str, float, float] | None:
    """``(address, seconds unreachable, seconds until the watch ends the process)`` while a watched head
    does not answer (a service refuses searches meanwhile instead of letting them hang), else None."""
    for watch in _current:
        since = watch.silent_since
        if since is not None:
            silent = time.monotonic() - since
            return watch.address, silent, max(0.0, watch.grace_s - silent)
    return None


def ray_reconnect_timeout() -> float:
    """Seconds Ray's client waits for a lost GCS before it ends the process (``RAY_gcs_rpc_server_reconnect_timeout_s``)."""
    try:
        return float(os.environ.get("RAY_gcs_rpc_server_reconnect_timeout_s", "60"))
    except ValueError:
        return 60.0


def default_grace() -> float:
    """How long the watch waits for a lost head: 10 s before Ray would end the process (at least 5 s)."""
    return max(5.0, ray_reconnect_timeout() - 10.0)


def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class HeadWatch:
    """A daemon thread ending this process, with a message, when ``gcs_address`` stops accepting connections.

    Args:
        gcs_address: ``host:port`` of the head's GCS (``ray.get_runtime_context().gcs_address``).
        grace_s: seconds without a connection before the process ends (default :func:`default_grace`).
        every_s: seconds between two connection attempts.
        exit: called with :data:`EXIT_HEAD_LOST` (default ``os._exit``: Ray's threads would hold up a normal exit).
        stream: where the message goes (default stderr).
    """

    def __init__(self, gcs_address: str, grace_s: float | None = None, every_s: float = 2.0,
                 exit: Callable[[int], Any] = os._exit, stream: TextIO | None = None) -> None:
        host, _, port = gcs_address.rpartition(":")
        self.address, self.host, self.port = gcs_address, host.strip("[]"), int(port)
        self.grace_s = default_grace() if grace_s is None else grace_s
        self.every_s, self._exit, self._stream = every_s, exit, stream
        self.kept = ""
        self.silent_since: float | None = None  # monotonic time of the first refused connection in a row
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="distilhash-head-watch", daemon=True)

    def message(self, silent_s: float) -> str:
        """What the user reads when the head is lost."""
        kept = f" {self.kept}." if self.kept else ""
        return (f"distilhash: lost the Ray cluster's head: its GCS at {self.address} has refused or ignored "
                f"connections for {silent_s:.0f} s (the head node stopped or is unreachable), and no Ray work can "
                f"go on without it.{kept} Start the cluster again (`ray start --head` on the head, then `ray start "
                f"--address` on the other nodes) and rerun the same command. Ending now (exit status "
                f"{EXIT_HEAD_LOST}); Ray would end it after {ray_reconnect_timeout():.0f} s.")

    def _run(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.every_s):
            if _reachable(self.host, self.port, timeout=min(2.0, self.every_s)):
                last_ok, self.silent_since = time.monotonic(), None
                continue
            if self.silent_since is None:
                self.silent_since = last_ok
            silent = time.monotonic() - last_ok
            if silent >= self.grace_s and not self._stop.is_set():
                stream = self._stream or sys.stderr
                stream.write("\n" + self.message(silent) + "\n")
                stream.flush()
                self._exit(EXIT_HEAD_LOST)
                return

    def start(self) -> HeadWatch:
        _current.append(self)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self in _current:
            _current.remove(self)

    def __enter__(self) -> HeadWatch:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
