"""A small closed-loop HTTP load generator for loopback tests (asyncio, raw HTTP/1.1 keep-alive).

``concurrency`` clients each send a GET, wait for the full response, and send the next, until
``duration_s`` has passed or ``max_requests`` were sent — whichever comes first, so a run always
stops by itself. Only loopback hosts are accepted. The client is hand-written (not httpx) so
that on a small machine the load generator costs little CPU next to the server it measures.

Latency of one request = send of the request line to the last body byte received.

The generator's own CPU time is measured (``LoadResult.cpu_s``: user + system of this process
during the run), because on a small machine it competes with the server. It runs on uvloop when
that is installed (``LoadResult.loop``), requests are pre-encoded bytes, and each request's
timeout is an ``asyncio.timeout`` scope (no extra task per request).
"""

from __future__ import annotations

import asyncio
import random
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np

__all__ = ["ACCEPTED", "LoadResult", "Session", "GetSession", "run_load", "run_sessions", "http_request", "multipart", "LOOPBACK", "stop_server_process"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class LoadResult:
    """Outcome of :func:`run_load`; latencies in milliseconds."""

    requests: int = 0
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    status_counts: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    concurrency: int = 0
    cpu_s: float = 0.0
    loop: str = "asyncio"

    def summary(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ms, float)
        pct = np.percentile(lat, [50, 90, 99, 99.9]).round(3).tolist() if len(lat) else [None] * 4
        return {"requests": self.requests, "errors": self.errors, "error_examples": self.error_examples[:5],
                "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
                "concurrency": self.concurrency, "wall_s": round(self.wall_s, 2),
                "throughput_rps": round(self.requests / self.wall_s, 1) if self.wall_s else None,
                "p50_ms": pct[0], "p90_ms": pct[1], "p99_ms": pct[2], "p999_ms": pct[3],
                "mean_ms": round(float(lat.mean()), 3) if len(lat) else None,
                "max_ms": round(float(lat.max()), 3) if len(lat) else None,
                "loadgen_cpu_s": round(self.cpu_s, 2), "loadgen_loop": self.loop,
                "loadgen_cpu_ms_per_request": round(self.cpu_s * 1e3 / self.requests, 4) if self.requests else None,
                "loadgen_cpu_share_of_one_core": round(self.cpu_s / self.wall_s, 3) if self.wall_s else None}


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() == "close"


class Session(Protocol):
    """One scripted client: what to send next and what to make of the answer (see :func:`run_sessions`)."""

    kind: str  #: results are kept per kind (e.g. ``"search"``, ``"write"``)
    pause_s: float  #: think time after each answer (0: closed loop, the next request at once)

    def next_request(self) -> tuple[str, bytes]:
        """``(label, raw HTTP/1.1 request bytes)`` of the next request."""
        ...

    def done(self, label: str, status: int | None, body: bytes) -> str | None:
        """The answer (``status`` None: no answer, the connection failed or timed out); a problem, None
        (any status from 300 on is then a problem), or :data:`ACCEPTED` (the answer was the expected one,
        e.g. a 404 for an item just deleted)."""
        ...


#: what :meth:`Session.done` returns for an answer that is right though its status is not 2xx
ACCEPTED = ""


class GetSession:
    """GETs drawn by ``next_path`` (``(label, request bytes)``), answers checked by ``check`` (the clients of :func:`run_load`)."""

    def __init__(self, next_path: Callable[[], tuple[str, bytes]], check: Callable[[int, bytes], str | None] | None = None,
                 kind: str = "get") -> None:
        self.kind = kind
        self.pause_s = 0.0
        self.next_request = next_path
        self.check = check

    def done(self, label: str, status: int | None, body: bytes) -> str | None:
        return self.check(status, body) if self.check and status == 200 else None


def http_request(method: str, path: str, host: str, port: int, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """Raw HTTP/1.1 request bytes (keep-alive; ``Content-Length`` added when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[str, bytes]:
    """``(content type, body)`` of a multipart/form-data form; ``files``: name -> (filename, bytes, mime)."""
    boundary = f"dhload{random.getrandbits(64):016x}"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v.encode() + b"\r\n"
             for k, v in fields.items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{fn}"\r\nContent-Type: {mime}\r\n\r\n'.encode()
              + data + b"\r\n" for k, (fn, data, mime) in files.items()]
    return f"multipart/form-data; boundary={boundary}", b"".join(parts) + f"--{boundary}--\r\n".encode()


async def _client(host: str, port: int, session: Session, deadline: float, budget: list[int],
                  res: LoadResult, timeout_s: float) -> None:
    reader = writer = None
    while time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        path, request = session.next_request()
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                status, body, close = await _read_response(reader)
            ms = (time.perf_counter() - t0) * 1e3
            res.requests += 1
            res.status_counts[status] = res.status_counts.get(status, 0) + 1
            problem = session.done(path, status, body)
            if problem is None and status >= 300:  # ACCEPTED ("") is not None: an expected non-2xx answer
                problem = f"HTTP {status}: {body[:200]!r}"
            if problem:
                res.errors += 1
                res.error_examples.append(f"{path}: {problem}")
            else:
                res.latencies_ms.append(ms)
            if close:
                writer.close()
                reader = writer = None
        except (OSError, TimeoutError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            res.requests += 1
            res.errors += 1
            res.error_examples.append(f"{path}: {type(exc).__name__}: {exc}")
            session.done(path, None, b"")
            if writer is not None:
                writer.close()
            reader = writer = None
        if session.pause_s > 0 and time.perf_counter() < deadline:
            await asyncio.sleep(min(session.pause_s, deadline - time.perf_counter()))
    if writer is not None:
        writer.close()


def _loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        return None, "asyncio"
    return uvloop.new_event_loop, "uvloop"


def run_load(base_url: str, paths: Sequence[str], concurrency: int = 50, duration_s: float = 60.0,
             max_requests: int = 1_000_000, timeout_s: float = 10.0, weights: Sequence[float] | None = None,
             seed: int = 0, check: Callable[[int, bytes], str | None] | None = None) -> LoadResult:
    """Closed-loop load on ``base_url`` (loopback only) with GET ``paths`` drawn at random (``weights``).

    Args:
        check: optional ``(status, body) -> problem or None`` run on every 200 response.
    Raises:
        ValueError: ``base_url`` is not a loopback http address.
    """
    u = urlsplit(base_url)  # checked (loopback only) by run_sessions
    rng = random.Random(seed)
    paths = list(paths)
    cum = None if weights is None else np.cumsum(np.asarray(weights, float) / np.sum(weights)).tolist()

    host, port = u.hostname, u.port or 80
    requests = [(p, http_request("GET", p, host, port)) for p in paths]
    import bisect

    def next_path() -> tuple[str, bytes]:
        if cum is None:
            return requests[rng.randrange(len(requests))]
        return requests[min(len(requests) - 1, bisect.bisect_left(cum, rng.random()))]

    session = GetSession(next_path, check)
    return run_sessions(base_url, [session] * concurrency, duration_s, max_requests, timeout_s)["get"]


def run_sessions(base_url: str, sessions: Sequence[Session], duration_s: float = 60.0, max_requests: int = 1_000_000,
                 timeout_s: float = 10.0) -> dict[str, LoadResult]:
    """Closed-loop load: one client per entry of ``sessions`` (an object may drive several), each
    sending its session's next request once the previous answer is in; results per ``kind``.

    A status of 300 or more, no answer, or a problem returned by ``session.done`` counts as an
    error (its latency is not kept). Raises ValueError when ``base_url`` is not a loopback http address.
    """
    u = urlsplit(base_url)
    if u.scheme != "http" or u.hostname not in LOOPBACK:
        raise ValueError(f"load tests run on loopback only (http://127.0.0.1:PORT); got {base_url!r}")
    host, port = u.hostname, u.port or 80
    factory, loop_name = _loop_factory()
    results: dict[str, LoadResult] = {}
    for s in sessions:
        r = results.setdefault(s.kind, LoadResult(loop=loop_name))
        r.concurrency += 1
    budget = [int(max_requests)]

    async def main() -> None:
        deadline = time.perf_counter() + duration_s
        await asyncio.gather(*(_client(host, port, s, deadline, budget, results[s.kind], timeout_s) for s in sessions))

    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    for r in results.values():  # the generator's CPU is shared by every kind; each records the whole
        r.wall_s, r.cpu_s = wall, cpu
    return results


def stop_server_process(proc: Any, timeout: float = 20.0) -> None:
    """Stop a server subprocess this process started: SIGTERM, then SIGKILL after ``timeout`` s."""
    import subprocess

    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
