"""The less leaky headline (``bench/less_leaky_table.py``): two suites that differ only in the caption, cell by cell.

Usage::

    result, text, draw = headline("open-vocab", "openclipart-less-leaky")     # title + tags vs title + description
    result, text, draw = headline(tags, leaky, splits=[...], tags_splits=[...], captions="captions_grouped")

Per method and bit length: mAP@all of each caption's runs (mean ± sample std over seeds), each mean
over the measured random ranking (method ``random``, whose ranking ignores every feature, so one set
of runs serves both columns) and the training budget. With ``splits`` (the title + description
suites of other grouped splits, each with its own teacher fit) and ``tags_splits`` (their title +
tags suites), also the float teacher over splits and every cell run on all of them (mean ± sample
std over splits x seeds, the sample std of the split means, the budget over all runs). ``draw(path)``
plots both captions side by side at 64 bits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.report_budget import budget_cell, spread_scope
from distilhash.benchmark.results import results_dir
from distilhash.benchmark.suite_cells import cell_name, map_values, runs_by_cell, spread_text
from distilhash.eval.spread import mean_std, sample_std

__all__ = ["ORDER", "CAPTIONS", "headline", "first_runs"]

ORDER = ["float-teacher", "float-student", "dcmq", "soda", "dcmh", "lcdh", "pq", "itq", "lsh", "random"]
DIRS = ("i2t", "t2i")
CAPTIONS = ("title+tags", "title+description")


def _records(suite: str, root: Path | None) -> dict[str, list[dict[str, Any]]]:
    return runs_by_cell(suite, root, key=cell_name)


def _order(key: str) -> tuple[int, int, str]:
    name, *rest = key.split()
    return (ORDER.index(name) if name in ORDER else 99, int(rest[0]) if rest else 0, key)


def _plot(rows: list[dict[str, Any]], chance: dict[str, float] | None, title: str) -> Callable[[Path], None]:
    """Grouped bars at 64 bits (and the float rows): title + tags vs title + description, both directions."""
    keep = [r for r in rows if r["method"].endswith(" 64 bits") or " " not in r["method"]]

    def draw(path: Path) -> None:
        with figure(path, figsize=(1.1 * len(keep) + 2, 4.2)) as (fig, axes):
            x = np.arange(len(keep))
            for j, (cap, d, colour, alpha) in enumerate([(c, d, col, a) for c, col in zip(CAPTIONS, ("tab:blue", "tab:orange"))
                                                         for d, a in zip(DIRS, (0.9, 0.5))]):
                means = [np.mean(r[f"{cap} {d}"]) if r[f"{cap} {d}"] else np.nan for r in keep]
                axes.bar(x + (j - 1.5) * 0.2, means, 0.19, color=colour, alpha=alpha, label=f"{cap} {d}")
            if chance:
                axes.axhline(np.mean(list(chance.values())), color="k", lw=0.8, ls="--", label="measured random ranking")
            axes.set_xticks(x, [r["method"].replace(" 64 bits", "") for r in keep], rotation=20)
            axes.set_ylabel("mAP@all (split.query vs split.retrieval)")
            axes.set_title(title, fontsize=9)
            axes.legend(fontsize=7, ncol=3)
            axes.grid(axis="y", alpha=0.3)

    return draw


def _labels_line(stem: str | None, root: Path | None) -> list[str]:
    """Which labels come from tags and how often each caption names one, from the caption statistics."""
    if stem is None:
        return []
    c = json.loads((results_dir("less_leaky", root) / f"{stem}.json").read_text())
    share = {k: v["share_naming_one_of_its_tag_labels"] for k, v in c["variants"].items()}
    return [f"Labels: {c['n_tag_labels']} of {c['n_labels']} are keyword tags (`tag:...`, "
            f"{100 * c['tag_share_of_assignments']:.0f}% of the item-label assignments; listed in `{stem}.json`), the other "
            f"{len(c['other_labels'])} category folders (`folder2:...`). Captions naming one of their own tag labels: "
            + ", ".join(f"{k} {100 * v:.0f}%" for k, v in share.items())
            + f"; {c['items_with_description']:,} of {c['n_items']:,} drawings have a description."]


def _teacher_over_splits(suites: list[str], root: Path | None) -> dict[str, Any]:
    """Per suite (one split and teacher fit each): float-teacher mAP, measured random ranking, their ratio; mean ± sample std."""
    per = []
    for suite in suites:
        recs = _records(suite, root)
        t, rnd = recs["float-teacher"][0], recs["random"]
        row = {"suite": suite, "split_hash": t["dataset"]["split_hash"],
               "teacher_fingerprint": (t.get("teacher_identity") or {}).get("fingerprint")}
        for d in DIRS:
            row[d] = t["metrics"][d]["map_all"]
            row[f"random {d}"] = float(np.mean(map_values(rnd, d)))
            row[f"ratio {d}"] = row[d] / row[f"random {d}"]
        per.append(row)
    summary = {k: {"mean": float(np.mean([r[k] for r in per])), "std": float(np.std([r[k] for r in per], ddof=1))}
               for k in (*DIRS, *(f"ratio {d}" for d in DIRS))} if len(per) > 1 else {}
    return {"per_split": per, "summary": summary}


def _over_splits_md(over: dict[str, Any]) -> list[str]:
    lines = ["## Float teacher on title + description over splits and teacher fits", "",
             "Each split has its own teacher fit (fingerprint); ratio = the teacher's mAP@all over the measured random ranking "
             "(method `random`, 3 seeds) of the same split.", "",
             "| suite | split | teacher fingerprint | i2t | t2i | random i2t / t2i | x random i2t / t2i |", "|---|---|---|---|---|---|---|"]
    for r in over["per_split"]:
        lines.append(f"| `{r['suite']}` | `{r['split_hash']}` | `{(r['teacher_fingerprint'] or '—')[:16]}` | {r['i2t']:.3f} | "
                     f"{r['t2i']:.3f} | {r['random i2t']:.4f} / {r['random t2i']:.4f} | {r['ratio i2t']:.2f} / {r['ratio t2i']:.2f} |")
    s = over["summary"]
    if s:
        lines.append(f"| mean ± sample std ({len(over['per_split'])}) | | | {s['i2t']['mean']:.3f} ± {s['i2t']['std']:.3f} | "
                     f"{s['t2i']['mean']:.3f} ± {s['t2i']['std']:.3f} | | {s['ratio i2t']['mean']:.2f} ± {s['ratio i2t']['std']:.2f} / "
                     f"{s['ratio t2i']['mean']:.2f} ± {s['ratio t2i']['std']:.2f} |")
    return [*lines, ""]


def _pooled(suites: list[str], root: Path | None) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Cells run on every one of ``suites``: ``key -> {suite: records}`` (one split and teacher fit per suite)."""
    per = {s: _records(s, root) for s in suites}
    keys = set.intersection(*(set(r) for r in per.values()))
    return {k: {s: per[s][k] for s in suites} for k in sorted(keys, key=_order)}


def _split_stats(by_suite: dict[str, list[dict[str, Any]]], d: str) -> dict[str, Any]:
    """All runs' mean ± sample std, the split means and their sample std, for direction ``d``."""
    means = [float(np.mean(map_values(recs, d))) for recs in by_suite.values()]
    return {"all_runs": mean_std(map_values((r for recs in by_suite.values() for r in recs), d)),
            "split_means": means, "std_over_splits": sample_std(means)}


def _fmt(s: dict[str, Any], chance: float | None = None) -> str:
    return spread_text(s, n_expected=9) + (f" ({s['mean'] / chance:.1f}x)" if chance else "")


def _over_splits_cells(leaky: list[str], tags: list[str], root: Path | None) -> dict[str, Any]:
    """Per cell run on every less leaky split: title + description and (where run on every split) title + tags."""
    desc, tag = _pooled(leaky, root), _pooled(tags, root) if tags else {}
    rnd = [r for recs in desc.get("random", {}).values() for r in recs]
    chance = {d: float(np.mean(map_values(rnd, d))) for d in DIRS} if rnd else None
    rows = []
    for k, by_suite in desc.items():
        recs = [r for rs in by_suite.values() for r in rs]
        row: dict[str, Any] = {"method": k, "runs": len(recs), "splits": sorted({r["dataset"]["split_hash"] for r in recs}),
                               "budget": budget_cell(recs),
                               "dirty": any(r["provenance"].get("dirty") for r in recs),
                               "commits": sorted({r["provenance"].get("commit") for r in recs})}
        for d in DIRS:
            row[f"title+description {d}"] = _split_stats(by_suite, d)
            row[f"title+tags {d}"] = _split_stats(tag[k], d) if k in tag else None
        rows.append(row)
    loads = [r["provenance"].get(k, [0])[0] for rs in desc.values() for recs in rs.values() for r in recs
             for k in ("load_before", "load_after")]
    return {"suites": {"title+description": leaky, "title+tags": tags}, "chance": chance, "rows": rows,
            "load_1min_range": [min(loads), max(loads)] if loads else None}


def _over_splits_cells_md(over: dict[str, Any]) -> list[str]:
    ch = over["chance"] or {}
    lines = ["## Every cell run on all 3 grouped splits: 3 splits x 3 seeds", "",
             "Title + description suites: " + ", ".join(f"`{s}`" for s in over["suites"]["title+description"])
             + "; title + tags: " + ", ".join(f"`{s}`" for s in over["suites"]["title+tags"]) + ". "
             "Each split has its own teacher fit. mAP@all, mean ± sample std over every run (method seeds x splits; "
             "n when not 9); in brackets, over the measured random ranking pooled over the splits"
             + (f" (i2t {ch['i2t']:.4f}, t2i {ch['t2i']:.4f})" if ch else "") + ". `std over splits`: the sample std of the "
             "three split means (what a new split and teacher fit moves). Budget: all title + description runs of the cell."
             + (" Load average (1 min) while these runs ran: {:.1f}–{:.1f}.".format(*over["load_1min_range"]) if over["load_1min_range"] else ""), "",
             "| method | title + description i2t | title + description t2i | std over splits i2t / t2i | title + tags i2t | "
             "title + tags t2i | budget (title + description, every split) |", "|---|---|---|---|---|---|---|"]
    for r in over["rows"]:
        dsc = [r[f"title+description {d}"] for d in DIRS]
        tg = [r[f"title+tags {d}"] for d in DIRS]
        so = " / ".join("—" if s["std_over_splits"] is None else f"{s['std_over_splits']:.3f}" for s in dsc)
        lines.append(f"| {r['method']} | {_fmt(dsc[0]['all_runs'], ch.get('i2t'))} | {_fmt(dsc[1]['all_runs'], ch.get('t2i'))} | {so} | "
                     + " | ".join("—" if t is None else _fmt(t["all_runs"], ch.get(d)) for t, d in zip(tg, DIRS))
                     + f" | {r['budget']} |")
    return [*lines, ""]


def first_runs(suites: list[str], root: Path | None = None) -> list[dict[str, Any]]:
    """Each suite's first ok run record (its dataset and split hashes stand for the suite's)."""
    return [next(r for recs in _records(s, root).values() for r in recs) for s in suites]


def headline(tags: str, less_leaky: str, *, splits: list[str] = (), tags_splits: list[str] = (), captions: str | None = None,
             root: Path | None = None) -> tuple[dict[str, Any], str, Callable[[Path], None]]:
    """The result (without provenance), its markdown and its plot of ``tags`` (title + tags) vs ``less_leaky`` suites."""
    suites = {"title+tags": _records(tags, root), "title+description": _records(less_leaky, root)}
    any_rec = next(r for recs in suites["title+description"].values() for r in recs)
    rnd = suites["title+description"].get("random") or suites["title+tags"].get("random")
    chance = {d: float(np.mean(map_values(rnd, d))) for d in DIRS} if rnd else None
    exact = (any_rec.get("chance") or {}).get("map_all_random_ranking")
    keys = sorted(set(suites["title+tags"]) | set(suites["title+description"]), key=_order)
    rows, table = [], []
    for k in keys:
        row: dict[str, Any] = {"method": k}
        cells = [k]
        for cap in CAPTIONS:
            recs = suites[cap].get(k, [])
            for d in DIRS:
                v = map_values(recs, d)
                row[f"{cap} {d}"] = v
                cells.append(spread_text(mean_std(v)) + (f" ({np.mean(v) / chance[d]:.1f}x)" if v and chance else ""))
            row[f"{cap} seeds"] = [r["spec"]["seed"] for r in recs]
            row[f"{cap} budget"] = budget_cell(recs) if recs else None
            row[f"{cap} commits"] = sorted({r["provenance"].get("commit") for r in recs})
            row[f"{cap} dirty"] = any(r["provenance"].get("dirty") for r in recs)
        cells.append(row["title+description budget"] or "—")
        rows.append(row)
        table.append(cells)
    leaky = [r for recs in suites["title+description"].values() for r in recs]
    loads = [r["provenance"].get(k, [0])[0] for r in leaky for k in ("load_before", "load_after")]
    split = any_rec["dataset"]
    md = [f"# Less leaky headline: title + tags vs title + description captions (`{tags}` vs `{less_leaky}`)", "",
          f"mAP@all, split `{split['split_hash']}`: {split['split_sizes']['query']:,} openclipart "
          f"queries vs {split['split_sizes']['retrieval']:,} database items, relevance = share a label; "
          "mean ± sample std over seeds (n when not 3); in brackets after it, the mean over the measured random ranking's "
          + (f"(i2t {chance['i2t']:.4f}, t2i {chance['t2i']:.4f}; method `random`, 3 seeds" if chance else "(not measured")
          + (f"; the exact expected mAP@all of a random ranking is {exact:.4f})." if exact else ")."),
          "Both columns train every method on its own caption's teacher text features (the title + description runs are "
          "retrained, not the title + tags models re-queried); images, labels, split, label prompts and the teacher fit are "
          "the same. " + spread_scope(leaky),
          "Budget: the title + description runs' cap, epochs run, kept epoch and how many stopped on their own on "
          f"`split.val` (the title + tags runs' budgets: `bench/results/{tags}/report.md`). `—`: not run for that caption.",
          *_labels_line(captions, root), f"Load average (1 min) while the title + description runs ran: {min(loads):.1f}–{max(loads):.1f}.", "",
          "| method | title + tags i2t | title + tags t2i | title + description i2t | title + description t2i | budget (title + description) |",
          "|---|---|---|---|---|---|"] + ["| " + " | ".join(c) + " |" for c in table] + [""]
    over = _teacher_over_splits([less_leaky, *splits], root) if splits else None
    if over:
        md += _over_splits_md(over)
    cells = _over_splits_cells([less_leaky, *splits], [tags, *tags_splits] if tags_splits else [], root) if splits else None
    if cells:
        md += _over_splits_cells_md(cells)
    result = {"suites": {"title+tags": tags, "title+description": less_leaky}, "chance": chance,
              "chance_exact": exact, "rows": rows, "teacher_over_splits": over, "cells_over_splits": cells}
    draw = _plot(rows, chance, f"openclipart, split {split['split_hash']}: title + tags vs title + description (64 bits; mean over seeds)")
    return result, "\n".join(md), draw
