"""A node SIGKILLed on a fresh two-node Ray cluster (two raylets of 1 CPU on this host, ``ray start``, token
auth), once per trial: does the work complete, and how many answers fail, come back partial, wrong or stale?

    python bench/node_loss.py                                # extraction: 10 trials, toy teacher, 512 items, parts of 32
    python bench/node_loss.py fanout                         # the Ray fan-out in-process: 3 trials, 4 shards x 2 replicas, 50 clients
    python bench/node_loss.py serve [--alternate]            # `distilhash serve --engine ray` under 50 HTTP clients
    python bench/node_loss.py fanout --trials 1 --clients 8 --out-name scratch

One question per sub-command, each writing its own folder (:data:`BENCHMARKS`), ``bench/results/<folder>/<out-name>.{json,md}``:

* ``extraction`` -> ``node_loss/``: one extraction in a driver process; once ``--kill-after`` parts were
  written while node 1's worker was running, every process of node 1 (raylet, worker, agents) is
  SIGKILLed by PID (:func:`distilhash.distributed.node_loss.run_trial`). An uninterrupted run on the
  same kind of cluster and the single-process cache (``extract_features``) are the references; a
  trial passes when the driver exits 0 and every cache file's sha256 equals the uninterrupted run's.
  The toy teacher (deterministic features, ``--delay`` s per call) keeps a trial to seconds of work.
* ``fanout`` -> ``replica_failover/``: :mod:`distilhash.distributed.replica_failover` as the driver: a
  4-shard index of random 64-bit codes opened with the Ray fan-out (``--replicas`` actors per shard,
  replica r of shard s on node (s + r) mod 2), ``--clients`` threads searching one query per request
  (k = 10) for ``--seconds``, node 1 killed at ``--kill-at`` s. Counted: failed requests, answers
  flagged partial, unflagged answers different from the in-process reference, deleted ids returned
  after a delete. Latency is one ``search_partial`` call in a client thread (GIL waits included).
* ``serve`` -> ``serve_ray_failover/``: :func:`distilhash.distributed.serve_failover.run_trial`: a
  service process over a 4-shard index with ``engine="ray"`` and ``--clients`` HTTP client threads
  (one keep-alive connection each, one text query per request); counted per request: failed (no
  200), flagged partial, wrong without the flag (silent), failed more than ``--grace`` s after the
  kill; then the top hits of 8 queries are deleted and each asked 3 times (stale = deleted ids
  returned). The clients, the service and both raylets share the 2 loaded cores, so latency is
  mostly queueing (``bench/distributed_search.py ray-fanout`` measures the fan-out's own cost).
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
from distilhash.benchmark.questions import question_argv
from distilhash.benchmark.results import write_results
from distilhash.benchmark.trials import mean_std_text, run_trials

ROOT = Path(__file__).resolve().parents[1]
#: the result folders (benchmark names) this script writes, one per sub-command (read by tests/test_bench_results.py)
BENCHMARKS = ("node_loss", "replica_failover", "serve_ray_failover")
QUESTIONS = dict(zip(("extraction", "fanout", "serve"), BENCHMARKS))
CLUSTER = "two-node cluster on one host (2 raylets x 1 CPU"


def extraction(args, base: Path) -> dict:
    """The reference runs, then ``--trials`` extractions with node 1 killed."""
    from distilhash.distributed.node_loss import ToyTeacher, run_trial, toy_dataset
    from distilhash.teachers.cache import extract_features, load_features

    d = toy_dataset(base / "toy", n=args.items)
    single = load_features(extract_features(d, ToyTeacher(0.0), base / "single", progress=False)).manifest["files"]
    ref = run_trial(base / "ref", kill=False, dataset=d, part_size=args.part_size, delay=args.delay)
    if not ref["completed"]:
        raise SystemExit(f"the uninterrupted reference run failed:\n{ref['stderr']}")
    ref["identical_to_single_process"] = ref["files"] == single

    def trial(i: int, work: Path) -> dict:
        t = run_trial(work, kill=True, dataset=d, part_size=args.part_size, delay=args.delay)
        t["identical_to_uninterrupted"] = t["completed"] and t.get("files") == ref["files"]
        if t["completed"]:
            t.pop("stderr")
        return t

    return {"reference": {k: v for k, v in ref.items() if k != "stderr"},
            "trials": run_trials(args.trials, trial, ("completed", "identical_to_uninterrupted", "wall_s"), base=base)}


def fanout_trial(args, work: Path) -> dict:
    """One in-process fan-out trial in a driver subprocess on a fresh cluster; its last JSON line."""
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


def serve_trial(args, i: int, work: Path) -> dict:
    from distilhash.distributed.serve_failover import run_trial

    return run_trial(work, clients=args.clients, seconds=args.seconds, kill_at=args.kill_at, n_items=args.items,
                     replicas=args.replicas, seed=i // 2 if args.alternate else i,
                     data_plane=not (args.ray_calls_only or (args.alternate and i % 2)))


def _top(title: str, result: dict, intro: list[str], *columns: str) -> list[str]:
    """The title, the ``intro`` paragraph(s) and the head of the per-trial table."""
    return [f"# {title} ({result['provenance']['started_utc']})", "", *intro, "",
            "| " + " | ".join(("trial",) + columns) + " |", "|" + "---|" * (len(columns) + 1)]


def extraction_md(result: dict) -> str:
    s, ref, trials = result["settings"], result["reference"], result["trials"]
    ok = [t for t in trials if t["completed"]]
    same = [t for t in ok if t["identical_to_uninterrupted"]]
    lines = _top("Node killed mid-extraction", result, [
        f"Two-node Ray cluster on one host (2 raylets x 1 CPU, token auth), toy teacher ({s['delay']} s per call), "
        f"{s['items']} items in parts of {s['part_size']} rows; node 1 (raylet + worker + agents) SIGKILLed after "
        f"{s['kill_after']} part(s) were written while its worker was running. Shared 2-core machine (load per trial below).", "",
        f"**{len(ok)} of {len(trials)} runs completed; {len(same)} of {len(trials)} caches bit-identical to the "
        f"uninterrupted run** (which equals the single-process cache: {ref['identical_to_single_process']}).", "",
        f"Extraction wall time: uninterrupted {ref['wall_s']:.1f} s; with a node killed "
        f"{mean_std_text(t['wall_s'] for t in ok)} s (mean ± sample std)."], "completed", "identical", "workers lost",
        "parts redone", "extraction s", "cluster start s", "load (1 min)")
    for i, t in enumerate(trials):
        e = t.get("engine", {})
        lines.append(f"| {i} | {t['completed']} | {t.get('identical_to_uninterrupted')} | {e.get('workers_lost')} | "
                     f"{e.get('parts_retried')} | {t.get('wall_s', float('nan')):.1f} | {t['cluster_start_s']:.1f} | "
                     f"{t['load_before'][0]} |")
    return "\n".join(lines)


def _after_kill(x: dict) -> str:
    return f"{x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {x['after_kill_p99_ms']:.0f} / {x['after_kill_max_ms']:.0f}"


def fanout_md(result: dict) -> str:
    s = result["settings"]
    t = [x for x in result["trials"] if not x.get("driver_failed")]
    lines = _top("Ray fan-out with replicas, a node killed under load", result, [
        f"4 shards x {s['replicas']} replicas on a {CLUSTER}), {s['items']} "
        f"random 64-bit codes, {s['clients']} client threads in one driver process, one query per request, "
        f"k = 10; node 1 SIGKILLed at {s['kill_at']} s of {s['seconds']} s. Shared 2-core machine (load below): "
        "latencies are mostly queueing behind 50 threads on 2 busy cores, not the fan-out's own cost."], "requests",
        "after the kill", "failed", "partial (flagged)", "wrong (unflagged)", "stale after delete", "p50 ms", "p99 ms",
        "p99 / max ms after the kill", "replacements started", "load (1 min)")
    lines += [f"| {i} | driver failed | | | | | | | | | | {x['load_before'][0]} |" if x.get("driver_failed") else
              f"| {i} | {x['requests']} | {x['after_kill_requests']} | {x['failed']} | {x['partial']} | "
              f"{x['wrong']} | {x['stale']} | {_after_kill(x)} | {sum(x['restarts'])} | {x['load_before'][0]} |"
              for i, x in enumerate(result["trials"])]
    if t:
        lines += ["", f"Totals over {len(t)} trials: {sum(x['requests'] for x in t)} requests, "
                  f"{sum(x['failed'] for x in t)} failed, {sum(x['partial'] for x in t)} partial, "
                  f"{sum(x['wrong'] for x in t)} wrong, {sum(x['stale'] for x in t)} stale; p50 "
                  f"{mean_std_text(x['p50_ms'] for x in t)} ms (mean ± sample std over trials)."]
    return "\n".join(lines)


def _last_failure(x: dict) -> str:
    return "—" if x["last_failure_after_kill_s"] is None else f"{x['last_failure_after_kill_s']:.2f}"


def _transport(settings: dict) -> str:
    if settings.get("alternate"):
        return "over the data plane in even trials, through Ray calls only in odd trials (the table's transport column)"
    return "through Ray calls only" if settings.get("ray_calls_only") else "over the data plane (Ray calls as fallback)"


def _served_by(x: dict) -> str:
    served = x.get("served") or {}
    return "data plane" if served.get("data plane") else "Ray calls" if served else "?"


def serve_md(result: dict) -> str:
    s = result["settings"]
    t = [x for x in result["trials"] if "requests" in x]
    lines = _top(f"`serve --engine ray`, a node killed under {s['clients']} HTTP clients", result, [
        f"4 shards x {s['replicas']} replicas on two raylets of 1 CPU on one host, {s['items']:,} items; {s['clients']} "
        f"client threads, one text query per request, k = 10; node 1 SIGKILLed at {s['kill_at']} s of {s['seconds']} s; "
        f"shards searched {_transport(s)}. "
        "Shared 2-core machine (load below): latency is mostly queueing behind the clients on 2 busy cores."], "transport",
        "requests", "after the kill", "failed", "failed > 2 s after the kill", "last failure after the kill, s",
        "partial (flagged)", "silent wrong", "stale after delete", "p50 ms", "p99 ms", "p99 / max ms after the kill", "load (1 min)")
    lines += [f"| {i} | | trial failed: {x.get('error', '')[:120]} | | | | | | | | | | | {x['load_before'][0]} |" if "requests" not in x else
              f"| {i} | {_served_by(x)} | {x['requests']} | {x['after_kill_requests']} | {x['failed']} | {x['failed_after_grace']} | "
              f"{_last_failure(x)} | {x['partial']} | {x['silent_wrong']} | {x['stale']} | {_after_kill(x)} | {x['load_before'][0]} |"
              for i, x in enumerate(result["trials"])]
    if t:
        lines += ["", f"Totals over {len(t)} trials: {sum(x['requests'] for x in t)} requests "
                  f"({sum(x['after_kill_requests'] for x in t)} after the kill), {sum(x['failed'] for x in t)} failed "
                  f"({sum(x['failed_after_grace'] for x in t)} more than 2 s after the kill), {sum(x['partial'] for x in t)} "
                  f"flagged partial, {sum(x['silent_wrong'] for x in t)} silent wrong, {sum(x['stale'] for x in t)} stale; "
                  f"p50 {mean_std_text(x['p50_ms'] for x in t)} ms (mean ± sample std over trials).",
                  "", "Errors seen: " + ("; ".join(sorted({e for x in t for e in x['errors']})) or "none")]
        for name in sorted({_served_by(x) for x in t}) if s.get("alternate") else []:
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


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="question")
    ex = sub.add_parser("extraction", help="a Ray teacher extraction (results in node_loss/)")
    for flag, kind, default in (("--trials", int, 10), ("--items", int, 512), ("--part-size", int, 32),
                                ("--delay", float, 0.2), ("--kill-after", int, 1)):
        ex.add_argument(flag, type=kind, default=default)
    ex.add_argument("--out-name", default=QUESTIONS["extraction"])
    add_failover_options(sub.add_parser("fanout", help="the Ray fan-out in-process (replica_failover/)"), QUESTIONS["fanout"])
    sv = add_failover_options(sub.add_parser("serve", help="serve --engine ray over HTTP (serve_ray_failover/)"), QUESTIONS["serve"])
    sv.add_argument("--ray-calls-only", action="store_true", help="the service searches its shards through Ray calls only")
    sv.add_argument("--alternate", action="store_true", help="trials alternate between the data plane (even trials) and "
                    "Ray calls only (odd trials), so both see the same load")
    return ap


def main(argv: list[str] | None = None) -> None:
    import tempfile

    args = parser().parse_args(question_argv(sys.argv[1:] if argv is None else argv, QUESTIONS, "extraction"))
    bench = QUESTIONS[args.question]
    settings = {k: v for k, v in vars(args).items() if k != "question"}
    result = {"provenance": collect_provenance(bench, args.out_name, seeds=[0], model_selection="none: nothing is selected", root=ROOT),
              "settings": settings, "trials": []}
    if args.question == "extraction":
        with tempfile.TemporaryDirectory() as tmp:
            result.update(extraction(args, Path(tmp)))
    elif args.question == "fanout":
        result["trials"] = run_trials(args.trials, lambda i, work: fanout_trial(args, work),
                                      ("requests", "failed", "partial", "wrong", "stale", "p50_ms"))
    else:
        shown = ("requests", "failed", "failed_after_grace", "partial", "silent_wrong", "stale", "p50_ms")
        result["trials"] = run_trials(args.trials, lambda i, work: serve_trial(args, i, work), shown, catch=True)
    markdown = {"extraction": extraction_md, "fanout": fanout_md, "serve": serve_md}[args.question]
    paths = write_results(bench, args.out_name, result, markdown(result), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
