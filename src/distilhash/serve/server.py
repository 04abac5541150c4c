"""Run the service: :func:`start_service` (blocking, uvicorn) — used by ``distilhash serve`` and the demo."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["start_service", "ensure_thumbnails", "page_url", "app_from_env"]


def page_url(host: str, port: int) -> str:
    """The address to open in a browser (``0.0.0.0`` / ``::`` shown as localhost)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"


def ensure_thumbnails(index_dirs: list[str | Path], announce: Any = print) -> None:
    """Write the thumbnail store of each index that has none yet (a second start reuses it)."""
    from distilhash.serve.thumbs import THUMBS_FILE, write_thumbnails

    for d in index_dirs:
        if not (Path(d) / THUMBS_FILE).exists():
            n = write_thumbnails(d, progress=True)
            if announce is not None:
                announce(f"{d}: wrote {n:,} thumbnails to {THUMBS_FILE}")


_ENV = "DISTILHASH_SERVE_APP"


def _build_app(spec: dict[str, Any]) -> Any:
    """The ready application of one server process: settings, app, warm-up, frozen GC (see :func:`start_service`)."""
    import sys

    import torch  # noqa: F401  (loaded now, so limit_threads caps its pool too)

    from distilhash.serve.app import create_app
    from distilhash.serve.stages import StartupStages
    from distilhash.threads import limit_threads

    limit_threads(max(1, int(spec["torch_threads"])))  # torch and numpy's BLAS pool (its spinning helper)
    if spec.get("switch_interval_ms"):
        sys.setswitchinterval(float(spec["switch_interval_ms"]) / 1e3)
    stages = None
    if spec.get("stages", False):  # the processes of workers > 1 each say so, without spinners over each other
        one = spec.get("process_label") is None
        stages = StartupStages(spinner=None if one else False,
                               prefix="distilhash serve: " if one else f"distilhash serve ({spec['process_label']}): ")
    n = len(spec["index_dirs"])
    with stages.stage(f"opening {n} index{'es' if n > 1 else ''} and the model") if stages else contextlib.nullcontext():
        app = create_app(spec["index_dirs"], model_dir=spec.get("model_dir"), teacher=spec.get("teacher"),
                         api_key=spec.get("api_key"), max_upload_mb=spec["max_upload_mb"],
                         body_timeout=spec.get("body_timeout", 15.0), allowed_hosts=spec.get("allowed_hosts"),
                         body_limits=spec.get("body_limits"), **spec["config"])
    if stages:
        from distilhash.serve.match import calibration_line

        for modality, target in app.state.service.targets.items():
            line = calibration_line(modality, target.reference.calibration if target.reference is not None else None)
            if line:
                stages.say(line)
    if spec.get("warmup", True):
        svc = app.state.service
        teachers = sorted({str(t.encoder.capabilities.teacher) for t in svc.targets.values() if t.encoder.capabilities.teacher})
        what = (f"loading the teacher {', '.join(teachers)} (image and text towers) and warming up" if teachers
                else "warming up the query encoders")
        with stages.stage(what) if stages else contextlib.nullcontext():
            svc.warm()
    if spec.get("freeze_gc", True):
        import gc

        gc.collect()
        gc.freeze()
    return app


def app_from_env() -> Any:
    """uvicorn factory of each worker process when ``workers > 1`` (settings in ``$DISTILHASH_SERVE_APP``)."""
    return _build_app({**json.loads(os.environ[_ENV]), "process_label": f"process {os.getpid()}"})


@contextlib.contextmanager
def _stop_quietly(announce: Any) -> Iterator[None]:
    """Ctrl-C or SIGTERM end the service with exit status 0 and one line.

    uvicorn shuts down on these signals and then raises the signal again on its own process (with the
    handlers it found restored), so the process died of SIGTERM and ``make demo`` printed
    ``make: *** [...] Terminated``; the handlers set here turn that re-raised signal into a normal exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        if announce is not None:
            announce("distilhash serve: stopped")
        raise SystemExit(0)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _engine_session(engine: str, ray_address: str | None) -> Iterator[None]:
    """The Ray session the ``ray`` engine's shard actors live in, open while the service runs (nothing for ``local``)."""
    if engine == "local":
        yield
        return
    from distilhash.distributed.runtime import ray_session  # the Ray engine only: never imported otherwise

    with ray_session(ray_address):
        yield


@contextlib.contextmanager
def _writer_for(spec: dict[str, Any], announce: Any) -> Iterator[str | None]:
    """The index writer of a multi-process writable service, in this (the parent) process, while the
    workers run; yields its socket path (None for a read-only service). See :mod:`distilhash.serve.writer`."""
    if not spec["api_key"]:
        yield None
        return
    from distilhash.index.layout import layout_of
    from distilhash.serve.engine import SearchService, ServiceConfig, ServiceError
    from distilhash.serve.writer import WriterChannel

    for d in spec["index_dirs"]:
        if layout_of(d) != "single":
            raise ServiceError(400, f"{d} is a sharded index: a writable service with several server processes "
                               "serves single indexes; drop --workers (one process writes and searches)")
    from distilhash.threads import limit_threads

    limit_threads(max(1, int(spec.get("torch_threads", 1))))  # the model's encoders run here: one core's worth, like a worker
    cfg = ServiceConfig(api_key=spec["api_key"], max_upload_bytes=int(spec["max_upload_mb"] * 2**20),
                        **{**spec["config"], "search_workers": 1, "write_nice": int(spec.get("writer_nice", 0))})
    service = SearchService(spec["index_dirs"], model_dir=spec.get("model_dir"), teacher=spec.get("teacher"), config=cfg)
    try:
        if spec.get("warmup", True):
            service.warm_writes()
        with WriterChannel(service, nice=int(spec.get("writer_nice", 0))) as channel:
            if announce is not None:
                announce(f"adding/deleting items needs the header X-API-Key: {spec['api_key']} "
                         f"(this process writes the index; the server processes forward writes to it)")
            yield channel.path
    finally:
        service.close()


def start_service(index_dir: str | Path | list[str | Path], host: str = "127.0.0.1", port: int = 8000,
                  model_dir: str | Path | None = None, teacher: str | None = None, api_key: str | None = None,
                  max_upload_mb: float = 8.0, torch_threads: int = 1, log_level: str = "warning",
                  warmup: bool = True, thumbnails: bool = True, announce: Any = print, switch_interval_ms: float | None = 0.5,
                  freeze_gc: bool = True, workers: int = 1, header_timeout: float | None = None, body_timeout: float = 15.0,
                  limit_concurrency: int = 4096, allowed_hosts: list[str] | None = None,
                  body_limits: dict[str, Any] | None = None, max_connections_per_address: int = 256,
                  ray_address: str | None = None, writer_nice: int = 0, stages: bool | None = None, **config: Any) -> None:
    """Serve the API and the page until interrupted (Ctrl-C); blocks.

    Args:
        index_dir: index directory, or a list (an image index and/or a text index).
        host, port: where to listen (default loopback only).
        api_key: enables POST/DELETE ``/api/items`` for requests with header ``X-API-Key``;
            ``"random"`` makes one and announces it.
        torch_threads: ``torch.set_num_threads`` for the teacher and model.
        warmup: encode one text query before listening (loads the teacher; first query is fast).
        thumbnails: write the index's thumbnail store first when it has none (items built from a
            prepared dataset; see :func:`distilhash.serve.thumbs.write_thumbnails`; progress bar).
        announce: called with a line of text (the page address); ``None`` for silence.
        stages: say on stderr what is being loaded while the service starts, a line per stage (a
            spinner on a terminal; :mod:`distilhash.serve.stages`); default: when ``announce`` is set.
        switch_interval_ms: ``sys.setswitchinterval`` of the server process (None: Python's 5 ms).
            The search workers release the GIL in every C call (scan, SQLite, syscalls) and must
            get it back from the busy event-loop thread; with 5 ms each re-acquisition could
            wait up to 5 ms, which stretched a batch of 20 queries by tens of milliseconds.
        freeze_gc: ``gc.freeze()`` once everything is loaded: the ~400k objects of torch,
            transformers, FastAPI and the index then stay out of the cyclic collector, whose
            full passes otherwise stop every thread for ~200 ms (the p99 of a loaded service).
        workers: server processes sharing the port (uvicorn ``workers``; each loads the index
            read-only, the model and the encoders, and keeps its own stats and caches). Python
            runs one thread at a time per process, so this is how HTTP handling uses several
            cores. With an ``api_key`` this process becomes the indexes' one writer and the
            server processes follow the indexes and forward adds and deletes to it
            (:mod:`distilhash.serve.writer`; single indexes only).
        header_timeout: seconds a connection may take to send its request headers before it is
            closed (None: :data:`~distilhash.serve.connections.HEADER_TIMEOUT_S`; slow bodies get 408).
        body_timeout: seconds a request body may stall between two chunks before a 408.
        limit_concurrency: most connections + requests at once (beyond it: 503); the process's
            open-file limit is raised to fit it when the hard limit allows.
        body_limits: :class:`~distilhash.serve.limits.BodyLimits` fields: minimum rate, grace,
            overall deadline, spool size, most uploads at once.
        max_connections_per_address: most open connections from one client address (0: no cap;
            behind a proxy every client has the proxy's address).
        allowed_hosts: more host names the ``Host`` / ``Origin`` headers may carry (``["*"]``: any).
            Bound to loopback, the service answers only for loopback names and these (DNS
            rebinding; :mod:`distilhash.serve.hosts`); bound elsewhere, it checks only when given.
        writer_nice: with ``api_key`` and ``workers > 1``: the writer's threads run each write at this
            much lower CPU priority (nice 0-19), so searches win the CPU from image encoding.
        ray_address: with ``engine="ray"``: the Ray cluster's GCS address (None: ``$RAY_ADDRESS``, else a
            local cluster on this machine); the session stays open while the service runs.
        **config: more :class:`~distilhash.serve.engine.ServiceConfig` fields (``engine="ray"`` and
            ``engine_options={"replicas": 2}``: sharded indexes searched by Ray actors, :mod:`distilhash.serve.engines`).
    """
    import uvicorn

    from distilhash.serve.connections import HEADER_TIMEOUT_S, check_port_free, raise_open_files, uvicorn_options
    from distilhash.serve.engine import ServiceError
    from distilhash.serve.hosts import default_allowed_hosts

    check_port_free(host, port)  # before minutes of loading, not after them
    dirs = [index_dir] if isinstance(index_dir, (str, Path)) else list(index_dir)
    if thumbnails:
        ensure_thumbnails(dirs, announce)
    if api_key == "random":
        api_key = secrets.token_urlsafe(18)
    workers = max(1, int(workers))
    if workers > 1 and config.get("engine", "local") != "local":
        raise ServiceError(400, f"--engine {config['engine']} runs one server process (its Ray session and shard "
                           "actors serve every request); drop --workers")
    config.setdefault("torch_threads", max(1, int(torch_threads)))
    spec = {"index_dirs": [str(d) for d in dirs], "model_dir": str(model_dir) if model_dir else None, "teacher": teacher,
            "api_key": api_key, "max_upload_mb": max_upload_mb, "torch_threads": torch_threads, "switch_interval_ms": switch_interval_ms,
            "warmup": warmup, "freeze_gc": freeze_gc, "body_timeout": body_timeout, "config": config,
            "allowed_hosts": default_allowed_hosts(host, allowed_hosts), "body_limits": body_limits, "writer_nice": writer_nice,
            "stages": announce is not None if stages is None else bool(stages)}
    raise_open_files(limit_concurrency + 256)
    conn = {"limit_concurrency": limit_concurrency, "per_address": max_connections_per_address}
    if workers > 1:
        with _writer_for(spec, announce) as writer_socket:
            if writer_socket is not None:
                spec["config"] = dict(config, writer_socket=writer_socket)
            os.environ[_ENV] = json.dumps(spec)
            if announce is not None:
                announce(f"distilhash serve: {workers} server processes, text queries: {config.get('query_encoder', 'auto')} encoder; "
                         f"open {page_url(host, port)} (API docs: {page_url(host, port)}docs)")
            with _stop_quietly(announce):
                uvicorn.run("distilhash.serve.server:app_from_env", factory=True, workers=workers, host=host, port=int(port),
                            log_level=log_level, access_log=False, **uvicorn_options(**conn, importable=True))
        return
    with _engine_session(config.get("engine", "local"), ray_address):
        app = _build_app(spec)
        svc = app.state.service
        if announce is not None:
            counts = ", ".join(f"{n:,} {m} items" for m, n in svc.health()["indexes"].items())
            used = ", ".join(sorted({t.encoder.capabilities.reader("text").name for t in svc.targets.values()}))
            announce(f"distilhash serve: {counts}; text queries: {used} encoder; "
                     f"open {page_url(host, port)} (API docs: {page_url(host, port)}docs)")
            if api_key:
                announce(f"adding/deleting items needs the header X-API-Key: {api_key}")
            if spec["allowed_hosts"] is None:
                announce("note: any Host header is answered (not bound to loopback, or --allowed-host '*'); "
                         "name the hosts clients use with --allowed-host to guard against DNS rebinding")
        with _stop_quietly(announce):
            uvicorn.run(app, host=host, port=int(port), log_level=log_level, access_log=False,
                        **uvicorn_options(header_timeout if header_timeout is not None else HEADER_TIMEOUT_S, **conn))
