"""Does the ordering of methods change with the teacher? Two suites that differ only in the teacher, cell by cell.

    python bench/teacher_rerun.py --base openclipart-grouped --new openclipart-grouped-224 --name grouped_224

Reads the stored runs of both suites (``bench/results/<suite>/*.json``: same split, captions, caps and
seeds; only the teacher differs) and writes ``bench/results/teacher_rerun/<name>.{json,md,png}``:
per method and bit length the label mAP@all of each suite (mean ± sample std over seeds) and the
change; the order of the methods at each bit length and direction under each teacher; and, from
the new suite's open-vocabulary scores, P@10 on the drawings and the emoji glyphs with each
method's share of the float teacher's.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.report_budget import budget_cell
from distilhash.benchmark.results import write_results
from distilhash.benchmark.suite import repo_root
from distilhash.eval.spread import mean_std

DIRS = ("i2t", "t2i")
DOMAINS = ("openclipart", "emoji")
FLOAT = ("float-teacher", "float-student")


def _records(suite: str) -> dict[tuple[str, int | None], list[dict[str, Any]]]:
    """``(label, bits)`` -> the suite's ok run records of that cell."""
    out: dict[tuple[str, int | None], list[dict[str, Any]]] = defaultdict(list)
    for f in sorted((repo_root() / "bench" / "results" / suite).rglob("*.json")):  # labels with a "/" sit in subfolders
        r = json.loads(f.read_text())
        if r.get("status") == "ok" and "metrics" in r:
            out[(r["spec"]["label"], r["spec"]["bits"])].append(r)
    return out


def _fmt(s: dict[str, Any] | None) -> str:
    if not s:
        return "—"
    return f"{s['mean']:.3f}" + (f" ± {s['std']:.3f}" if s["std"] is not None else "") + (f" (n={s['n']})" if s["n"] != 3 else "")


def _cells(base: dict, new: dict) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(set(base) | set(new), key=lambda k: (k[1] or 0, k[0])):
        row: dict[str, Any] = {"label": key[0], "bits": key[1]}
        for side, recs in (("base", base.get(key, [])), ("new", new.get(key, []))):
            for d in DIRS:
                row[f"{side} {d}"] = mean_std([r["metrics"][d]["map_all"] for r in recs]) if recs else None
            row[f"{side} budget"] = budget_cell(recs) if recs else "—"
        for dom in DOMAINS:
            ps = [r["open_vocab"]["domains"][dom]["method"]["p_at"] for r in new.get(key, []) if "open_vocab" in r]
            row[f"p10 {dom}"] = mean_std(ps) if ps else None
        rows.append(row)
    return rows


def _orders(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Per bit length and direction, the methods from best to worst under each teacher (both sides measured)."""
    out: dict[str, dict[str, list[str]]] = {}
    for bits in sorted({r["bits"] for r in rows if r["bits"] is not None}):
        cell = [r for r in rows if r["bits"] == bits and r["base i2t"] and r["new i2t"]]
        for d in DIRS:
            out[f"{bits} bits {d}"] = {side: [r["label"] for r in sorted(cell, key=lambda r: -r[f"{side} {d}"]["mean"])]
                                      for side in ("base", "new")}
    return out


def _markdown(a, rows, orders, teacher_p10) -> str:
    lines = [f"# The same methods on two teachers: `{a.base}` vs `{a.new}`", "",
             "Label mAP@all (split.query vs split.retrieval), mean ± sample std over 3 method seeds; the two suites share the "
             "split, the captions, the early-stopping caps and the seeds; only the teacher differs. Open-vocabulary P@10 "
             "(176 nouns, relevance by title) is from the new suite, with the share of its float teacher's P@10.", "",
             "| method | bits | i2t base | i2t new | t2i base | t2i new | P@10 drawings (share) | P@10 emoji (share) | budget (new) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        shares = []
        for dom in DOMAINS:
            p = r[f"p10 {dom}"]
            shares.append("—" if p is None else f"{_fmt(p)} ({p['mean'] / teacher_p10[dom]:.2f}x)" if teacher_p10.get(dom) else _fmt(p))
        lines.append(f"| {r['label']} | {r['bits'] or 'float'} | {_fmt(r['base i2t'])} | {_fmt(r['new i2t'])} | "
                     f"{_fmt(r['base t2i'])} | {_fmt(r['new t2i'])} | {shares[0]} | {shares[1]} | {r['new budget']} |")
    lines += ["", "## Order of the methods (best first)", "", "| cell | base teacher | new teacher | same order |", "|---|---|---|---|"]
    for cell, o in orders.items():
        lines.append(f"| {cell} | {' > '.join(o['base'])} | {' > '.join(o['new'])} | {'yes' if o['base'] == o['new'] else 'no'} |")
    return "\n".join(lines) + "\n"


def _plot(rows):
    keep = [r for r in rows if (r["bits"] in (None, 64)) and r["base i2t"] and r["new i2t"]]

    def draw(path):
        with figure(path, 1, 2, figsize=(1.0 * len(keep) + 4, 4.2)) as (fig, axes):
            x = np.arange(len(keep))
            for ax, d in zip(axes, DIRS):
                for j, (side, colour) in enumerate((("base", "tab:blue"), ("new", "tab:orange"))):
                    ax.bar(x + (j - 0.5) * 0.38, [r[f"{side} {d}"]["mean"] for r in keep], 0.36, color=colour,
                           yerr=[r[f"{side} {d}"]["std"] or 0 for r in keep], capsize=2, label=f"{side} teacher")
                ax.set_xticks(x, [r["label"] for r in keep], rotation=30, fontsize=8)
                ax.set_title(f"{d}, 64 bits and float", fontsize=9)
                ax.set_ylabel("label mAP@all")
                ax.grid(axis="y", alpha=0.3)
            axes[0].legend(fontsize=8)

    return draw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="openclipart-grouped", help="suite on the old teacher")
    ap.add_argument("--new", default="openclipart-grouped-224", help="suite on the new teacher (with open-vocabulary scores)")
    ap.add_argument("--name", default="grouped_224")
    a = ap.parse_args()
    base, new = _records(a.base), _records(a.new)
    some = next(r for recs in new.values() for r in recs)
    prov = collect_provenance("teacher_rerun", a.name, seeds=[0, 1, 2], model_selection="split.val only (each run's own early stopping)",
                              dataset="openclipart", dataset_hash=some["dataset"].get("dataset_hash"),
                              split_hash=some["dataset"]["split_hash"], root=repo_root())
    rows = _cells(base, new)
    teacher = next((r for r in rows if r["label"] == "float-teacher"), {})
    teacher_p10 = {dom: teacher[f"p10 {dom}"]["mean"] for dom in DOMAINS if teacher.get(f"p10 {dom}")}
    orders = _orders(rows)
    teachers = {side: sorted({r["teacher"] for recs in s.values() for r in recs}) for side, s in (("base", base), ("new", new))}
    result = {"provenance": prov, "suites": {"base": a.base, "new": a.new}, "teachers": teachers, "rows": rows,
              "orders": orders, "teacher_p10": teacher_p10}
    paths = write_results("teacher_rerun", a.name, result, _markdown(a, rows, orders, teacher_p10), _plot(rows))
    print(paths["md"])


if __name__ == "__main__":
    main()
