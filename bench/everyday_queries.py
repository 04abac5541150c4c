"""Twenty everyday queries, top 10 rendered as contact sheets to be judged by eye (blind to the ranking).

Usage (a ``make demo`` home)::

    DISTILHASH_HOME=data python bench/everyday_queries.py render      # sheets + the hidden key
    python bench/everyday_queries.py score                             # after judging: P@10 per ranking
    # another committed query list, other float teachers, another output folder:
    python bench/everyday_queries.py render --queries bench/everyday_queries_2.json --out DIR \
        --ranking "float lite0-minilm:openclipart" --ranking "float lite0-prior:NAME"

The queries are ``bench/everyday_queries.json`` (committed before any result was seen). Each
ranking (the demo as it answers: DCMQ 64 index + static encoder; float teachers through MiniLM)
returns its top 10 of the ``split.retrieval`` drawings; each gets a sheet ``sheet-N.png`` whose N
is drawn by a seeded shuffle, so the judge does not know which ranking a sheet shows. The key
(sheet -> ranking) is in ``everyday.json``; the judgments go into ``judgments.json``
(``{"sheet-N": {"query": [positions 1-10 of the drawings that show the thing named]}}``).
``score`` joins both into ``everyday.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import numpy as np

from distilhash.benchmark.blind_judging import contact_sheet, judged_table

HERE = Path(__file__).resolve().parent
QUERIES = HERE / "everyday_queries.json"
OUT = HERE / "results" / "everyday_queries"
RANKINGS = ("demo: DCMQ 64 index, static encoder", "float lite0-minilm:openclipart", "float lite0-prior:openclipart",
            "float lite0-prior:openclipart-mrr")


def rankings(queries: list[str], names: tuple[str, ...] = RANKINGS) -> dict[str, list[list[int]]]:
    """Ranking name (``RANKINGS[0]``, the demo, or ``"float SPEC"``) -> per query the top-10 retrieval rows."""
    from distilhash.data.store import open_prepared
    from distilhash.index import open_index
    from distilhash.paths import home, runs_dir
    from distilhash.query_encoders.query_encoder import QueryEncoder
    from distilhash.teachers.registry import create_teacher

    ds, split = open_prepared("openclipart")
    ret = np.asarray(split.retrieval)
    row_of = {ds.ids[i]: int(i) for i in ret}
    out: dict[str, list[list[int]]] = {}
    if RANKINGS[0] in names:
        with open_index(home() / "indexes" / "demo-dcmq64-image") as index:
            qe = QueryEncoder(runs_dir() / "demo-dcmq64", "lite0-minilm:openclipart", "static")
            out[RANKINGS[0]] = [[row_of[x] for x in r.ids] for r in index.search(qe.encode_texts(queries), 10)]
    for name in names:
        if name == RANKINGS[0]:
            continue
        teacher = create_teacher(name.split(" ", 1)[1])
        img = teacher.encode_dataset_images(ds, ret)
        s = teacher.encode_texts(queries) @ img.T
        out[name] = [[int(ret[j]) for j in np.argsort(-row, kind="stable")[:10]] for row in s]
    return out


def render(a: argparse.Namespace) -> None:
    from distilhash.benchmark.open_vocab.domains import openclipart_titles
    from distilhash.benchmark.provenance import collect_provenance, finish_provenance
    from distilhash.data.store import open_prepared

    queries = json.loads(Path(a.queries).read_text())["queries"]
    out = Path(a.out)
    ds, split = open_prepared("openclipart")
    prov = collect_provenance("everyday_queries", "everyday", split=split, dataset="openclipart",
                              model_selection="none here: the rankings' own (split.val); queries written before any result")
    ranked = rankings(queries, tuple(a.ranking or RANKINGS))
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
                                                   "query_file": str(a.queries), "key": key, "top10": tops}, indent=1) + "\n")
    print(f"wrote {len(key)} sheets to {out}; judge them into {out / 'judgments.json'} before reading the key")


def score(a: argparse.Namespace) -> None:
    out = Path(a.out)
    text = judged_table(json.loads((out / "everyday.json").read_text()), json.loads((out / "judgments.json").read_text()))
    (out / "everyday.md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=("render", "score"))
    p.add_argument("--queries", default=str(QUERIES), help="a committed query list (JSON with a 'queries' list)")
    p.add_argument("--out", default=str(OUT), help="folder of the sheets, the key and the judgments")
    p.add_argument("--ranking", action="append", help=f"rankings to show (default: {'; '.join(RANKINGS)})")
    args = p.parse_args()
    {"render": render, "score": score}[args.what](args)
