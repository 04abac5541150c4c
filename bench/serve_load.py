"""Load benchmark of the search service on loopback: 50 closed-loop clients, text queries, 1M items.

    python bench/serve_load.py --model RUN_DIR --dataset emoji-scenes [--features DIR] \
        [--n 1000000] [--clients 50] [--duration 60] [--work WORK_DIR] \
        [--scenarios single-default default teacher]

1. Index: the trained model's database codes of ``split.retrieval`` images (real codes), plus
   noisy replicas of them (binary: each bit flipped with probability ``--flip``; PQ: each sub-code
   redrawn with that probability) up to ``--n`` items; each replica carries its original's
   metadata (caption, labels, dataset row -> thumbnail). Built once in ``--work`` and reused.
2. Server: ``distilhash serve`` in a subprocess on 127.0.0.1 (one process, ``--threads`` torch
   threads; uvicorn with uvloop/httptools and orjson answers when installed), restarted for every
   scenario so caches and timings start empty.
3. Scenarios (each ``--duration`` s, stops by itself); the text-embedding cache is off unless the
   scenario says otherwise, so every request pays its text encoder:
   * ``single-default`` / ``single-teacher``: one client — the latency of one query on an idle service;
   * ``default``: ``--clients`` clients, the service as shipped (no ``--query-encoder`` given: the
     model's static text encoder, ``MODEL/static-text``, fitted here by ``distilhash query-encoder
     fit`` when missing; every query is answered by it, there is no fallback);
   * ``teacher``: ``--clients`` clients, the teacher's MiniLM text tower (micro-batched);
   * ``teacher-cache-zipf``: teacher + LRU cache, queries drawn Zipf(s=1.1) (hit rate reported).
   Query pool: the distinct captions of ``split.query`` (real captions, never seen in any fit), drawn uniformly.
4. Per scenario: client-side p50/p90/p99, errors, throughput, CPU seconds of the server process
   and of the load generator (``/proc/PID/stat``, ``getrusage``), load average before/after,
   which encoder answered, and the server's per-stage timings from ``/api/stats``.
5. Before/after in one run (``--variant LABEL=SRC_DIR``, repeatable, and ``--rounds N``): every
   scenario is served by each variant's ``distilhash`` package in turn, the order reversed every
   other round (:mod:`distilhash.benchmark.variants`); the report adds mean +- sample std per
   variant. E.g. ``git archive COMMIT src | tar -x -C /tmp/before`` then
   ``--variant before=/tmp/before/src --variant after=src --rounds 3``.

Writes ``bench/results/serve_load/<out-name>.{json,md,png}``. The machine is shared (2 cores);
the load average is recorded before and after every scenario (and in the provenance block).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
from urllib.parse import quote

from distilhash.benchmark.load_report import SUMMARY_FIELDS, markdown, plot
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results
from distilhash.benchmark.serve_bench import (add_served_index_args, merge_worker_stats, overlap_with_exact, prepare_served,
                                              stats_figures, wait_for_quiet, zipf_weights)
from distilhash.benchmark.server_process import CliServer, health_ok
from distilhash.serve import routes
from distilhash.benchmark.variants import Variant, interleaved, parse_variant, summarise

ROOT = Path(__file__).resolve().parents[1]
BENCH = "serve_load"


SCENARIOS = {
    # name: (clients (None = --clients), text cache entries, query weighting, query encoder (None: the shipped default))
    "single-default": (1, 0, "uniform", None),
    "default": (None, 0, "uniform", None),
    "single-teacher": (1, 0, "uniform", "teacher"),
    "teacher": (None, 0, "uniform", "teacher"),
    "teacher-cache-zipf": (None, 4096, "zipf", "teacher"),
    # the HTTP stack alone: GET /api/health (no search), same clients
    "http-floor": (None, 0, "health", None),
}
DEFAULT_SCENARIOS = ["single-default", "default", "teacher"]


def run_scenario(name: str, index: Path, pool: list[str], args, log: Path, variant: Variant) -> dict:
    from distilhash.serve.loadgen import run_load

    clients, cache, weighting, encoder = SCENARIOS[name]
    clients = clients or args.clients
    paths = [f"{routes.SEARCH}?q={quote(q)}&k={args.k}" for q in pool] if weighting != "health" else [routes.HEALTH]
    weights = zipf_weights(len(paths), 1.1) if weighting == "zipf" else None
    with CliServer(index, log, threads=args.threads, text_cache=cache, query_encoder=encoder, search_workers=args.search_workers,
                   workers=args.workers, index_backend=args.index_backend, index_options=args.index_option, env=variant.env()) as srv:
        srv.wait_workers(routes.STATS)
        # warm: first queries load lazy parts (search structures, tokenizer caches)
        warm = [f"{routes.SEARCH}?q={quote(q)}&k={args.k}" for q in pool[:50]]
        run_load(srv.url, warm, concurrency=2 * args.workers, duration_s=30, max_requests=20 * args.workers)
        health_ok(srv.port, routes.HEALTH)
        load_before = load_average()
        cpu0 = srv.cpu_s()
        res = run_load(srv.url, paths, concurrency=clients, duration_s=args.duration, max_requests=args.max_requests,
                       weights=weights, seed=args.seed)
        server_cpu = srv.cpu_s() - cpu0
        load_after = load_average()
        per_worker = srv.all_stats(routes.STATS)
    stats = merge_worker_stats(per_worker)
    summary = res.summary()
    out = {"scenario": name, "variant": variant.label, "clients": clients, "text_cache": cache, "weighting": weighting,
           "query_encoder": encoder or f"default ({stats.get('query_encoder')})",
           "client": summary, "server_stages_ms": stats["latency_ms"], "text_cache_stats": stats["text_cache"],
           "text_batches": stats["text_batches"], "search_batches": stats.get("search_batches"), "index": stats["indexes"]["image"],
           "static_text": stats.get("static_text"), "runtime": stats.get("runtime"), "server_processes": len(per_worker),
           "server_stages_ms_per_process": [w["latency_ms"] for w in per_worker] if len(per_worker) > 1 else None,
           "server_cpu_s": round(server_cpu, 2), "server_cpu_ms_per_request": round(server_cpu * 1e3 / max(1, res.requests), 3),
           "server_cpu_share_of_one_core": round(server_cpu / res.wall_s, 3) if res.wall_s else None,
           "load_before": load_before, "load_after": load_after}
    return out | stats_figures(stats)


def _variant(text: str) -> Variant:
    try:
        return parse_variant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_served_index_args(p, dataset="emoji-scenes", teacher="minilm-lit", out_name=BENCH, max_requests=500_000,
                          machine_note="other engineers' jobs may be running; see the load averages")
    p.add_argument("--workers", type=int, default=1, help="server processes (distilhash serve --workers)")
    p.add_argument("--scenarios", nargs="+", default=DEFAULT_SCENARIOS, choices=list(SCENARIOS))
    p.add_argument("--variant", action="append", default=[], type=_variant, metavar="LABEL=SRC_DIR",
                   help="serve the distilhash package in SRC_DIR (repeatable: before/after in one run; default: this checkout)")
    p.add_argument("--rounds", type=int, default=1, help="runs of every scenario per variant, variants alternating (ABBA)")
    args = p.parse_args(argv)
    variants = args.variant or [Variant("this checkout")]

    from distilhash.pipeline.inputs import load_features_and_split
    from distilhash.pipeline.query_encoder import fit_query_encoder
    from distilhash.serve.server import ensure_thumbnails

    t_start = time.time()
    served = prepare_served(args, lambda: load_features_and_split(args.dataset, args.teacher, args.features)[:3],
                            lambda index: (ensure_thumbnails([index]), fit_query_encoder(args.model, args.dataset, args.features, args.teacher)))
    index, build, split, pool = served.index, served.build, served.split, served.pool
    recall = None
    if args.index_backend != "auto":
        print(f"overlap@{args.k} of {args.index_backend} with the exact search ...", flush=True)
        from distilhash.query_encoders.query_encoder import ModelQueryEncoder

        queries = ModelQueryEncoder(args.model).encode_texts(pool[:300])  # encoded as the service does by default
        recall = overlap_with_exact(index, queries, args.index_backend, args.index_option, args.k)
        print(f"  {recall}", flush=True)
    scenarios = []
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], dataset=args.dataset, split=split, threads=args.threads,
                              model_selection="none: a trained model is served; all scenarios are reported", root=ROOT)
    for name, (rnd, variant) in ((n, rv) for n in args.scenarios for rv in interleaved(variants, args.rounds)):
        wait_for_quiet(args.wait_load, args.wait_max)
        print(f"scenario {name}, variant {variant.label}, round {rnd + 1} ...", flush=True)
        scenarios.append({**run_scenario(name, index, pool, args, args.work / "server.log", variant), "round": rnd})
        c = scenarios[-1]["client"]
        print(f"  {c['requests']} requests, {c['errors']} errors, p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms, {c['throughput_rps']} req/s", flush=True)
    result = {
        "provenance": prov, "model": str(args.model),
        "flip": args.flip, "k": args.k, "pool_size": len(pool), "threads": args.threads, "search_workers": args.search_workers, "workers": args.workers,
        "index_backend": args.index_backend, "index_options": args.index_option, "recall_vs_exact": recall, "clients": args.clients,
        "duration_s": args.duration, "index_build": build, "index": scenarios[0]["index"] if scenarios else None,
        "scenarios": scenarios, "wall_s": round(time.time() - t_start, 1),
        "variants": [v.describe() for v in variants], "rounds": args.rounds,
        "summary": summarise(scenarios, lambda s: (s["scenario"], s["variant"]), SUMMARY_FIELDS),
        "peak_rss_mb_bench_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "machine_note": args.machine_note,
        "notes": args.notes,
    }
    paths = write_results(BENCH, args.out_name, result, markdown(result, routes.SEARCH), plot=lambda path: plot(result, path), root=ROOT)
    print(f"wrote {paths['json']}, .md, .png")


if __name__ == "__main__":
    main()
