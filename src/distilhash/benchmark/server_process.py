"""A service in a subprocess on 127.0.0.1 for a benchmark: start it, wait until it answers, stop it.

Usage::

    with ServerProcess(lambda port: [sys.executable, "bench/x.py", "--serve", str(port)], work / "server.log") as s:
        ...  # s.port, s.proc.pid; GET /api/health answered 200

:func:`free_port` picks a loopback port the kernel says is free; :func:`rss_mib` reads a process's
resident memory (current and high-water mark) from ``/proc``. :func:`script_server` runs a bench
script's own ``--serve SPEC`` mode (``SPEC`` = its options as JSON, plus the port) under the
checkout's ``src/`` and ``tests/`` (the toy worlds of the tests). :class:`CliServer` is ``distilhash
serve INDEX`` with its options, its CPU time and every worker's stats.
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

__all__ = ["ServerProcess", "CliServer", "free_port", "rss_mib", "health_ok", "script_server"]


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
        append: add to ``log`` instead of starting it afresh.
    """

    def __init__(self, argv: Callable[[int], list[str]], log: Path, ready: Callable[[int], bool] = health_ok,
                 timeout_s: float = 300.0, env: dict[str, str] | None = None, spec: dict[str, Any] | None = None,
                 append: bool = False) -> None:
        self.argv, self.log_path, self.ready, self.timeout_s, self.env = argv, Path(log), ready, timeout_s, env
        self.spec, self.append = dict(spec or {}), append
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ServerProcess:
        self.log = open(self.log_path, "a" if self.append else "w")
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


def _get(url: str, timeout: float = 10) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


class CliServer(ServerProcess):
    """``distilhash serve INDEX`` on a free loopback port with its options (``None`` query encoder:
    the shipped default), its log appended to ``log``; ready when ``/api/health`` answers (600 s).
    ``env``: the server's environment (default: this process's, read now); ``extra``: more ``serve`` options."""

    def __init__(self, index: Path, log: Path, *, threads: int = 1, text_cache: int = 0, query_encoder: str | None = None,
                 search_workers: int = 1, workers: int = 1, index_backend: str = "auto",
                 index_options: list[str] | None = None, env: dict[str, str] | None = None,
                 extra: list[str] | None = None) -> None:
        opts = ["--threads", str(threads), "--text-cache", str(text_cache), "--search-workers", str(search_workers),
                "--workers", str(workers), "--index-backend", index_backend]
        opts += ["--query-encoder", query_encoder] if query_encoder is not None else []
        opts += [a for opt in index_options or [] for a in ("--index-option", opt)]
        opts += list(extra or [])
        super().__init__(lambda port: [sys.executable, "-m", "distilhash.cli.main", "serve", str(index), "--host", "127.0.0.1",
                                       "--port", str(port), *opts], log, timeout_s=600.0,
                         env=dict(os.environ) if env is None else env, append=True)
        self.workers = workers

    def _tree(self) -> list[int]:
        """The server's pid and its descendants' (uvicorn worker processes)."""
        parents: dict[int, int] = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        tree, frontier = [self.proc.pid], [self.proc.pid]
        while frontier:
            frontier = [p for p, pp in parents.items() if pp in frontier]
            tree += frontier
        return tree

    def cpu_s(self) -> float:
        """user + system CPU seconds of the server processes so far (all their threads)."""
        total = 0.0
        for pid in self._tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def all_stats(self, path: str, tries: int = 200) -> list[dict[str, Any]]:
        """The stats answer (``GET path``) of every worker process (new connections land on random workers)."""
        seen: dict[int, dict[str, Any]] = {}
        for _ in range(tries):
            st = _get(self.url + path)
            seen.setdefault(st.get("pid", 0), st)
            if len(seen) >= self.workers:
                break
        return list(seen.values())

    def wait_workers(self, path: str, timeout: float = 600) -> None:
        """Until every worker process answers ``GET path`` (each loads the index and model on its own)."""
        deadline = time.monotonic() + timeout
        while len(self.all_stats(path, tries=50)) < self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only some of {self.workers} server processes answered within {timeout} s; see {self.log_path}")
            time.sleep(1)


def script_server(script: Path, work: Path, spec: dict[str, Any], ready: Callable[[int], bool] = health_ok) -> ServerProcess:
    """``python SCRIPT --serve JSON`` (``spec`` + ``"port"``) with the checkout's ``src/`` and ``tests/`` on the
    path; its log is ``work/server.log``."""
    root = Path(script).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root / "tests"), os.environ.get("PYTHONPATH", "")])}
    return ServerProcess(lambda port: [sys.executable, str(script), "--serve", json.dumps({**spec, "port": port})],
                         Path(work) / "server.log", ready=ready, env=env, spec=spec)
