"""The search service under hostile input, one question per sub-command (result folders: :data:`BENCHMARKS`).

    python bench/serve_fuzz.py --requests 2400 --work data/tmp/serve-fuzz   # -> bench/results/serve_fuzz/serve_fuzz.{json,md}
    python bench/serve_fuzz.py slow-clients --work WORK                     # -> bench/results/serve_slow_clients/...

Both serve a small world (the service tests' toy teacher and model, 400 items, an image and a
text index, a write key; the toy teacher preprocesses images like the real ones: shorter side to
224, centre crop) with ``distilhash.serve.start_service`` in a subprocess on 127.0.0.1 (``--serve
JSON`` is that subprocess), then stop it.

``fuzz`` (the default): ``--requests`` malformed requests over raw sockets (the cases of
:mod:`distilhash.benchmark.http_fuzz`, round-robin, each with random variants). Every answer is
checked: no 5xx; no body that leaks internals (heap addresses, ``<class``, tracebacks, exception
class names, object reprs), image bodies excepted; the expected status class per case where one
is defined (e.g. a bomb must get 413). The server's resident memory is read before and after
(growth goal < 100 MB) with its high-water mark. Half-open connections (silent, a partial request
line, headers fed slowly) must be closed by the server's header deadline.

``slow-clients``: 1,100 slow-drip connections plus 50 normal search clients
(:mod:`distilhash.benchmark.slow_clients`), the service's default limits and an 8 MB upload cap:

1. **baseline**: 50 closed-loop clients send text searches (``GET /api/search``) for
   ``--baseline-s`` seconds, no attack;
2. **attack**: a separate process opens ``--attackers`` connections (its open-file limit raised
   with ``resource.setrlimit``), spread over ``--addresses`` loopback source addresses
   (127.0.1.x), in three shapes, a third each: a ``POST /api/search/image`` announcing a
   near-cap body and then sending one byte every ``--drip-s`` seconds (the red-team shape);
   the same after 1 MB sent at once (a stalled near-cap upload, the memory attack); and request
   headers fed one byte every ``--drip-s`` seconds. Whenever the server answers or closes, the
   attacker reconnects after 1-2 s, until the attack ends (bounded loops);
3. after ``--ramp-s`` seconds of attack, the same 50 normal clients run for ``--duration-s``.

Recorded: the normal clients' requests, errors, p50/p90/p99 with and without the attack; the
attack's connections and what ended them (408, 503, closed, ...); the server's RSS before the
attack, its maximum during it (sampled every 0.5 s) and after; load average (provenance).
Goals (issue 27): normal error rate 0, p99 < 1 s, RSS growth < 200 MB.
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
from distilhash.benchmark.questions import question_argv
from distilhash.benchmark.raw_http import exchange, request
from distilhash.benchmark.results import write_results
from distilhash.benchmark.server_process import ServerProcess, script_server
from distilhash.benchmark.slow_clients import SHAPES, attack_run, slow_markdown, slow_plot
from distilhash.serve import routes

ROOT = Path(__file__).resolve().parents[1]
#: the result folders (benchmark names) this script writes, one per sub-command (read by tests/test_bench_results.py)
BENCHMARKS = ("serve_fuzz", "serve_slow_clients")
QUESTIONS = dict(zip(("fuzz", "slow-clients"), BENCHMARKS))
ROUTES = Routes.of(routes)
SLOW_UPLOAD_MB = 8.0
QUERIES = ["cat", "dog", "a red car", "tree and boat", "fish star", "moon", "cat dog car", "boat"]


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


def _normal(port: int, seconds: float, clients: int) -> dict[str, Any]:
    from urllib.parse import quote

    from distilhash.serve.loadgen import run_load

    paths = [f"{routes.SEARCH}?q={quote(q)}&k=10" for q in QUERIES]
    return run_load(f"http://127.0.0.1:{port}", paths, concurrency=clients, duration_s=seconds, timeout_s=30.0).summary()


def run(work: Path, attackers: int, addresses: int, clients: int, baseline_s: float, ramp_s: float, duration_s: float,
        drip_s: float, shapes: tuple[str, ...] = SHAPES, stalled_mb: float = 1.0,
        body_limits: dict[str, Any] | None = None) -> dict[str, Any]:
    """The slow-client attack run against the toy world (with the service's limits, ``body_limits`` aside)."""
    with fuzz_server(work, 400, 10.0, 15.0, SLOW_UPLOAD_MB, body_limits) as server:
        result = attack_run(server.proc.pid, server.port, lambda s, c: _normal(server.port, s, c), path=routes.SEARCH_IMAGE,
                            upload_mb=SLOW_UPLOAD_MB, attackers=attackers, addresses=addresses, clients=clients, baseline_s=baseline_s,
                            ramp_s=ramp_s, duration_s=duration_s, drip_s=drip_s, shapes=shapes, stalled_mb=stalled_mb,
                            server_body_limits=body_limits or "defaults")
    return {**result, "goals": {"normal_errors": 0, "normal_p99_ms": 1000, "rss_growth_mib": 200}}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="question")
    fz = sub.add_parser("fuzz", help="malformed requests, counted (serve_fuzz/)")
    fz.add_argument("--requests", type=int, default=2400)
    fz.add_argument("--half-open", type=int, default=60)
    fz.add_argument("--seed", type=int, default=0)
    fz.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "distilhash-serve-fuzz")
    fz.add_argument("--serve", help=argparse.SUPPRESS)
    sl = sub.add_parser("slow-clients", help="slow-drip connections beside normal clients (serve_slow_clients/)")
    for flag, kind, default in (("--attackers", int, 1100), ("--addresses", int, 11), ("--clients", int, 50), ("--baseline-s", float, 20.0),
                                ("--ramp-s", float, 20.0), ("--duration-s", float, 60.0), ("--drip-s", float, 10.0)):
        sl.add_argument(flag, type=kind, default=default, help="loopback source addresses of the attack (127.0.1.x)"
                        if flag == "--addresses" else None)
    sl.add_argument("--shapes", default=",".join(SHAPES), help="attack shapes, comma-separated: " + ", ".join(SHAPES))
    sl.add_argument("--stalled-mb", type=float, default=1.0, help="MB a stalled upload sends before it stalls")
    sl.add_argument("--max-uploads", type=int, default=None, help="server's most bodies at once (default: the service's)")
    sl.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "distilhash-serve-slow")
    for q, sp in (("fuzz", fz), ("slow-clients", sl)):
        sp.add_argument("--out-name", default=QUESTIONS[q], help=f"result name under bench/results/{QUESTIONS[q]}/")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(question_argv(sys.argv[1:] if argv is None else argv, QUESTIONS, "fuzz"))
    if args.question == "fuzz" and args.serve:
        _serve(json.loads(args.serve))
        return 0
    if args.question == "slow-clients":
        shapes = tuple(args.shapes.split(","))
        if not 1 <= args.addresses <= 254 or args.attackers < 1 or not set(shapes) <= set(SHAPES) or not 0 < args.stalled_mb < SLOW_UPLOAD_MB:
            p.error(f"--addresses: 1 to 254; --attackers: at least 1; --shapes: from {', '.join(SHAPES)}; --stalled-mb: below {SLOW_UPLOAD_MB:g}")
    bench = QUESTIONS[args.question]
    args.work.mkdir(parents=True, exist_ok=True)
    prov = collect_provenance(bench, args.out_name, root=ROOT, **({"seeds": [args.seed]} if args.question == "fuzz" else {}),
                              model_selection="none: a synthetic index is served and attacked, nothing is selected")
    if args.question == "fuzz":
        with fuzz_server(args.work) as server:
            result = run_fuzz(server, ROUTES, args.requests, args.seed, args.half_open)
            server_info = {"header_timeout": server.spec["header_timeout"], "body_timeout": server.spec["body_timeout"],
                           "items": server.spec["n_items"], "upload_cap_bytes": CAP}
        rec = {"provenance": prov, "server": server_info, "goal": {"n_5xx": 0, "n_leaking_bodies": 0, "rss_growth_mib": 100},
               "cases": [c.name for c in fuzz_cases(ROUTES)], "result": result}
        paths = write_results(bench, args.out_name, rec, fuzz_markdown(rec), root=ROOT)
        ok = result["n_5xx"] == 0 and result["n_leaking_bodies"] == 0 and result["rss_mib"]["growth"] < 100
    else:
        limits = {"max_uploads": args.max_uploads} if args.max_uploads else None
        result = run(args.work, args.attackers, args.addresses, args.clients, args.baseline_s, args.ramp_s, args.duration_s,
                     args.drip_s, shapes, args.stalled_mb, limits)
        rec = {"provenance": prov, "result": result}
        paths = write_results(bench, args.out_name, rec, slow_markdown(rec), lambda path: slow_plot(rec, path), root=ROOT)
        u, g = result["under_attack"], result["rss_mib"]["growth_max"]
        ok = u["errors"] == 0 and (u["p99_ms"] or 1e9) < 1000 and g < 200
    print(paths["md"].read_text())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
