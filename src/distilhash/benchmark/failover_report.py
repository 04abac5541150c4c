"""The tables of the node-loss benchmarks (``bench/node_loss.py``), from their stored result dicts.

One per sub-command: :func:`extraction_markdown` (a node killed mid-extraction: completed runs and
bit-identical caches), :func:`fanout_markdown` (the Ray fan-out under search load: failed, partial,
wrong and stale answers) and :func:`serve_markdown` (``serve --engine ray`` under HTTP clients, with
the transport of each trial). Each opens with the title, the setting and one row per trial, then
the totals with mean ± sample std over the trials that ran.
"""

from __future__ import annotations

from typing import Any

from distilhash.benchmark.trials import mean_std_text

__all__ = ["extraction_markdown", "fanout_markdown", "serve_markdown"]

CLUSTER = "two-node cluster on one host (2 raylets x 1 CPU"


def _top(title: str, result: dict[str, Any], intro: list[str], *columns: str) -> list[str]:
    """The title, the ``intro`` paragraph(s) and the head of the per-trial table."""
    return [f"# {title} ({result['provenance']['started_utc']})", "", *intro, "",
            "| " + " | ".join(("trial",) + columns) + " |", "|" + "---|" * (len(columns) + 1)]


def extraction_markdown(result: dict[str, Any]) -> str:
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


def _after_kill(x: dict[str, Any]) -> str:
    return f"{x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {x['after_kill_p99_ms']:.0f} / {x['after_kill_max_ms']:.0f}"


def fanout_markdown(result: dict[str, Any]) -> str:
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


def _last_failure(x: dict[str, Any]) -> str:
    return "—" if x["last_failure_after_kill_s"] is None else f"{x['last_failure_after_kill_s']:.2f}"


def _transport(settings: dict[str, Any]) -> str:
    if settings.get("alternate"):
        return "over the data plane in even trials, through Ray calls only in odd trials (the table's transport column)"
    return "through Ray calls only" if settings.get("ray_calls_only") else "over the data plane (Ray calls as fallback)"


def _served_by(x: dict[str, Any]) -> str:
    served = x.get("served") or {}
    return "data plane" if served.get("data plane") else "Ray calls" if served else "?"


def serve_markdown(result: dict[str, Any]) -> str:
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

