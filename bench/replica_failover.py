"""Serving a sharded index through the Ray fan-out while a node is killed: failed, partial, wrong, stale answers.

    python bench/replica_failover.py                       # 3 trials, 4 shards x 2 replicas, 50 clients
    python bench/replica_failover.py --trials 1 --clients 8 --out-name replica_failover_smoke

Each trial starts a fresh two-node cluster on this host (two raylets of 1 CPU, ``ray start``,
token auth) and runs :mod:`distilhash.distributed.replica_failover` as the driver: a 4-shard
index of random 64-bit binary codes opened with the Ray fan-out (``--replicas`` actors per
shard, replica r of shard s on node (s + r) mod 2), ``--clients`` threads searching one query per
request (k = 10) for ``--seconds``, node 1 SIGKILLed (raylet, actors, agents) at ``--kill-at`` s.
Counted: failed requests, answers flagged partial, unflagged answers different from the
in-process reference, deleted ids returned by the first search after a delete. Latency is the
client-side time of one ``search_partial`` call in a client thread (all clients share the
driver's Python process, so it includes waiting for the GIL). Writes
``bench/results/replica_failover/<out-name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from distilhash.benchmark.failover_options import add_failover_options
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.trials import mean_std_text, run_trials

ROOT = Path(__file__).resolve().parents[1]
BENCH = "replica_failover"


def trial(args, work: Path) -> dict:
    from distilhash.distributed.local_cluster import LocalCluster
    from distilhash.distributed.replica_failover import failover_command

    with LocalCluster(nodes=2, cpus_per_node=1) as cluster:
        cmd = failover_command(cluster.address, work, cluster.sids[1], clients=args.clients, seconds=args.seconds,
                               kill_at=args.kill_at, n_items=args.items, replicas=args.replicas)
        env = {**cluster.env, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.seconds + 600)
    if proc.returncode != 0:
        return {"driver_failed": True, "stderr": proc.stderr[-3000:]}
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])


def markdown(result: dict) -> str:
    s = result["settings"]
    t = [x for x in result["trials"] if not x.get("driver_failed")]
    lines = [f"# Ray fan-out with replicas, a node killed under load ({result['provenance']['started_utc']})", "",
             f"4 shards x {s['replicas']} replicas on a two-node cluster on one host (2 raylets x 1 CPU), {s['items']} "
             f"random 64-bit codes, {s['clients']} client threads in one driver process, one query per request, "
             f"k = 10; node 1 SIGKILLed at {s['kill_at']} s of {s['seconds']} s. Shared 2-core machine (load below): "
             "latencies are mostly queueing behind 50 threads on 2 busy cores, not the fan-out's own cost.", "",
             "| trial | requests | after the kill | failed | partial (flagged) | wrong (unflagged) | stale after delete | "
             "p50 ms | p99 ms | p99 / max ms after the kill | replacements started | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, x in enumerate(result["trials"]):
        if x.get("driver_failed"):
            lines.append(f"| {i} | driver failed | | | | | | | | | | {x['load_before'][0]} |")
            continue
        lines.append(f"| {i} | {x['requests']} | {x['after_kill_requests']} | {x['failed']} | {x['partial']} | "
                     f"{x['wrong']} | {x['stale']} | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} | "
                     f"{x['after_kill_p99_ms']:.0f} / {x['after_kill_max_ms']:.0f} | {sum(x['restarts'])} | "
                     f"{x['load_before'][0]} |")
    if t:
        lines += ["", f"Totals over {len(t)} trials: {sum(x['requests'] for x in t)} requests, "
                  f"{sum(x['failed'] for x in t)} failed, {sum(x['partial'] for x in t)} partial, "
                  f"{sum(x['wrong'] for x in t)} wrong, {sum(x['stale'] for x in t)} stale; p50 "
                  f"{mean_std_text(x['p50_ms'] for x in t)} ms (mean ± sample std over trials)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_failover_options(ap, BENCH)
    args = ap.parse_args(argv)
    prov = collect_provenance(BENCH, args.out_name, seeds=[0], model_selection="none: nothing is selected", root=ROOT)
    result = {"provenance": prov, "settings": vars(args),
              "trials": run_trials(args.trials, lambda i, work: trial(args, work), ("requests", "failed", "partial", "wrong", "stale", "p50_ms"))}
    paths = write_results(BENCH, args.out_name, result, markdown(result), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
