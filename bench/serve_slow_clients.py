"""Slow-client attack on the service: 1,100 slow-drip connections plus 50 normal search clients.

The attack and the measured run are :mod:`distilhash.benchmark.slow_clients`. Starts
``start_service`` over the fuzz benchmark's toy world (bench/serve_fuzz.py: 400 items,
image + text index, write key) in a subprocess on 127.0.0.1 with the service's default limits
and an 8 MB upload cap, then:

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
import sys
import tempfile
from pathlib import Path
from typing import Any

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.server_process import script_server
from distilhash.benchmark.slow_clients import SHAPES, attack_run
from distilhash.serve import routes

ROOT = Path(__file__).resolve().parents[1]
BENCH = "serve_slow_clients"

UPLOAD_MB = 8.0
QUERIES = ["cat", "dog", "a red car", "tree and boat", "fish star", "moon", "cat dog car", "boat"]


def _normal(port: int, seconds: float, clients: int) -> dict[str, Any]:
    from urllib.parse import quote

    from distilhash.serve.loadgen import run_load

    paths = [f"{routes.SEARCH}?q={quote(q)}&k=10" for q in QUERIES]
    return run_load(f"http://127.0.0.1:{port}", paths, concurrency=clients, duration_s=seconds, timeout_s=30.0).summary()


def run(work: Path, attackers: int, addresses: int, clients: int, baseline_s: float, ramp_s: float, duration_s: float,
        drip_s: float, shapes: tuple[str, ...] = SHAPES, stalled_mb: float = 1.0,
        body_limits: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = {"work": str(work), "n_items": 400, "header_timeout": 10.0, "body_timeout": 15.0, "upload_mb": UPLOAD_MB,
            "body_limits": body_limits}  # the toy world of bench/serve_fuzz.py, through its --serve mode
    with script_server(ROOT / "bench" / "serve_fuzz.py", work, spec) as server:
        result = attack_run(server.proc.pid, server.port, lambda s, c: _normal(server.port, s, c), path=routes.SEARCH_IMAGE,
                            upload_mb=UPLOAD_MB, attackers=attackers, addresses=addresses, clients=clients, baseline_s=baseline_s,
                            ramp_s=ramp_s, duration_s=duration_s, drip_s=drip_s, shapes=shapes, stalled_mb=stalled_mb,
                            server_body_limits=body_limits or "defaults")
    return {**result, "goals": {"normal_errors": 0, "normal_p99_ms": 1000, "rss_growth_mib": 200}}


def _markdown(rec: dict[str, Any]) -> str:
    r = rec["result"]
    b, u, a, m = r["baseline"], r["under_attack"], r["attack"], r["rss_mib"]
    lines = [
        f"# Slow-client attack: {a['attackers']:,} slow-drip connections from {a['source_addresses']} addresses + "
        f"{u['concurrency']} normal search clients", "",
        "| figure | no attack | under attack | goal |", "|---|---|---|---|",
        f"| normal requests | {b['requests']:,} | {u['requests']:,} | |",
        f"| normal errors | {b['errors']} | **{u['errors']}** | 0 |",
        f"| normal p50 / p90 ms | {b['p50_ms']} / {b['p90_ms']} | {u['p50_ms']} / {u['p90_ms']} | |",
        f"| normal p99 ms | {b['p99_ms']} | **{u['p99_ms']}** | < 1,000 |",
        f"| normal req/s | {b['throughput_rps']} | {u['throughput_rps']} | |",
        f"| server RSS before attack / max during / after (MiB) | | {m['before_attack']:.0f} / {m['max_during']:.0f} / {m['after']:.0f} | |",
        f"| server RSS growth, max during the attack (MiB) | | **{m['growth_max']}** | < 200 |", "",
        f"Attack: {a['seconds']} s, shapes {', '.join(a['shapes'])} (equal shares), a byte every {a['drip_s']:g} s, "
        f"stalled uploads send {a.get('stalled_upload_mb', 1):g} MB first; server body limits: {a.get('server_body_limits', 'defaults')}; "
        "reconnect 1-2 s after the server answers or closes.", "",
        "| attack outcome | count |", "|---|---|",
    ]
    lines += [f"| {k} | {v:,} |" for k, v in sorted(a["stats"].items())]
    return "\n".join(lines) + "\n"


def _plot(rec: dict[str, Any]) -> Any:
    def draw(path: Path) -> None:
        samples = rec["result"]["rss_mib"]["samples"]
        with figure(path, figsize=(6, 3)) as (fig, ax):
            ax.plot([t for t, _ in samples], [r for _, r in samples])
            ax.axhline(rec["result"]["rss_mib"]["before_attack"] + 200, color="red", ls="--", label="goal: +200 MiB")
            ax.set_xlabel("seconds since the attack started")
            ax.set_ylabel("server RSS (MiB)")
            ax.set_title(f"server memory under {rec['result']['attack']['attackers']:,} slow clients ({rec['provenance']['name']})")
            ax.legend()

    return draw


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--attackers", type=int, default=1100)
    p.add_argument("--addresses", type=int, default=11, help="loopback source addresses of the attack (127.0.1.x)")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--baseline-s", type=float, default=20.0)
    p.add_argument("--ramp-s", type=float, default=20.0)
    p.add_argument("--duration-s", type=float, default=60.0)
    p.add_argument("--drip-s", type=float, default=10.0)
    p.add_argument("--shapes", default=",".join(SHAPES), help="attack shapes, comma-separated: " + ", ".join(SHAPES))
    p.add_argument("--stalled-mb", type=float, default=1.0, help="MB a stalled upload sends before it stalls")
    p.add_argument("--max-uploads", type=int, default=None, help="server's most bodies at once (default: the service's)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "distilhash-serve-slow")
    p.add_argument("--out-name", default=BENCH)
    args = p.parse_args(argv)
    shapes = tuple(args.shapes.split(","))
    if not 1 <= args.addresses <= 254 or args.attackers < 1 or not set(shapes) <= set(SHAPES) or not 0 < args.stalled_mb < UPLOAD_MB:
        p.error(f"--addresses: 1 to 254; --attackers: at least 1; --shapes: from {', '.join(SHAPES)}; --stalled-mb: below {UPLOAD_MB:g}")
    args.work.mkdir(parents=True, exist_ok=True)
    prov = collect_provenance(BENCH, args.out_name, root=ROOT,
                              model_selection="none: a synthetic index is served and attacked, nothing is selected")
    limits = {"max_uploads": args.max_uploads} if args.max_uploads else None
    result = run(args.work, args.attackers, args.addresses, args.clients, args.baseline_s, args.ramp_s, args.duration_s, args.drip_s,
                 shapes, args.stalled_mb, limits)
    rec = {"provenance": prov, "result": result}
    paths = write_results(BENCH, args.out_name, rec, _markdown(rec), _plot(rec), root=ROOT)
    print(paths["md"].read_text())
    u, g = result["under_attack"], result["rss_mib"]["growth_max"]
    return 0 if u["errors"] == 0 and (u["p99_ms"] or 1e9) < 1000 and g < 200 else 1


if __name__ == "__main__":
    sys.exit(main())
