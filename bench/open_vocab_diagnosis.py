"""Why do everyday queries fail on the demo? Stage by stage, with hubness measured.

Usage (a ``make demo`` home: the openclipart dataset, the ``lite0-minilm:openclipart`` teacher,
its feature cache and the demo's DCMQ 64 model with its static encoder and image index)::

    DISTILHASH_HOME=data python bench/open_vocab_diagnosis.py [--model DIR] [--index DIR]

For each diagnosed query ("a horse", "an alarm clock"; relevant = the drawing's SVG title names
the thing) it reports where the relevant retrieval drawings rank at each stage:

1. the float teacher, query text through MiniLM (the teacher's text tower);
2. the float teacher, query text through the static encoder (the demo's default);
3. the DCMQ 64 index (PQ codes, asymmetric search), query through MiniLM;
4. the DCMQ 64 index, query through the static encoder (what the page answers);

with the top 10 of each stage, the nearest training captions of the query embedding, and the
split membership of the relevant drawings (a drawing of ``split.fit`` was a training pair of
the teacher). **Hubness**: k-occurrence ``N10`` of every retrieval drawing (how many of the queries
put it in their top 10) for the 176 nouns of the open-vocabulary list and the 1,000
``split.query`` captions, for the float teacher and for the DCMQ codes: skewness, maximum, share
never retrieved, the biggest hubs; and where each stage's top results sit in that distribution.

Writes ``bench/results/open_vocab_diagnosis/diagnosis.{json,md}``.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

#: query -> regular expression a relevant title matches (lower-case; Italian "cavallo" is a horse)
DIAGNOSED = {"a horse": r"\bhorses?\b|\bcavall[oi]\b|\bpony\b|\bstallion\b|\bmare\b", "an alarm clock": r"\bclocks?\b"}


def k_occurrence(scores: np.ndarray, k: int = 10) -> np.ndarray:
    """``scores [Q, N]`` -> int ``[N]``: in how many queries' top ``k`` each item is."""
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return np.bincount(top.ravel(), minlength=scores.shape[1])


def hub_summary(n_k: np.ndarray, titles: list[str], ids: list[str], k: int = 10, top: int = 10) -> dict[str, Any]:
    """Skewness, maximum, share of zero and the biggest hubs of a k-occurrence vector."""
    from scipy.stats import skew

    order = np.argsort(-n_k, kind="stable")[:top]
    return {"skewness": float(skew(n_k)), "max": int(n_k.max()), "mean": float(n_k.mean()),
            "share_never_retrieved": float(np.mean(n_k == 0)),
            "top1pct_share_of_slots": float(np.sort(n_k)[::-1][:max(1, len(n_k) // 100)].sum() / n_k.sum()),
            "hubs": [{"id": ids[j], "title": titles[j], "n_k": int(n_k[j])} for j in order], "k": k}


def ranks_of(order: np.ndarray, relevant: np.ndarray) -> list[int]:
    """1-based ranks of the relevant items in a ranking (``order`` = item positions, best first)."""
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order))
    return sorted(int(pos[j]) + 1 for j in np.flatnonzero(relevant))


def main(argv: list[str] | None = None) -> None:
    from distilhash.benchmark.open_vocab.domains import openclipart_titles
    from distilhash.benchmark.open_vocab.vocab import load_query_list
    from distilhash.data.store import open_prepared
    from distilhash.index import open_index
    from distilhash.paths import home, runs_dir
    from distilhash.query_encoders.query_encoder import QueryEncoder
    from distilhash.teachers.cache import default_features_dir, load_features

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="openclipart")
    p.add_argument("--teacher", default="lite0-minilm:openclipart")
    p.add_argument("--model", type=Path, default=None, help="the demo's DCMQ run (default $DISTILHASH_HOME/runs/demo-dcmq64)")
    p.add_argument("--index", type=Path, default=None, help="its image index (default $DISTILHASH_HOME/indexes/demo-dcmq64-image)")
    p.add_argument("--name", default="diagnosis")
    a = p.parse_args(argv)
    model = a.model or runs_dir() / "demo-dcmq64"
    index_dir = a.index or home() / "indexes" / "demo-dcmq64-image"

    ds, split = open_prepared(a.dataset)
    prov = collect_provenance("open_vocab_diagnosis", a.name, split=split, dataset=a.dataset,
                              model_selection="none: the demo's trained teacher, model and index as they are")
    feats = load_features(default_features_dir(a.dataset, a.teacher))
    ret = np.asarray(split.retrieval)
    ids = [ds.ids[i] for i in ret]
    titles = openclipart_titles(ids)
    pos_of = {x: j for j, x in enumerate(ids)}
    fit = set(np.asarray(split.train).tolist()) - set(np.asarray(split.val).tolist())
    img = np.asarray(feats.image[ret], dtype=np.float32)
    fit_rows = np.asarray(sorted(fit))
    encoders = {"MiniLM": QueryEncoder(model, a.teacher, "teacher"), "static": QueryEncoder(model, a.teacher, "static")}

    def index_scores(index, qe: QueryEncoder, texts: list[str]) -> np.ndarray:
        """``[Q, N]`` scores from the index (-rank; rank over the whole database)."""
        res = index.search(qe.encode_texts(texts), len(ids))
        out = np.full((len(texts), len(ids)), -np.inf, dtype=np.float32)
        for i, r in enumerate(res):
            out[i, [pos_of[x] for x in r.ids]] = -np.arange(len(r.ids), dtype=np.float32)
        return out

    stages: dict[str, Any] = {}
    with open_index(index_dir) as index:
        for q, pattern in DIAGNOSED.items():
            rel = np.array([bool(re.search(pattern, t.lower())) for t in titles])
            rel_split = {ids[j]: ("fit" if ret[j] in fit else "val" if ret[j] in set(split.val) else "retrieval only")
                         for j in np.flatnonzero(rel)}
            rec: dict[str, Any] = {"relevant": rel_split, "stages": {}}
            emb = {k: qe.text_features([q])[0] for k, qe in encoders.items()}
            rec["cos_static_vs_MiniLM"] = float(emb["static"] @ emb["MiniLM"])
            cap = np.asarray(feats.text[fit_rows], dtype=np.float32) @ emb["MiniLM"]
            rec["nearest_fit_captions"] = [ds.texts[fit_rows[j]][:80] for j in np.argsort(-cap)[:8]]
            for enc, qe in encoders.items():
                for stage, s in ((f"float teacher, {enc}", img @ emb[enc]), (f"DCMQ 64 index, {enc}", index_scores(index, qe, [q])[0])):
                    order = np.argsort(-s, kind="stable")
                    rec["stages"][stage] = {"relevant_ranks": ranks_of(order, rel),
                                            "top10": [{"id": ids[j], "title": titles[j]} for j in order[:10]]}
            stages[q] = rec

        nouns = load_query_list(None).nouns
        caps = [ds.texts[i] for i in split.query]
        hub: dict[str, Any] = {}
        for qname, texts in (("176 nouns", nouns), ("1000 split.query captions", caps)):
            t = encoders["MiniLM"].text_features(texts)
            hub[f"float teacher, {qname}"] = hub_summary(k_occurrence(t @ img.T), titles, ids)
            s_idx = index_scores(index, encoders["static"], texts)
            hub[f"DCMQ 64 index (static), {qname}"] = hub_summary(k_occurrence(s_idx), titles, ids)
            if qname == "176 nouns":
                n_float, n_dcmq = k_occurrence(t @ img.T), k_occurrence(s_idx)
    # where the diagnosed queries' top results sit in the hub distribution (percentile of N10)
    for q, rec in stages.items():
        for stage, st in rec["stages"].items():
            n_k = n_dcmq if stage.startswith("DCMQ") else n_float
            st["top10_n10_nouns"] = [int(n_k[pos_of[x["id"]]]) for x in st["top10"]]
    result = {"provenance": prov, "diagnosed": stages, "hubness": hub, "n_retrieval": len(ids),
              "model": str(model), "index": str(index_dir), "teacher": a.teacher}
    write_results("open_vocab_diagnosis", a.name, result, markdown(result))


def markdown(r: dict[str, Any]) -> str:
    """The diagnosis as tables."""
    lines = [f"# Why everyday queries fail: stage by stage ({r['teacher']}, {r['n_retrieval']} retrieval drawings)", ""]
    for q, rec in r["diagnosed"].items():
        split_count: dict[str, int] = {}
        for v in rec["relevant"].values():
            split_count[v] = split_count.get(v, 0) + 1
        lines += [f"## \"{q}\"", "", f"{len(rec['relevant'])} relevant drawings (title names it): "
                  + ", ".join(f"{n} {k}" for k, n in split_count.items())
                  + f". cos(static, MiniLM) of the query = {rec['cos_static_vs_MiniLM']:.3f}. Nearest fit captions to"
                  f" the MiniLM query: " + "; ".join(f"`{c}`" for c in rec["nearest_fit_captions"][:5]), "",
                  "| stage | ranks of the relevant drawings | top 5 (title, N10 over the nouns) |", "|---|---|---|"]
        for stage, st in rec["stages"].items():
            top = ", ".join(f"{x['title'][:22] or '(untitled)'} ({n})" for x, n in zip(st["top10"][:5], st["top10_n10_nouns"][:5]))
            lines.append(f"| {stage} | {', '.join(map(str, st['relevant_ranks'][:10]))} | {top} |")
        lines.append("")
    lines += ["## Hubness: k-occurrence N10 of the retrieval drawings", "",
              "| space, queries | skewness | max | mean | never in a top 10 | top 1% of drawings hold | biggest hubs |",
              "|---|---|---|---|---|---|---|"]
    for name, h in r["hubness"].items():
        hubs = ", ".join(f"{x['title'][:18] or '(untitled)'} {x['n_k']}" for x in h["hubs"][:4])
        lines.append(f"| {name} | {h['skewness']:.2f} | {h['max']} | {h['mean']:.1f} | {h['share_never_retrieved']:.0%} | "
                     f"{h['top1pct_share_of_slots']:.0%} of slots | {hubs} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
