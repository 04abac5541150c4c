"""HTTP fuzz run of the search service: malformed requests against a real server, counted.

    python bench/serve_fuzz.py --requests 2400 --work data/tmp/serve-fuzz   # -> bench/results/serve_fuzz/serve_fuzz.{json,md}

Builds a small served world (the service tests' toy teacher and model, 400 items, an image and a
text index; the toy teacher preprocesses images like the real ones: shorter side to 224, centre
crop), starts ``distilhash.serve.start_service`` in a subprocess on 127.0.0.1 with a write key,
sends ``--requests`` malformed requests over raw sockets (cases drawn round-robin from
:data:`CASES`, each with random variants), then stops the server. Every answer is checked:

* no 5xx status;
* no body that leaks internals (:data:`LEAKS`: heap addresses, ``<class``, tracebacks, exception
  class names, object reprs), image bodies excepted;
* the expected status class per case where one is defined (e.g. a bomb must get 413);

and the server's resident memory (``/proc/PID/status`` VmRSS) is read before and after (growth
goal < 100 MB) with its high-water mark (VmHWM). Half-open connections (silent, a partial request
line, headers fed slowly) are opened in a batch and must be closed by the server's header
deadline. The provenance block records command, commit, machine and load average.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.server_process import ServerProcess, rss_mib, script_server
from distilhash.serve import routes

ROOT = Path(__file__).resolve().parents[1]
BENCH = "serve_fuzz"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve_fuzz_cases import CAP, CASES, KEY, UPLOAD_MB, Answer, exchange, request  # noqa: E402

__all__ = ["CASES", "fuzz_server", "run_fuzz", "half_open", "leaks", "Answer"]

#: what a leaking body looks like
LEAKS = {
    "heap address": re.compile(rb"0x[0-9a-fA-F]{6,}"),
    "class repr": re.compile(rb"<class"),
    "traceback": re.compile(rb"Traceback"),
    "object repr": re.compile(rb"object at"),
    "exception name": re.compile(rb"\b[A-Z][A-Za-z]*(?:Error|Exception|Warning)\b"),
    # a value quoted the way Python's repr() quotes it ('it000', 'a\\x00'); messages quote values
    # JSON-style ("it000"); the literal path segments '.' and '..' of the id rules excepted
    "python repr": re.compile(rb"(?<![A-Za-z])'(?!\.\.?')[^'\s]+'"),
}


# -- half-open connections -----------------------------------------------------------------
def half_open(port: int, n: int, header_timeout: float) -> dict[str, Any]:
    """Open ``n`` connections that never finish their headers; count those the server closes in time."""
    health, items = routes.HEALTH.encode(), routes.ITEMS.encode()
    kinds = [b"", b"GET " + health[:-3], b"GET " + health + b" HTTP/1.1\r\nHost: x\r\n", b"POST " + items + b" HTTP/1.1\r\nX-Slow: "]
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=header_timeout * 4 + 10)
        s.sendall(kinds[i % len(kinds)])
        socks.append(s)
    health = exchange(port, request("GET", routes.HEALTH))  # the server still answers meanwhile
    t0 = time.monotonic()
    closed = 0
    for s in socks:
        try:
            closed += s.recv(1024) == b""
        except (socket.timeout, ConnectionResetError):
            pass
        finally:
            s.close()
    return {"opened": n, "closed_by_server": closed, "seconds_until_all_closed": round(time.monotonic() - t0, 2),
            "health_status_meanwhile": health.status}


# -- the server ------------------------------------------------------------------------------
def fuzz_server(work: Path, n_items: int = 400, header_timeout: float = 2.0, body_timeout: float = 2.0,
                upload_mb: float = UPLOAD_MB, body_limits: dict[str, Any] | None = None) -> ServerProcess:
    """``distilhash.serve.start_service`` over a toy world in a subprocess on 127.0.0.1 (a context manager)."""
    spec = {"work": str(work), "n_items": n_items, "header_timeout": header_timeout, "body_timeout": body_timeout,
            "upload_mb": upload_mb, "body_limits": body_limits}
    return script_server(Path(__file__), Path(work), spec,
                         ready=lambda port: exchange(port, request("GET", routes.HEALTH), timeout=5).status == 200)


def _serve(spec: dict[str, Any]) -> None:
    """The subprocess: build (or reuse) the world, then serve it until terminated."""
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


# -- the run -------------------------------------------------------------------------------
def leaks(answer: Answer) -> list[str]:
    if answer.headers.get("content-type", "").startswith("image/"):
        return []
    return [name for name, rx in LEAKS.items() if rx.search(answer.body)]


def run_fuzz(server: ServerProcess, n_requests: int, seed: int = 0, n_half_open: int = 40, progress: bool = True) -> dict[str, Any]:
    """Send ``n_requests`` case requests (round-robin over :data:`CASES`), then the half-open batch; the tallies."""
    rng = random.Random(seed)
    ctx: dict[str, Any] = {}
    per_case: dict[str, Counter] = defaultdict(Counter)
    problems: list[dict[str, Any]] = []
    rss_before = rss_mib(server.proc.pid)
    t0 = time.monotonic()
    for i in range(n_requests):
        case = CASES[i % len(CASES)]
        parts = case.make(rng, ctx)
        ans = exchange(server.port, parts, pause=case.pause)
        per_case[case.name][ans.status] += 1
        leaked = leaks(ans)
        bad_status = ans.status >= 500 or (case.expect and ans.status not in case.expect)
        if leaked or bad_status:
            problems.append({"case": case.name, "status": ans.status, "leaks": leaked, "body": ans.body[:300].decode("utf-8", "replace"),
                             "request_head": parts[0][:200].decode("latin-1")})
        if progress and (i + 1) % 200 == 0:
            print(f"  {i + 1}/{n_requests} requests, {len(problems)} problems, {time.monotonic() - t0:.0f} s", flush=True)
    half = half_open(server.port, n_half_open, server.spec["header_timeout"])
    rss_after = rss_mib(server.proc.pid)
    statuses = Counter()
    for c in per_case.values():
        statuses.update(c)
    return {
        "requests": n_requests + n_half_open + 1,
        "case_requests": n_requests,
        "seconds": round(time.monotonic() - t0, 1),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "per_case": {name: {str(k): v for k, v in sorted(c.items())} for name, c in per_case.items()},
        "n_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "n_leaking_bodies": sum(1 for p in problems if p["leaks"]),
        "n_unexpected_status": sum(1 for p in problems if not p["leaks"] and p["status"] < 500),
        "problems": problems[:50],
        "half_open": half,
        "rss_mib": {"before": round(rss_before["VmRSS"], 1), "after": round(rss_after["VmRSS"], 1),
                    "growth": round(rss_after["VmRSS"] - rss_before["VmRSS"], 1), "peak": round(rss_after["VmHWM"], 1)},
    }


def _markdown(rec: dict[str, Any]) -> str:
    r = rec["result"]
    goal = rec["goal"]
    lines = [
        "# HTTP fuzz run of the search service", "",
        "| figure | value | goal |", "|---|---|---|",
        f"| requests (malformed + controls, + half-open + 1 health) | {r['requests']:,} | >= 2,000 |",
        f"| 5xx answers | {r['n_5xx']} | 0 |",
        f"| bodies leaking internals | {r['n_leaking_bodies']} | 0 |",
        f"| answers with an unexpected status | {r['n_unexpected_status']} | 0 |",
        f"| half-open connections closed by the server | {r['half_open']['closed_by_server']} / {r['half_open']['opened']} "
        f"(within {r['half_open']['seconds_until_all_closed']} s; header deadline {rec['server']['header_timeout']} s) | all |",
        f"| server RSS before / after / growth | {r['rss_mib']['before']} / {r['rss_mib']['after']} / **{r['rss_mib']['growth']} MiB** "
        f"| growth < {goal['rss_growth_mib']} MiB |",
        f"| server RSS high-water mark | {r['rss_mib']['peak']} MiB | |",
        f"| wall time | {r['seconds']} s | |", "",
        "Statuses per case:", "", "| case | statuses (count) |", "|---|---|",
    ]
    for name, c in r["per_case"].items():
        lines.append(f"| {name} | {', '.join(f'{k}: {v}' for k, v in c.items())} |")
    if r["problems"]:
        lines += ["", "First problems:", ""]
        lines += [f"- {p['case']}: status {p['status']}, leaks {p['leaks']}: `{p['body'][:120]}`" for p in r["problems"][:10]]
    return "\n".join(lines) + "\n"


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
        result = run_fuzz(server, args.requests, args.seed, args.half_open)
        server_info = {"header_timeout": server.spec["header_timeout"], "body_timeout": server.spec["body_timeout"],
                       "items": server.spec["n_items"],
                       "upload_cap_bytes": CAP}
    rec = {"provenance": prov, "server": server_info,
           "goal": {"n_5xx": 0, "n_leaking_bodies": 0, "rss_growth_mib": 100}, "cases": [c.name for c in CASES], "result": result}
    paths = write_results(BENCH, args.out_name, rec, _markdown(rec), root=ROOT)
    print(paths["md"].read_text())
    ok = result["n_5xx"] == 0 and result["n_leaking_bodies"] == 0 and result["rss_mib"]["growth"] < 100
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
