"""The report of a writes-under-load run (``bench/serve_writes.py``): its tables and its plot.

Usage::

    text = markdown(result)   # result: the stored serve_writes JSON (``runs``, ``model``, ``k``, ``verify_k``, ...)
    plot(result, path)

Tables: client latency per kind of request, every acknowledged write checked (service and disk,
:mod:`distilhash.benchmark.write_check`), the server's stages. Repeated runs summarised per
setting: :mod:`distilhash.benchmark.write_runs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distilhash.benchmark.figures import figure, latency_bars

__all__ = ["markdown", "plot"]


def markdown(result: dict[str, Any]) -> str:
    """The latency table (all, search, writes, add / delete / read-back), the checks of every write, the server stages."""
    r = result["runs"][0]
    ix = r["index"]
    procs = (f"one writable server process (`--api-key`)" if r.get("workers", 1) == 1 else
             f"{r['workers']} server processes (`--api-key --workers {r['workers']}`: they follow the index and forward writes "
             f"to the parent process, the index's one writer{', its writes at nice +' + str(r['writer_nice']) if r.get('writer_nice') else ''}), "
             f"{r.get('search_workers', 1)} search worker(s) each")
    lines = ["# Writes under load: searches, adds and deletes on a writable service", "",
             f"Index: {r['count_before']:,} items, {ix['bits']}-bit {ix['kind']} codes (real retrieval codes of `{result['model']}` + noisy "
             f"replicas, as `bench/serve_load.py`), searcher `{ix['backend']}` {result['index_options']}; {procs}, "
             f"{result['threads']} torch thread(s).  ",
             f"Clients: {r['clients']} closed-loop on loopback, {r['writers']} writers ({100 * r['writers'] / r['clients']:.0f} %) and "
             f"{r['searchers']} searchers, {result['duration_s']} s. A writer adds an item (a `split.query` image the index does not hold, "
             f"through the teacher's image tower) or, with probability {r['p_delete']} when it has live items, deletes one it added; "
             f"{'closed loop: its next write as soon as the answer is in' if not r.get('writer_pause_s') else 'then waits ' + str(r['writer_pause_s']) + ' s'}. "
             f"Searchers: `split.query` captions, k={result['k']}, the default text encoder.  ",
             f"Load average at start {result['provenance']['load_before']}; **{result['machine_note']}** (2 cores shared).", "",
             "## Latency (client side, ms), errors", "",
             "| requests | clients | count | errors | req/s | p50 | p90 | p99 | max |", "|---|---|---|---|---|---|---|---|---|"]
    for x in result["runs"]:
        wrow = "writers (add, delete, read-back GET)" if x.get("read_back_ms", {}).get("count") else "write (add + delete)"
        for name, s in (("all", x["all"]), ("search", x["search"]), (wrow, x["write"])):
            n = x["clients"] if name == "all" else x["searchers"] if name == "search" else x["writers"]
            lines.append(f"| {name} | {n} | {s['requests']:,} | {s['errors']} | {s['throughput_rps']} | {s['p50_ms']} | {s['p90_ms']} | {s['p99_ms']} | {s['max_ms']} |")
        for name in ("add_ms", "delete_ms", "read_back_ms"):
            s = x[name]
            if s["count"]:
                lines.append(f"| {name[:-3].replace('_', '-')} | | {s['count']:,} | | | {s['p50_ms']} | {s['p90_ms']} | {s['p99_ms']} | {s['max_ms']} |")
    lines += ["", "## Every acknowledged write checked", "", "| check | result |", "|---|---|"]
    for x in result["runs"]:
        a, v, d = x["acknowledged"], x["verify_service"], x["verify_disk"]
        lines += [f"| adds acknowledged (201) and not deleted later | {a['adds_live']:,} |",
                  f"| deletes acknowledged (200) | {a['deletes']:,} |",
                  f"| writes without an answer / refused | {a['without_answer']} / {a['refused']} |",
                  *([f"| **read-your-writes**: acknowledged writes read back at once on a new connection, stale answers | "
                     f"{x['read_back']['checked']:,}, **{x['read_back']['stale']}** |"] if x.get("read_back", {}).get("checked") else []),
                  f"| service: adds fetched by id (metadata as sent) | {v['adds_fetched']:,} of {v['adds_checked']:,} ({v['adds_metadata_ok']:,}) |",
                  f"| service: adds found by a search for their own code (k={result['verify_k']}) | {v['adds_found_by_own_code']:,} of {v['adds_checked']:,} "
                  f"(rank median {v['own_code_rank_median']}, max {v['own_code_rank_max']}) |",
                  f"| of the others: outranked (the exact search over the final index also has {result['verify_k']} items scoring at least as well as the item's own code; inner-product metric) | {d['of_those_outranked_in_exact_search']} of {d['own_code_not_returned']} |",
                  f"| **adds missing** (not fetched, or not returned where the exact search ranks them) | {v['adds_checked'] - v['adds_fetched'] + len(d['of_those_missing'])} |",
                  f"| service: deletes gone (GET and similar 404) | {v['deletes_gone']:,} of {v['deletes_checked']:,} |",
                  f"| disk, after the service stopped: adds present | {d['adds_present']:,} of {d['adds_expected']:,} |",
                  f"| disk: deletes present | {d['deletes_present']} |",
                  f"| index generation before -> after (a change = a compaction ran) | {x['generation_before']} -> {d['generation_after']} |"]
    lines += ["", "## Server-side stages (ms)", "", "| stage | count | p50 | p99 | max |", "|---|---|---|---|---|"]
    for stage, v in result["runs"][0]["server_stages_ms"].items():
        if v.get("count"):
            lines.append(f"| {stage} | {v['count']:,} | {v.get('p50_ms')} | {v.get('p99_ms')} | {v.get('max_ms')} |")
    lines += ["", result.get("notes", ""), ""]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """p50 / p99 of all requests, searches, writes, adds and deletes of the first run (log scale, goal p99 100 ms)."""
    with figure(path, figsize=(7, 4)) as (fig, ax):
        x = result["runs"][0]
        latency_bars(ax, [x["all"], x["search"], x["write"], x["add_ms"], x["delete_ms"]], ["all", "search", "writes", "add", "delete"],
                     100, "goal p99 100 ms")
        ax.set_title(f"{x['clients']} clients ({x['writers']} writing), {x['count_before']:,} items, {x['all']['throughput_rps']} req/s, "
                     f"{x['all']['errors']} errors", fontsize=9)
        fig.suptitle(f"load average at start {result['provenance']['load_before']}; see {path.stem}.md", fontsize=8)
