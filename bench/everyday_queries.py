"""Everyday queries, top 10 rendered as contact sheets to be judged by eye (blind to the ranking).

Usage (a ``make demo`` home)::

    DISTILHASH_HOME=data python bench/everyday_queries.py render      # sheets + the hidden key
    python bench/everyday_queries.py score                             # after judging: P@10 per ranking
    DISTILHASH_HOME=data python bench/everyday_queries.py census       # titles naming each query (any time)
    # another committed query list, other rankings, another output folder:
    python bench/everyday_queries.py render --queries bench/everyday_queries_3.json --out DIR \
        --ranking "index demo-dcmq64-image" --ranking "index pq64-s0-image" \
        --ranking "float lite0-prior:openclipart-224-short"

The query lists are ``bench/everyday_queries*.json`` (each committed before any of its results was
seen). A ranking is ``"KIND ARG"`` (:mod:`distilhash.benchmark.everyday_rankings`): ``index NAME``
answers as the search service does (the index's own model and query encoder), ``float SPEC`` is a
float teacher. Each returns its top 10 of the ``split.retrieval`` drawings; each gets a sheet
``sheet-N.png`` whose N is drawn by a seeded shuffle, so the judge does not know which ranking a
sheet shows. The key (sheet -> ranking) is in ``everyday.json``; the judgments go into
``judgments.json`` (``{"sheet-N": {"query": [positions 1-10 of the drawings judged relevant]}}``).
``score`` joins both into ``everyday.md`` (with ``near_misses.json``, same shape, it adds the table
with the near misses counted; with ``census.json`` the number of retrieval drawings whose title
names each query, a floor on what the database holds, and the ranks each ranking gives them).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import numpy as np

from distilhash.benchmark.blind_judging import (check_judgments, contact_sheet, judged_scores, judged_table, paired_counts,
                                                ranks_of, score_table, title_census, with_near_misses)
from distilhash.benchmark.everyday_rankings import everyday_rankings

HERE = Path(__file__).resolve().parent
QUERIES = HERE / "everyday_queries.json"
OUT = HERE / "results" / "everyday_queries"
#: today's demo as it answers on the page, and its float teacher
RANKINGS = ("index demo-dcmq64-image", "float lite0-prior:openclipart-224-short")


def render(a: argparse.Namespace) -> None:
    from distilhash.benchmark.open_vocab.domains import openclipart_titles
    from distilhash.benchmark.provenance import collect_provenance, finish_provenance
    from distilhash.data.store import open_prepared

    listed = json.loads(Path(a.queries).read_text())
    queries = listed["queries"]
    out = Path(a.out)
    ds, split = open_prepared("openclipart")
    prov = collect_provenance("everyday_queries", "everyday", split=split, dataset="openclipart",
                              model_selection="none here: the rankings' own (split.val); queries written before any result")
    ranked = everyday_rankings(a.ranking or RANKINGS, queries, ds, np.asarray(split.retrieval), k=10)
    order = np.random.default_rng(20261207).permutation(len(ranked))
    out.mkdir(parents=True, exist_ok=True)
    key, tops = {}, {}
    for sheet_no, k in enumerate(order, 1):
        name = list(ranked)[k]
        rows = ranked[name]
        key[f"sheet-{sheet_no}"] = name
        contact_sheet([list(ds.images.array(np.asarray(r), 128)) for r in rows], queries, out / f"sheet-{sheet_no}.png")
        tops[f"sheet-{sheet_no}"] = {q: {"ids": [ds.ids[i] for i in r], "titles": openclipart_titles([ds.ids[i] for i in r])}
                                     for q, r in zip(queries, rows)}
    (out / "everyday.json").write_text(json.dumps({"provenance": finish_provenance(prov), "queries": queries,
                                                   "query_file": str(a.queries),
                                                   "judging": listed.get("judging"), "key": key, "top10": tops}, indent=1) + "\n")
    print(f"wrote {len(key)} sheets to {out}; judge them into {out / 'judgments.json'} before reading the key")


def score(a: argparse.Namespace) -> None:
    out = Path(a.out)
    data = json.loads((out / "everyday.json").read_text())
    judged = json.loads((out / "judgments.json").read_text())
    text = judged_table(data, judged)
    text += "\n## Query by query: which ranking judged better (A > B / A < B / tie, of the queries)\n\n"
    text += "| A | B | A better | B better | tie |\n|---|---|---|---|---|\n"
    text += "".join(f"| {x} | {y} | {w} | {l} | {t} |\n" for x, y, w, l, t in paired_counts(judged_scores(data, judged)))
    if (out / "near_misses.json").is_file():
        near = json.loads((out / "near_misses.json").read_text())
        check_judgments(data, near, "near_misses.json", complete=False)
        lenient = score_table(judged_scores(data, with_near_misses(judged, near)))
        text += f"\n## With the near misses counted too (`near_misses.json`: {near.get('what', '')})\n\n{lenient}"
    if (out / "census.json").is_file():
        census = json.loads((out / "census.json").read_text())
        names = list(next(iter(census["counts"].values()))["ranks"])
        text += (f"\n## What the database holds: retrieval drawings whose title names the query (of {census['n_titles']}; "
                 "a floor: titles miss some), and where each ranking puts the ones whose title has all its words\n\n"
                 "| query | title has its last word | title has all its words | " + " | ".join(f"ranks: {n}" for n in names)
                 + " |\n" + "|---" * (3 + len(names)) + "|\n")
        text += "".join(f"| {q} | {c['head']} | {c['all_words']} | " + " | ".join(
            ", ".join(map(str, c["ranks"][n][:6])) + (" ..." if len(c["ranks"][n]) > 6 else "") for n in names) + " |\n"
            for q, c in census["counts"].items())
    (out / "everyday.md").write_text(text)
    print(text, end="")


def census(a: argparse.Namespace) -> None:
    from distilhash.benchmark.open_vocab.domains import openclipart_titles
    from distilhash.benchmark.provenance import collect_provenance, finish_provenance
    from distilhash.data.store import open_prepared

    queries = json.loads(Path(a.queries).read_text())["queries"]
    ds, split = open_prepared("openclipart")
    prov = collect_provenance("everyday_queries", "census", split=split, dataset="openclipart",
                              model_selection="none here: the rankings' own (split.val); titles read only to count and rank them")
    rows = np.asarray(split.retrieval)
    titles = openclipart_titles([ds.ids[int(i)] for i in rows])
    counts = title_census(queries, titles)
    full = everyday_rankings(a.ranking or RANKINGS, queries, ds, rows, k=len(rows))  # every drawing ranked
    for n, q in enumerate(queries):
        titled = counts[q].pop("titled")
        counts[q]["titles"] = [titles[i] for i in titled]
        counts[q]["ranks"] = {name: ranks_of(r[n], rows[titled]) for name, r in full.items()}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "census.json").write_text(json.dumps({"provenance": finish_provenance(prov), "query_file": str(a.queries),
                                                 "n_titles": len(titles), "counts": counts}, indent=1) + "\n")
    print(f"wrote {out / 'census.json'}: " + ", ".join(f"{q} {c['head']}/{c['all_words']}" for q, c in counts.items()))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=("render", "score", "census"))
    p.add_argument("--queries", default=str(QUERIES), help="a committed query list (JSON with a 'queries' list)")
    p.add_argument("--out", default=str(OUT), help="folder of the sheets, the key and the judgments")
    p.add_argument("--ranking", action="append", help=f"rankings to show, each 'KIND ARG' (default: {'; '.join(RANKINGS)})")
    args = p.parse_args()
    {"render": render, "score": score, "census": census}[args.what](args)
