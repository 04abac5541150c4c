"""Junk captions among the items the page shows (``bench/display_captions.py``): counts and report.

Usage::

    summary = summarise(rows)     # rows: one per shown item (query origin, query, rank, id, shown / before, junk reasons)
    text = markdown({"k": 10, "summary": summary, "items": rows})
"""

from __future__ import annotations

from collections import Counter

__all__ = ["summarise", "markdown"]


def summarise(rows: list[dict]) -> dict[str, dict]:
    """Per query origin (``demo``, ``start page``): queries, items shown, junk before / after and the reasons."""
    summary = {}
    for origin in ("demo", "start page"):
        part = [r for r in rows if r["queries"] == origin]
        summary[origin] = {"queries": len({r["query"] for r in part}), "items": len(part),
                           "junk_before": sum(bool(r["junk_before"]) for r in part),
                           "junk_after": sum(bool(r["junk_after"]) for r in part),
                           "reasons_before": dict(Counter(x for r in part for x in r["junk_before"])),
                           "reasons_after": dict(Counter(x for r in part for x in r["junk_after"]))}
    return summary


def markdown(result: dict) -> str:
    """The junk counts before / after per query origin, then every shown item with its check."""
    lines = ["# Junk captions among the items shown for the example queries", "",
             f"Top {result['k']} items per query, text -> images, as the page shows them. Junk = the documented rule "
             "(`distilhash.data.captions.junk_reasons`). Before: the caption the page showed until now (the training text); "
             "after: the display caption.", "",
             "| queries | queries run | items shown | junk before | **junk after** | reasons before | reasons after |",
             "|---|---:|---:|---:|---:|---|---|"]
    for origin, s in result["summary"].items():
        lines.append(f"| {origin} | {s['queries']} | {s['items']} | {s['junk_before']} | {s['junk_after']} | "
                     f"{', '.join(f'{k} {v}' for k, v in s['reasons_before'].items()) or '-'} | "
                     f"{', '.join(f'{k} {v}' for k, v in s['reasons_after'].items()) or '-'} |")
    lines += ["", "## Every shown item", "", "| query | # | id | shown now | shown before (training text, cut) | junk before |",
              "|---|---:|---|---|---|---|"]
    esc = lambda t: (t or "").replace("|", "\\|")  # noqa: E731
    for r in result["items"]:
        lines.append(f"| {esc(r['query'])} | {r['rank']} | {esc(r['id'])} | {esc(r['shown'])} | {esc((r['before'] or '')[:70])} | "
                     f"{', '.join(r['junk_before']) or '-'} |")
    return "\n".join(lines)
