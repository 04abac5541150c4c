"""The weak-match note on an own folder: the fixed contrast threshold (2.0) against the one set from the index's own captions.

    DISTILHASH_HOME=... python bench/weak_match_small.py INDEX --queries FILE --name NAME
    DISTILHASH_HOME=... python bench/weak_match_small.py INDEX --own-folder-queries --name NAME   # bench/own_folder_journey.py's folder

Each query was written down before any search, with the picture it means (``query | picture.png`` per
line of FILE; ``query | -`` for one whose picture the folder does not hold, or nonsense; ``query | word:horse``
for a large index where any item whose caption holds the word is right). The service
(:class:`distilhash.serve.engine.SearchService`, the page's answers) answers each; the query is then
"right first" (its picture is the top hit), "right not first" or "absent". For each group: the share
flagged weak before issue 24's fix (``contrast < 2.0``; the contrast itself is unchanged; text queries of
a model with a caption-letters calibration were and are judged by their letters score) and by the service now (on an index its sample covers, the threshold set at
start from the index's own captions, :mod:`distilhash.serve.match`). Nothing is chosen here: the
threshold rule was fixed before these queries were run through it.
Writes ``bench/results/weak_match/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.provenance import collect_provenance, finish_provenance
from distilhash.benchmark.results import write_results

GROUPS = ("right first", "right not first", "absent")


def read_queries(path: Path) -> dict[str, str | None]:
    """``query | picture`` lines (``#`` comments and other lines skipped) -> query: picture id (file stem) or None."""
    out: dict[str, str | None] = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or " | " not in line:
            continue
        query, picture = (x.strip() for x in line.split(" | ", 1))
        picture = picture.split()[0] if picture else "-"
        out[query] = None if picture == "-" else picture if picture.startswith("word:") else Path(picture).stem
    return out


def _right(picture: str, hits: list[dict[str, Any]]) -> bool:
    """Is the first hit the query's picture (its id), or, for ``word:W``, an item whose caption holds the word W?"""
    if not hits:
        return False
    if picture.startswith("word:"):
        return picture[5:].lower() in (hits[0].get("caption") or "").lower().replace("-", " ").split()
    return hits[0]["id"] == picture


def judge(index: Path, queries: dict[str, str | None]) -> dict[str, Any]:
    """Per query: the top hit, its group, the contrast, weak by the fixed rule and by the service now."""
    from distilhash.serve.engine import SearchService
    from distilhash.serve.match import WEAK_CONTRAST

    svc = SearchService([index])
    try:
        target = next(iter(svc.targets.values()))
        calibration = dict(target.reference.calibration) if target.reference is not None else None
        items = len(target.index)
        rows = []
        for query, picture in queries.items():
            a = svc.search_text(query, k=5)
            m = a["match"] or {}
            top = a["results"][0]["id"] if a["results"] else None
            group = "absent" if picture is None else ("right first" if _right(picture, a["results"][:1]) else "right not first")
            rows.append({"query": query, "picture": picture, "top": top, "group": group,
                         "top5": [r["id"] for r in a["results"]], "top_caption": a["results"][0]["caption"] if a["results"] else None,
                         "contrast": m.get("contrast"), "letters": (m.get("likeness") or {}).get("score"),
                         "weak_fixed": bool(m.get("weak")) if m.get("rule") == "caption-letters" else
                         bool(m.get("contrast") is not None and m["contrast"] < WEAK_CONTRAST),
                         "weak_now": bool(m.get("weak")), "rule_now": m.get("rule") or m.get("threshold_rule")})
    finally:
        svc.close()
    summary = {g: {"n": sum(r["group"] == g for r in rows),
                   "flagged_fixed": sum(r["weak_fixed"] for r in rows if r["group"] == g),
                   "flagged_now": sum(r["weak_now"] for r in rows if r["group"] == g)} for g in GROUPS}
    return {"index": str(index), "items": items, "calibration": calibration, "summary": summary, "queries": rows}


def _auc(lower: np.ndarray, higher: np.ndarray) -> float:
    """P(a value of ``lower`` < one of ``higher``), ties half: 0.5 = the two cannot be told apart."""
    lo, hi = np.asarray(lower)[:, None], np.asarray(higher)[None]
    return float((lo < hi).mean() + 0.5 * (lo == hi).mean())


def caption_separation(index: Path, n: int = 300, seed: int = 0) -> dict[str, Any]:
    """Why a fixed contrast threshold misfires on a small index: each of up to ``n`` captions (seeded draw) searched
    with its own item in the collection (the best hit's contrast) and left out (the best *other* item's contrast).
    The area under the ROC curve of the two: how well the contrast tells a present right answer from an absent one."""
    from distilhash.data.captions import shown_caption
    from distilhash.index import open_index
    from distilhash.query_encoders.query_encoder import query_encoder_for
    from distilhash.serve.match import WEAK_CONTRAST, MatchReference

    with open_index(index) as idx:
        items = [(i, shown_caption(md)) for i, md in idx.iter_metadata()]
        items = [(i, c) for i, c in items if c and c.strip()]
        pick = sorted(np.random.default_rng(seed).choice(len(items), size=min(n, len(items)), replace=False))
        ids, caps = [items[p][0] for p in pick], [items[p][1] for p in pick]
        query = query_encoder_for(idx).encode_texts(caps)
        dist = MatchReference(idx, 512).distances(query)
        typical, spread = np.median(dist, axis=1), dist.std(axis=1)
        present, absent = [], []
        for i, r in zip(ids, idx.search(query, 2)):
            got, d = list(r.ids), r.distances.tolist()
            present.append(d[0])
            absent.append(d[1] if got[0] == i else d[0])
        cp, ca = (typical - np.array(present)) / spread, (typical - np.array(absent)) / spread
    return {"captions": len(ids), "contrast_present_q10_50_90": np.quantile(cp, [0.1, 0.5, 0.9]).round(2).tolist(),
            "contrast_absent_q10_50_90": np.quantile(ca, [0.1, 0.5, 0.9]).round(2).tolist(),
            "auc_contrast": round(_auc(-cp, -ca), 3),
            "below_fixed_present": round(float(np.mean(cp < WEAK_CONTRAST)), 3),
            "below_fixed_absent": round(float(np.mean(ca < WEAK_CONTRAST)), 3),
            "note": "absent = the caption's own item left out (the best other item); near-duplicates make that no true absence"}


def markdown(result: dict[str, Any]) -> str:
    """The summary table, then every query."""
    cal = result["calibration"] or {}
    how = (f"{cal['right_first']} of {cal['captions']} captions find their own picture first" if "captions" in cal
           else "the match sample is part of the index: its premise holds")
    lines = [f"# Weak-match note on {result['label']}: before issue 24's fix and now", "",
             f"Index `{Path(result['index']).name}` ({result['items']:,} items). Contrast threshold now: "
             f"**{cal.get('threshold', 2.0)}** ({cal.get('rule', 'fixed')}; {how}). Queries written before any search.", "",
             "| group | queries | flagged weak, before | flagged weak, now |", "|---|---|---|---|"]
    for g, s in result["summary"].items():
        lines.append(f"| {g} | {s['n']} | {s['flagged_fixed']} | {s['flagged_now']} |")
    lines += ["", "| query | picture | top hit | contrast | letters score | weak, before | weak, now (rule) |",
              "|---|---|---|---|---|---|---|"]
    for r in result["queries"]:
        lines.append(f"| {r['query']} | {r['picture'] or '-'} | {r['top']} ({r['top_caption']}) | {r['contrast']} | "
                     f"{'—' if r['letters'] is None else r['letters']} | {'yes' if r['weak_fixed'] else 'no'} | "
                     f"{'yes' if r['weak_now'] else 'no'} ({r['rule_now']}) |")
    lines += ["", "`weak, before`: contrast below 2.0 (the fixed threshold), or for a model with a caption-letters "
              "calibration the letters rule, which the fix did not change."]
    sep = result["caption_separation"]
    lines += ["", f"Why (the index's own {sep['captions']} captions as queries, their item in the collection / left out): "
              f"contrast quantiles 10/50/90 % {sep['contrast_present_q10_50_90']} / {sep['contrast_absent_q10_50_90']}; "
              f"below 2.0: {sep['below_fixed_present']:.0%} / {sep['below_fixed_absent']:.0%}; area under the ROC curve "
              f"{sep['auc_contrast']:.2f} (0.5: no separation). {sep['note']}."]
    prov = result["provenance"]
    lines += ["", f"Command: `{prov['command']}`; load average before / after {prov.get('load_before')} / "
              f"{prov.get('load_after')} (a shared machine).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("index", type=Path)
    p.add_argument("--queries", type=Path, help="query | picture lines, written before any search")
    p.add_argument("--own-folder-queries", action="store_true", help="bench/own_folder_journey.py's 20 queries")
    p.add_argument("--label", default="an own folder", help="what the index holds, for the table's title")
    p.add_argument("--name", required=True, help="result name under bench/results/weak_match/")
    a = p.parse_args(argv)
    if a.own_folder_queries:
        from distilhash.benchmark.own_folder import QUERIES

        queries: dict[str, str | None] = {q: Path(f).stem for q, f in QUERIES.items()}
    elif a.queries is not None:
        queries = read_queries(a.queries)
    else:
        raise SystemExit("give --queries FILE or --own-folder-queries")
    prov = collect_provenance("weak_match", a.name, seeds=[0], dataset=a.label,
                              model_selection="threshold rule fixed before these queries (serve/match.py: 10 % of the "
                                              "index's right-first captions, at most 2.0); queries written before any search")
    result = {"provenance": prov, "label": a.label, **judge(a.index, queries), "caption_separation": caption_separation(a.index)}
    finish_provenance(prov)
    write_results("weak_match", a.name, result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
