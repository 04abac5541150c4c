"""The report of the search-service load benchmark (``bench/serve_load.py``): its tables and its plot.

Usage::

    text = markdown(result, routes.SEARCH)   # result: the stored serve_load JSON (``scenarios``, ``index``, ...)
    plot(result, path)
    rows = variants.summarise(scenarios, lambda s: (s["scenario"], s["variant"]), SUMMARY_FIELDS)

One row per scenario (client latency, errors, CPU per request of the server and the load
generator, which encoder answered); with several rounds, mean ± sample std per variant
(:data:`SUMMARY_FIELDS`); the server's stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure, latency_bars

__all__ = ["SUMMARY_FIELDS", "markdown", "plot"]

#: what the per-variant summary averages over rounds
SUMMARY_FIELDS = {"req/s": lambda s: s["client"]["throughput_rps"], "p50": lambda s: s["client"]["p50_ms"],
                  "p99": lambda s: s["client"]["p99_ms"], "errors": lambda s: s["client"]["errors"],
                  "server CPU ms/req": lambda s: s.get("server_cpu_ms_per_request"),
                  "loadgen CPU ms/req": lambda s: s["client"].get("loadgen_cpu_ms_per_request")}


def markdown(result: dict[str, Any], search_route: str) -> str:
    """Client latency and CPU per scenario, the per-variant mean ± sample std over rounds, the server stages
    (``search_route``: the service's search path, whose HTTP stage is listed)."""
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
        for stage in ("static_text", "teacher_text", "queue_wait", "project", "search", "search_batch", "text_query", f"http GET {search_route}"):
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


def plot(result: dict[str, Any], path: Path) -> None:
    """Per scenario: client p50 / p99 (log scale, goal p99 50 ms) and CPU ms per request of the server and the load generator."""
    with figure(path, 1, 2, figsize=(11, 4), dpi=110) as (fig, (ax1, ax2)):
        names = [f"{s['scenario']}\n{s.get('variant', '')}" for s in result["scenarios"]]
        x = np.arange(len(names))
        latency_bars(ax1, [s["client"] for s in result["scenarios"]],
                     [f"{n}\n{s['clients']} clients\n{s['client']['throughput_rps']} req/s" for n, s in zip(names, result["scenarios"])],
                     50, "goal p99 50 ms (issue 26)")
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
