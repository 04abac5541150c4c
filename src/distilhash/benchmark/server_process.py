"""A service in a subprocess on 127.0.0.1 for a benchmark: start it, wait until it answers, stop it.

Usage::

    with ServerProcess(lambda port: [sys.executable, "bench/x.py", "--serve", str(port)], work / "server.log") as s:
        ...  # s.port, s.proc.pid; GET /api/health answered 200

:func:`free_port` picks a loopback port the kernel says is free; :func:`rss_mib` reads a process's
resident memory (current and high-water mark) from ``/proc``. :func:`script_server` runs a bench
script's own ``--serve SPEC`` mode (``SPEC`` = its options as JSON, plus the port) under the
checkout's ``src/`` and ``tests/`` (the toy worlds of the tests).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ServerProcess", "free_port", "rss_mib", "health_ok", "script_server"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> dict[str, float]:
    """``{"VmRSS": current, "VmHWM": high-water mark}`` of process ``pid`` in MiB (Linux ``/proc``)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024.0
    return out


def health_ok(port: int, path: str = "/api/health") -> bool:
    """True when ``GET http://127.0.0.1:port{path}`` answers 200 (raises OSError while nothing listens)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status == 200


class ServerProcess:
    """A server subprocess on a free loopback port (a context manager).

    Args:
        argv: the command, given the port it must listen on.
        log: file that receives the server's stdout and stderr.
        ready: ``ready(port) -> bool``, polled until True (OSError counts as not yet).
        timeout_s: how long the server may take to become ready.
        env: environment of the subprocess (default: this process's).
        spec: the options the server was started with (kept for the caller, e.g. its timeouts).
    """

    def __init__(self, argv: Callable[[int], list[str]], log: Path, ready: Callable[[int], bool] = health_ok,
                 timeout_s: float = 300.0, env: dict[str, str] | None = None, spec: dict[str, Any] | None = None) -> None:
        self.argv, self.log_path, self.ready, self.timeout_s, self.env = argv, Path(log), ready, timeout_s, env
        self.spec = dict(spec or {})
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ServerProcess:
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv(self.port), env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            return self._wait_ready()
        except BaseException:
            self.__exit__()
            raise

    def _wait_ready(self) -> ServerProcess:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if self.ready(self.port):
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the server did not answer within {self.timeout_s:.0f} s; see {self.log_path}")

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:  # SIGTERM; SIGKILL if it lingers
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def script_server(script: Path, work: Path, spec: dict[str, Any], ready: Callable[[int], bool] = health_ok) -> ServerProcess:
    """``python SCRIPT --serve JSON`` (``spec`` + ``"port"``) with the checkout's ``src/`` and ``tests/`` on the
    path; its log is ``work/server.log``."""
    root = Path(script).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root / "tests"), os.environ.get("PYTHONPATH", "")])}
    return ServerProcess(lambda port: [sys.executable, str(script), "--serve", json.dumps({**spec, "port": port})],
                         Path(work) / "server.log", ready=ready, env=env, spec=spec)
