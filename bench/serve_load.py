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

import numpy as np

from distilhash.benchmark.figures import figure
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
#: what the per-variant summary averages over rounds
SUMMARY_FIELDS = {"req/s": lambda s: s["client"]["throughput_rps"], "p50": lambda s: s["client"]["p50_ms"],
                  "p99": lambda s: s["client"]["p99_ms"], "errors": lambda s: s["client"]["errors"],
                  "server CPU ms/req": lambda s: s.get("server_cpu_ms_per_request"),
                  "loadgen CPU ms/req": lambda s: s["client"].get("loadgen_cpu_ms_per_request")}


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


def markdown(result: dict) -> str:
    rt = (result["scenarios"][0].get("runtime") if result["scenarios"] else None) or {}
    lines = ["# Search service under load", "",
             f"Index: {result['index']['count']:,} items, {result['index']['bits']}-bit {result['index']['kind']} codes "
             f"({result['index_build'].get('n_real', '?')} real retrieval codes of `{result['model']}` + noisy replicas, flip={result['flip']}), "
             f"backend `{result['index']['backend']}`; model {result['index']['model']['method']} / teacher `{result['index']['model']['teacher']}`.  ",
             f"Queries: {result['pool_size']} distinct `split.query` captions drawn uniformly, k={result['k']}, text cache off unless stated. "
             f"Server: {result.get('workers', 1)} process(es), {result['threads']} torch thread(s), {result.get('search_workers', 1)} search worker thread(s) per process; installed: "
             + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in rt.items()) + ". "
             f"Load generator on the same machine (asyncio on {result['scenarios'][0]['client'].get('loadgen_loop') if result['scenarios'] else '?'}, raw HTTP/1.1 keep-alive).  ",
             f"Load average when the scenarios started: {result['provenance']['load_before']}; **the machine is shared** (2 cores; "
             f"{result.get('machine_note', 'other engineers jobs running')}).", "",
             *([f"**Approximate search** `{result['index_backend']}` {result.get('index_options')}: overlap@{result['k']} with the exact "
                f"search {result['recall_vs_exact']['overlap_at_k_mean']} (mean over {result['recall_vs_exact']['queries']} "
                f"query captions; min {result['recall_vs_exact']['overlap_at_k_min']}); searcher build {result['recall_vs_exact']['searcher_build_s']} s.", ""]
               if result.get("recall_vs_exact") else []),
             "## Client-side latency (ms), errors, CPU", "",
             "| scenario | variant | encoder | clients | requests | errors | req/s | p50 | p90 | p99 | max | server CPU ms/req | loadgen CPU ms/req | server + loadgen cores | mean search batch | answered by | load avg (before→after) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in result["scenarios"]:
        c = s["client"]
        cores = (s.get("server_cpu_share_of_one_core") or 0) + (c.get("loadgen_cpu_share_of_one_core") or 0)
        ab = s.get("answered_by") or {}
        lines.append(f"| {s['scenario']} | {s.get('variant', '')} | {s['query_encoder']}{' + cache ' + str(s['text_cache']) if s['text_cache'] else ''} | {s['clients']} | {c['requests']:,} | {c['errors']} | "
                     f"{c['throughput_rps']} | {c['p50_ms']} | {c['p90_ms']} | {c['p99_ms']} | {c['max_ms']} | {s.get('server_cpu_ms_per_request')} | "
                     f"{c.get('loadgen_cpu_ms_per_request')} | {cores:.2f} | {s.get('mean_search_batch')} | "
                     f"static {ab.get('static', 0):,} / teacher {ab.get('teacher', 0):,} | {s['load_before'][0]}→{s['load_after'][0]} |")
    if len(result.get("summary") or []) < len(result["scenarios"]):  # several rounds: mean +- sample std per variant
        lines += ["", f"## Mean ± sample std over {result['rounds']} rounds (variants alternating)", "",
                  "| scenario | variant | runs | " + " | ".join(SUMMARY_FIELDS) + " |", "|---|---|---|" + "---|" * len(SUMMARY_FIELDS)]
        for row in result["summary"]:
            cells = [f"{row[f]['mean']} ± {row[f]['std']}" if row[f]["std"] is not None else str(row[f]["mean"]) for f in SUMMARY_FIELDS]
            lines.append(f"| {row['key'][0]} | {row['key'][1]} | {row['n']} | " + " | ".join(cells) + " |")
        lines += ["", "Variants: " + "; ".join(f"`{v['label']}` = {v['src'] or 'this checkout'}"
                                               f"{' (commit ' + v['commit'][:10] + (', dirty' if v['dirty'] else '') + ')' if v['commit'] else ''}"
                                               for v in result["variants"]) + "."]
    lines += ["", "## Where the time goes (server-side stages, ms; with several server processes: counts summed, percentiles of the busiest process)", "",
              "| scenario | variant | stage | count | p50 | p90 | p99 | mean |", "|---|---|---|---|---|---|---|---|"]
    for s in result["scenarios"]:
        for stage in ("static_text", "teacher_text", "queue_wait", "project", "search", "search_batch", "text_query", f"http GET {routes.SEARCH}"):
            v = s["server_stages_ms"].get(stage)
            if v:
                lines.append(f"| {s['scenario']} | {s.get('variant', '')} | {stage} | {v['count']:,} | {v['p50_ms']} | {v['p90_ms']} | {v['p99_ms']} | {v['mean_ms']} |")
    lines += ["", "`static_text`: the static text encoder (model2vec table + map); `teacher_text`: MiniLM text tower (tokenize + forward, including the wait "
              "for its micro-batch); `queue_wait`: features ready -> the index worker takes the query; `project`: the model's text "
              "head for the whole batch; `search`: exact top-k of the whole batch in the index + metadata; `search_batch`: queries "
              "per batch (a count, not ms); `text_query`: all of the service's work for one query; `http`: plus routing and JSON. "
              "Counts include 20 warm-up requests per server process.", "",
              result.get("notes", ""), ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    with figure(path, 1, 2, figsize=(11, 4), dpi=110) as (fig, (ax1, ax2)):
        names = [f"{s['scenario']}\n{s.get('variant', '')}" for s in result["scenarios"]]
        x = np.arange(len(names))
        for off, key in ((-0.2, "p50_ms"), (0.2, "p99_ms")):
            ax1.bar(x + off, [s["client"][key] or 0 for s in result["scenarios"]], 0.4, label=key.replace("_ms", ""))
        ax1.axhline(50, color="red", lw=1, ls="--", label="goal p99 50 ms (issue 26)")
        ax1.set_xticks(x, [f"{n}\n{s['clients']} clients\n{s['client']['throughput_rps']} req/s" for n, s in zip(names, result["scenarios"])])
        ax1.set_ylabel("client latency (ms)")
        ax1.set_yscale("log")
        ax1.legend()
        ax1.set_title(f"text queries, {result['index']['count']:,} items ({result['index']['kind']})")
        parts = [("server", lambda s: s.get("server_cpu_ms_per_request") or 0), ("load generator", lambda s: s["client"].get("loadgen_cpu_ms_per_request") or 0)]
        bottom = np.zeros(len(names))
        for label, fn in parts:
            vals = np.array([fn(s) for s in result["scenarios"]], float)
            ax2.bar(x, vals, 0.5, bottom=bottom, label=label)
            bottom += vals
        ax2.set_xticks(x, names)
        ax2.set_ylabel("CPU ms per request")
        ax2.set_title("CPU per request (2 cores shared with other jobs)")
        ax2.legend()
        fig.suptitle(f"shared 2-core machine, load average at start {result['provenance']['load_before']}; see {path.stem}.md", fontsize=8)


def _variant(text: str) -> Variant:
    try:
        return parse_variant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ready_to_serve(index: Path, args) -> None:
    """The index's thumbnails and the model's static text encoder (the service's default; fitted once, then cached)."""
    from distilhash.pipeline.query_encoder import fit_query_encoder
    from distilhash.serve.thumbs import THUMBS_FILE, write_thumbnails

    if not (index / THUMBS_FILE).exists():
        write_thumbnails(index)
    fit_query_encoder(args.model, args.dataset, args.features, args.teacher)


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

    t_start = time.time()
    served = prepare_served(args, lambda: load_features_and_split(args.dataset, args.teacher, args.features)[:3],
                            lambda index: ready_to_serve(index, args))
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
    paths = write_results(BENCH, args.out_name, result, markdown(result), plot=lambda path: plot(result, path), root=ROOT)
    print(f"wrote {paths['json']}, .md, .png")


if __name__ == "__main__":
    main()
