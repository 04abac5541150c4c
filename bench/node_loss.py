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
from distilhash.benchmark.failover_report import extraction_markdown, fanout_markdown, serve_markdown
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.questions import question_argv
from distilhash.benchmark.results import publish
from distilhash.benchmark.trials import run_trials

ROOT = Path(__file__).resolve().parents[1]
#: the result folders (benchmark names) this script writes, one per sub-command (read by tests/test_bench_results.py)
BENCHMARKS = ("node_loss", "replica_failover", "serve_ray_failover")
QUESTIONS = dict(zip(("extraction", "fanout", "serve"), BENCHMARKS))


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
    markdown = {"extraction": extraction_markdown, "fanout": fanout_markdown, "serve": serve_markdown}[args.question]
    publish(bench, args.out_name, markdown, result=result, root=ROOT)


if __name__ == "__main__":
    main()
