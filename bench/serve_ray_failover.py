"""`distilhash serve` with the Ray engine while a node is killed under HTTP clients: failed, partial, silent, stale.

    python bench/serve_ray_failover.py                       # 3 trials, 50 clients, 4 shards x 2 replicas
    python bench/serve_ray_failover.py --trials 1 --clients 8 --out-name serve_ray_failover_smoke

Each trial (:func:`distilhash.distributed.serve_failover.run_trial`) starts a fresh two-node
cluster on this host (two raylets of 1 CPU, ``ray start``, token auth), a service process over a
4-shard index with ``engine="ray"`` (replica r of shard s on node (s + r) mod 2, so each node holds
one replica of every shard) and ``--clients`` HTTP client threads in this process (one keep-alive
connection each, one text query per request, k = 10). ``--kill-at`` s in, every process of node 1
(raylet, its shard actors, agents) is SIGKILLed by PID. Counted per request: failed (no 200),
flagged partial, wrong without the flag (a silent partial answer), failed requests started more
than ``--grace`` s after the kill; then the top hits of 8 queries are deleted through the service
and each query asked 3 times: stale = deleted ids returned. Latency is the client-side time of
one request; the clients, the service and both raylets share the 2 loaded cores, so it is mostly
queueing, not the fan-out's own cost (bench/ray_fanout_overhead.py measures that). Writes
``bench/results/serve_ray_failover/<out-name>.{json,md}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from distilhash.benchmark.failover_options import add_failover_options
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.trials import mean_std_text, run_trials

ROOT = Path(__file__).resolve().parents[1]
BENCH = "serve_ray_failover"


def _transport(settings: dict) -> str:
    if settings.get("alternate"):
        return "over the data plane in even trials, through Ray calls only in odd trials (the table's transport column)"
    return "through Ray calls only" if settings.get("ray_calls_only") else "over the data plane (Ray calls as fallback)"


def _served_by(x: dict) -> str:
    served = x.get("served") or {}
    return "data plane" if served.get("data plane") else "Ray calls" if served else "?"


def markdown(result: dict) -> str:
    s = result["settings"]
    t = [x for x in result["trials"] if "requests" in x]
    lines = [f"# `serve --engine ray`, a node killed under {s['clients']} HTTP clients ({result['provenance']['started_utc']})", "",
             f"4 shards x {s['replicas']} replicas on two raylets of 1 CPU on one host, {s['items']:,} items; {s['clients']} "
             f"client threads, one text query per request, k = 10; node 1 SIGKILLed at {s['kill_at']} s of {s['seconds']} s; "
             f"shards searched {_transport(s)}. "
             "Shared 2-core machine (load below): latency is mostly queueing behind the clients on 2 busy cores.", "",
             "| trial | transport | requests | after the kill | failed | failed > 2 s after the kill | last failure after the kill, s | "
             "partial (flagged) | silent wrong | stale after delete | p50 ms | p99 ms | p99 / max ms after the kill | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, x in enumerate(result["trials"]):
        if "requests" not in x:
            lines.append(f"| {i} | | trial failed: {x.get('error', '')[:120]} | | | | | | | | | | | {x['load_before'][0]} |")
            continue
        last = "—" if x["last_failure_after_kill_s"] is None else f"{x['last_failure_after_kill_s']:.2f}"
        lines.append(f"| {i} | {_served_by(x)} | {x['requests']} | {x['after_kill_requests']} | {x['failed']} | {x['failed_after_grace']} | {last} | "
                     f"{x['partial']} | {x['silent_wrong']} | {x['stale']} | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} | "
                     f"{x['after_kill_p99_ms']:.0f} / {x['after_kill_max_ms']:.0f} | {x['load_before'][0]} |")
    if t:
        lines += ["", f"Totals over {len(t)} trials: {sum(x['requests'] for x in t)} requests "
                  f"({sum(x['after_kill_requests'] for x in t)} after the kill), {sum(x['failed'] for x in t)} failed "
                  f"({sum(x['failed_after_grace'] for x in t)} more than 2 s after the kill), {sum(x['partial'] for x in t)} "
                  f"flagged partial, {sum(x['silent_wrong'] for x in t)} silent wrong, {sum(x['stale'] for x in t)} stale; "
                  f"p50 {mean_std_text(x['p50_ms'] for x in t)} ms (mean ± sample std over trials).",
                  "", "Errors seen: " + ("; ".join(sorted({e for x in t for e in x['errors']})) or "none")]
        for name in sorted({_served_by(x) for x in t}) if result["settings"].get("alternate") else []:
            g = [x for x in t if _served_by(x) == name]
            lines += ["", f"{name}: {len(g)} trials, {sum(x['requests'] for x in g)} requests, {sum(x['failed'] for x in g)} failed, "
                      f"p50 {mean_std_text(x['p50_ms'] for x in g)} ms, requests per trial "
                      + ", ".join(str(x["requests"]) for x in g)]
        served = [x.get("served") for x in t if x.get("served")]
        if served:  # trials from before the data plane have no such record
            lines += ["", "Shard answers by transport (the service's fan-out, all trials): "
                      + ", ".join(f"{k} {sum(d[k] for d in served):,}" for k in served[0])
                      + " (fallbacks: data-plane calls answered through a Ray call instead)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from distilhash.distributed.serve_failover import run_trial

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_failover_options(ap, BENCH)
    ap.add_argument("--ray-calls-only", action="store_true", help="the service searches its shards through Ray calls only")
    ap.add_argument("--alternate", action="store_true", help="trials alternate between the data plane (even trials) and "
                    "Ray calls only (odd trials), so both see the same load")
    args = ap.parse_args(argv)
    prov = collect_provenance(BENCH, args.out_name, seeds=[0], model_selection="none: nothing is selected", root=ROOT)

    def trial(i: int, work: Path) -> dict:
        return run_trial(work, clients=args.clients, seconds=args.seconds, kill_at=args.kill_at, n_items=args.items,
                         replicas=args.replicas, seed=i // 2 if args.alternate else i,
                         data_plane=not (args.ray_calls_only or (args.alternate and i % 2)))

    shown = ("requests", "failed", "failed_after_grace", "partial", "silent_wrong", "stale", "p50_ms")
    result = {"provenance": prov, "settings": vars(args), "trials": run_trials(args.trials, trial, shown, catch=True)}
    paths = write_results(BENCH, args.out_name, result, markdown(result), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
