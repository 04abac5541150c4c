"""A real multi-node Ray cluster on this host: one raylet per node, each started by ``ray start``.

    with LocalCluster(nodes=2, cpus_per_node=1) as cluster:   # head + 1 worker node, token auth
        with ray_session(cluster.address): ...                 # the driver connects like to any cluster
        cluster.kill_node(1)                                   # SIGKILL every process of node 1

For tests, benchmarks and trying the docs' cluster commands without machines. Every node listens
on ports picked at random (no clash with another cluster on the host), all nodes share one
``--temp-dir`` of ours, and token authentication is on (``RAY_AUTH_MODE=token`` with a random
``RAY_AUTH_TOKEN`` passed to every node and to this process while the cluster runs; nothing is
written to ``~/.ray``). Each ``ray start`` runs in a new session, so a node's processes (raylet,
its workers and agents; the head's GCS) are exactly the processes of that session:
:meth:`kill_node` and :meth:`stop` end them by PID, never by name (other clusters on the host are
left alone).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from distilhash.errors import ConfigError

__all__ = ["LocalCluster", "session_pids"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session_pids(sid: int) -> list[int]:
    """PIDs of the live processes whose session id is ``sid`` (from ``/proc/<pid>/stat``)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session ...
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(entry))
    return out


class LocalCluster:
    """Head + ``nodes - 1`` worker nodes of ``cpus_per_node`` CPUs each, on 127.0.0.1 (see module docstring).

    Args:
        nodes: raylets to start (>= 1; the first is the head).
        cpus_per_node: ``--num-cpus`` of each node.
        system_config: head ``--system-config`` (e.g. faster node-death detection in benchmarks).
        env: extra environment of every node (e.g. ``DISTILHASH_HOME``).
        head_cpus: ``--num-cpus`` of the head (default ``cpus_per_node``; 0 makes a head that
            holds no worker, so losing every worker node leaves no place for one).
    """

    def __init__(self, nodes: int = 2, cpus_per_node: int = 1, system_config: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None, object_store_mb: int = 200, head_cpus: int | None = None) -> None:
        if nodes < 1:
            raise ConfigError(f"a cluster needs nodes >= 1, got {nodes}")
        self.n_nodes, self.cpus = nodes, cpus_per_node
        self.head_cpus = cpus_per_node if head_cpus is None else head_cpus
        self.system_config = system_config
        self.object_store = object_store_mb * 2**20
        self.token = secrets.token_hex(16)
        self.env = {**os.environ, **(env or {}), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token,
                    "RAY_USAGE_STATS_ENABLED": "0"}
        self.temp_dir = Path(tempfile.mkdtemp(prefix="dh-ray-"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.sids: list[int] = []  # session id of each node's processes (= pid of its `ray start`)
        self._saved_env: dict[str, str | None] = {}

    def _ray(self) -> str:
        exe = Path(sys.executable).with_name("ray")
        return str(exe) if exe.is_file() else "ray"

    def _start(self, head: bool, env: dict[str, str] | None = None) -> None:
        ports = ["--node-manager-port", _free_port(), "--object-manager-port", _free_port(),
                 "--dashboard-agent-listen-port", _free_port(), "--dashboard-agent-grpc-port", _free_port(),
                 "--runtime-env-agent-port", _free_port(), "--metrics-export-port", _free_port(),
                 "--min-worker-port", 0, "--max-worker-port", 0]
        args = [self._ray(), "start", "--num-cpus", self.head_cpus if head else self.cpus, "--node-ip-address", "127.0.0.1",
                "--object-store-memory", self.object_store, "--disable-usage-stats", *ports]
        if head:
            import json

            args += ["--head", "--port", self.port, "--temp-dir", self.temp_dir, "--include-dashboard", "false",
                     "--dashboard-host", "127.0.0.1", "--dashboard-port", _free_port()]
            if self.system_config:
                args += ["--system-config", json.dumps(self.system_config)]
        else:
            args += ["--address", self.address]
        proc = subprocess.Popen([str(a) for a in args], env={**self.env, **(env or {})}, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.sids.append(proc.pid)
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            self.stop()
            raise RuntimeError(f"`ray start` of node {len(self.sids) - 1} failed:\n{out[-3000:]}")

    def start(self) -> LocalCluster:
        """Start every node; this process's environment gets the token until :meth:`stop`."""
        for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ADDRESS"):
            self._saved_env[key] = os.environ.get(key)
        os.environ.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token})
        os.environ.pop("RAY_ADDRESS", None)
        for i in range(self.n_nodes):
            self._start(head=i == 0)
        return self

    def add_node(self, env: dict[str, str] | None = None) -> int:
        """Start one more worker node (``env``: extra environment of its processes); returns its index."""
        self._start(head=False, env=env)
        return len(self.sids) - 1

    def node_pids(self, i: int) -> list[int]:
        """Live PIDs of node ``i`` (raylet, its workers and agents; the head's GCS too)."""
        return session_pids(self.sids[i])

    def kill_node(self, i: int) -> list[int]:
        """SIGKILL every process of node ``i`` (a machine lost); returns the PIDs killed."""
        if i == 0:
            raise ConfigError("node 0 is the head (its GCS holds the cluster); kill a worker node")
        pids = self.node_pids(i)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def stop(self) -> None:
        """Kill every process of every node (by PID), remove the temp dir, restore this process's environment."""
        for _ in range(3):  # workers may be forked while we kill
            pids = [p for sid in self.sids for p in session_pids(sid)]
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.3)
        for key, val in self._saved_env.items():
            if val is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = val
        self._saved_env = {}
        import shutil

        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
