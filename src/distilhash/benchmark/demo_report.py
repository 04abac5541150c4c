"""The record of a ``make demo`` run (``bench/demo_record.py``): its example queries, open-vocabulary summary, step times.

Usage::

    text = markdown({"provenance": ..., "timings": demo_timings, "examples": demo_examples, "open_vocab": summary})

The inputs are the demo's own files (``demo-timings.json``, the image index's ``demo-examples.json``
and ``demo-open-vocab.json``); nothing is measured here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["markdown", "open_vocab_lines", "teacher_lines"]


def markdown(rec: dict[str, Any]) -> str:
    """The example queries' P@10 (by label, by title), the open-vocabulary summary and the step times."""
    prov, ex = rec["provenance"], rec["examples"]
    lines = [f"# `make demo`, commit {prov['commit'][:7]} ({prov['started_utc']}, load {prov['load_before'][0]} -> "
             f"{prov['load_after'][0]})", "", *teacher_lines(rec.get("teacher")),
             "Ten example queries written down before any search; top 10 of the DCMQ 64-bit image index of the "
             "retrieval drawings through the demo's text encoder, judged by the query's label and by the drawing's title.", "",
             "| query | label | P@10 by label | P@10 by title | encoder |", "|---|---|---|---|---|"]
    lines += [f"| {e['query']} | `{e['label_column']}` | {e['precision']:.1f} | {e['title_precision']:.1f} | {e['encoder']} |"
              for e in ex]
    n_ok = sum(e["precision"] >= 0.5 for e in ex)
    lines += ["", f"At least 0.5 by label: {n_ok} of {len(ex)}; mean by label "
              f"{sum(e['precision'] for e in ex) / len(ex):.2f}, by title {sum(e['title_precision'] for e in ex) / len(ex):.2f}.", ""]
    lines += open_vocab_lines(rec["open_vocab"])
    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    t = rec["timings"]
    lines += ["| step | seconds | CPU seconds | reused |", "|---|---|---|---|"]
    lines += [f"| {s['step']}. {s['title']} | {sec(s['seconds'])} | {sec(s.get('cpu_seconds'))} | {s['reused']} |"
              for s in t["steps"]]
    lines += ["", f"Steps in all: {t['steps_seconds']:.1f} s ({sec(t.get('steps_cpu_seconds'))} s of CPU); "
              f"setup {sec(t['setup_seconds'])} s."]
    return "\n".join(lines) + "\n"


def teacher_lines(teacher: dict[str, Any] | None) -> list[str]:
    """Which copy of the teacher the run used, its fingerprint and the commands that reproduce it (records of demos
    that did not record it: nothing)."""
    if not teacher:
        return []
    return [f"Teacher `{teacher['spec']}`: {teacher['copy']}; fingerprint `{teacher['fingerprint']}`"
            + (f", fitted on split `{teacher['fitted_on_split']}`" if teacher.get("fitted_on_split") else "")
            + (f" (this dataset's split: `{teacher['split_here']}`)" if teacher.get("split_here") else "")
            + ". Reproduced by:", "", "```bash", *teacher.get("reproduce", []), "```", ""]


def open_vocab_lines(summary: dict[str, Any]) -> list[str]:
    """The open-vocabulary summary the demo printed: P@10, R@50, mAP per domain, each ranking and random."""
    first = next(iter(summary.values()))
    k, n = first["options"]["precision_at"], first["options"]["recall_at"]
    domains = list(first["domains"])
    lines = [f"Open-vocabulary summary: {first['n_queries_listed']} noun queries, relevance = the title names the noun "
             f"(teacher `{first['teacher']}`; one seed of the model).", "",
             "| ranking | " + " | ".join(f"{d} P@{k} | {d} R@{n} | {d} mAP" for d in domains) + " |",
             "|---" * (1 + 3 * len(domains)) + "|"]
    rows = [(name, {d: block["domains"][d]["method"] for d in domains}) for name, block in summary.items()]
    rows.append(("random ranking", {d: first["domains"][d]["random"] for d in domains}))
    for name, by_domain in rows:
        lines.append(f"| {name} | " + " | ".join(f"{by_domain[d][m]:.3f}" for d in domains for m in ("p_at", "r_at", "map_all"))
                     + " |")
    lines += ["", "; ".join(f"{d}: {v['method']['n_queries']} queries with a relevant item among {v['method']['n_items']}"
                            for d, v in first["domains"].items()) + ".", ""]
    return lines
