"""HTTP fuzz run of the search service: malformed requests against a real server, counted.

    python bench/serve_fuzz.py --requests 2400 --work data/tmp/serve-fuzz   # -> bench/results/serve_fuzz/serve_fuzz.{json,md}

Builds a small served world (the service tests' toy teacher and model, 400 items, an image and a
text index; the toy teacher preprocesses images like the real ones: shorter side to 224, centre
crop), starts ``distilhash.serve.start_service`` in a subprocess on 127.0.0.1 with a write key,
sends ``--requests`` malformed requests over raw sockets (the cases of
:mod:`distilhash.benchmark.http_fuzz`, round-robin, each with random variants), then stops the
server. Every answer is checked: no 5xx; no body that leaks internals (heap addresses, ``<class``,
tracebacks, exception class names, object reprs), image bodies excepted; the expected status
class per case where one is defined (e.g. a bomb must get 413). The server's resident memory is
read before and after (growth goal < 100 MB) with its high-water mark. Half-open connections
(silent, a partial request line, headers fed slowly) must be closed by the server's header
deadline. ``--serve JSON`` is the server subprocess (also used by ``bench/serve_slow_clients.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from distilhash.benchmark.http_fuzz import CAP, KEY, UPLOAD_MB, Routes, fuzz_cases, fuzz_markdown, run_fuzz
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.raw_http import exchange, request
from distilhash.benchmark.results import write_results
from distilhash.benchmark.server_process import ServerProcess, script_server
from distilhash.serve import routes

ROOT = Path(__file__).resolve().parents[1]
BENCH = "serve_fuzz"
ROUTES = Routes.of(routes)


def fuzz_server(work: Path, n_items: int = 400, header_timeout: float = 2.0, body_timeout: float = 2.0,
                upload_mb: float = UPLOAD_MB, body_limits: dict[str, Any] | None = None) -> ServerProcess:
    """``distilhash.serve.start_service`` over a toy world in a subprocess on 127.0.0.1 (a context manager)."""
    spec = {"work": str(work), "n_items": n_items, "header_timeout": header_timeout, "body_timeout": body_timeout,
            "upload_mb": upload_mb, "body_limits": body_limits}
    return script_server(Path(__file__), Path(work), spec,
                         ready=lambda port: exchange(port, request("GET", routes.HEALTH), timeout=5).status == 200)


def _serve(spec: dict[str, Any]) -> None:
    """The subprocess: build a fresh world, then serve it until terminated."""
    import signal

    from serve_fixtures import make_world

    from distilhash.serve.server import start_service

    work = Path(spec["work"]) / "world"
    shutil.rmtree(work, ignore_errors=True)  # a fresh world per run: the adds of an earlier run would collide
    make_world(work, n=int(spec["n_items"]))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    start_service([str(work / "ix-image"), str(work / "ix-text")], host="127.0.0.1", port=int(spec["port"]), api_key=KEY,
                  max_upload_mb=float(spec.get("upload_mb", UPLOAD_MB)), announce=None, thumbnails=False, header_timeout=float(spec["header_timeout"]),
                  body_timeout=float(spec["body_timeout"]), body_limits=spec.get("body_limits"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=2400)
    p.add_argument("--half-open", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "distilhash-serve-fuzz")
    p.add_argument("--out-name", default=BENCH, help="result name under bench/results/serve_fuzz/")
    p.add_argument("--serve", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        _serve(json.loads(args.serve))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], root=ROOT,
                              model_selection="none: a synthetic index is served and attacked, nothing is selected")
    with fuzz_server(args.work) as server:
        result = run_fuzz(server, ROUTES, args.requests, args.seed, args.half_open)
        server_info = {"header_timeout": server.spec["header_timeout"], "body_timeout": server.spec["body_timeout"],
                       "items": server.spec["n_items"], "upload_cap_bytes": CAP}
    rec = {"provenance": prov, "server": server_info, "goal": {"n_5xx": 0, "n_leaking_bodies": 0, "rss_growth_mib": 100},
           "cases": [c.name for c in fuzz_cases(ROUTES)], "result": result}
    paths = write_results(BENCH, args.out_name, rec, fuzz_markdown(rec), root=ROOT)
    print(paths["md"].read_text())
    ok = result["n_5xx"] == 0 and result["n_leaking_bodies"] == 0 and result["rss_mib"]["growth"] < 100
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
