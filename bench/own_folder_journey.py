"""A new user's own folder, end to end: does the intended picture come back in the top 5?

    DISTILHASH_HOME=... python bench/own_folder_journey.py [--name own_folder]

Builds a folder of 49 files nobody fitted on (34 openclipart drawings that the openclipart dataset
filters out as unlabelled or over a collection's cap, 10 Noto emoji glyphs, 3 JPEGs of a drawing or
glyph on a coloured backdrop, a corrupt and a truncated file) with hand-written captions and 9
coarse labels, then runs docs/own-collection.md's commands through the CLI: ``data prepare folder``
(first as is, which must refuse the two bad files, then with ``--opt drop_missing_images=true``),
``teacher extract`` without ``--teacher``, ``train dcmq --bits 64``, ``index build``, ``search``.
Twenty queries, each with the one picture it means (``distilhash.benchmark.own_folder.QUERIES``, where the
folder builder lives too; ``tests/test_journey_own_folder.py`` runs the same journey), were written down before any
search. Figures: for each query, the rank of its picture among the folder's 47 pictures by the float
teacher (the default one, and ``lite0-prior`` / ``minilm-lit`` for comparison) and whether it is in
the DCMQ index's top 5 (``--teacher SPEC`` adds a float teacher). The default teacher is this home's fit of the first
recipe of ``OWN_COLLECTION_ORDER`` or its shipped copy. Held out: the same ranks without the pictures some teacher was
fitted on (``own_folder.IN_WIDE_PAIRS``) and the queries that mean one.
Writes ``bench/results/own_folder_journey/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from distilhash.benchmark.own_folder import IN_WIDE_PAIRS, QUERIES, build_folder, journey_markdown, missing_sources, query_ranks
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results


def dh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``distilhash ARGS`` in a child process, as a user types it."""
    res = subprocess.run([sys.executable, "-m", "distilhash.cli.main", *args], capture_output=True, text=True)
    if check and res.returncode != 0:
        raise SystemExit(f"distilhash {' '.join(args)} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    return res


def float_ranks(spec: str, dataset: str) -> tuple[dict[str, int], dict[str, int]]:
    """Query -> rank (1-based) of its picture among the prepared folder's pictures by the float teacher ``spec``: all, held out."""
    from distilhash.data.store import open_prepared
    from distilhash.teachers.registry import create_teacher

    ds, _ = open_prepared(dataset)
    t = create_teacher(spec)
    rows = list(range(len(ds)))
    z = t.encode_dataset_images(ds, rows) if t.capabilities.dataset_images else t.encode_images(ds.images.array(rows, 128))
    text = t.encode_texts(list(QUERIES))
    return query_ranks(z, list(ds.ids), text), query_ranks(z, list(ds.ids), text, IN_WIDE_PAIRS)


def main(argv: list[str] | None = None) -> None:
    from distilhash.paths import home

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--name", default="own_folder")
    p.add_argument("--teacher", action="append", default=[], help="another float teacher spec to rank with")
    a = p.parse_args(argv)
    prov = collect_provenance("own_folder_journey", a.name, dataset="own folder (openclipart drawings outside the "
                              "dataset, Noto glyphs)", seeds=[0], model_selection="DCMQ epoch on the folder's split.val; "
                              "queries fixed before any search")
    if missing_sources():
        raise SystemExit(f"the folder's sources are missing ({', '.join(missing_sources()[:3])}...): run scripts/setup.sh")
    work = home() / "own_folder_journey"
    folder = work / "folder"
    if not (folder / "captions.jsonl").is_file():
        build_folder(folder)
    refused = dh("data", "prepare", "folder", "--path", str(folder), "--name", a.name, check=False)
    dh("data", "prepare", "folder", "--path", str(folder), "--name", a.name, "--opt", "drop_missing_images=true")
    extract = dh("teacher", "extract", "--dataset", a.name).stdout
    teacher = extract.split("teacher: ", 1)[1].split(" ", 1)[0] if "teacher: " in extract else "?"
    copy = "shipped with distilhash" if "shipped with distilhash" in extract else "fitted in this home"
    model, index = work / "runs" / f"{a.name}-dcmq64", work / "ix" / a.name
    if not (model / "method.json").is_file():
        dh("train", "dcmq", "--dataset", a.name, "--bits", "64", "--out", str(model), "--no-progress")
    if not (index / "manifest.json").is_file():
        dh("index", "build", str(index), "--model", str(model), "--dataset", a.name)
    found = json.loads(dh("search", str(index), *[x for q in QUERIES for x in ("--text", q)], "-k", "5", "--json").stdout)
    index_top5 = {r["query"]: Path(QUERIES[r["query"]]).stem in [h["id"] for h in r["results"]] for r in found}
    both = {spec: float_ranks(spec, a.name) for spec in dict.fromkeys([teacher, *a.teacher, "lite0-prior", "minilm-lit"])}
    ranks, held = {s: v[0] for s, v in both.items()}, {s: v[1] for s, v in both.items()}
    result: dict[str, Any] = {
        "provenance": prov, "default_teacher": teacher, "default_teacher_copy": copy, "n_queries": len(QUERIES),
        "refused_bad_files": refused.returncode != 0 and "corrupt.jpg" in refused.stderr + refused.stdout,
        "float_top5": {spec: int(sum(r <= 5 for r in v.values())) for spec, v in ranks.items()},
        "dcmq64_index_top5": int(sum(index_top5.values())), "float_ranks": ranks, "dcmq64_index_hit": index_top5,
        "held_out": {"left_out": sorted(IN_WIDE_PAIRS), "n_pictures": 47 - len(IN_WIDE_PAIRS), "float_ranks": held,
                     "float_top5": {s: int(sum(r <= 5 for r in v.values())) for s, v in held.items()}},
    }
    write_results("own_folder_journey", a.name, result, journey_markdown(result))
    print(json.dumps({k: result[k] for k in ("default_teacher", "refused_bad_files", "float_top5", "dcmq64_index_top5")}
                     | {"held_out_top5": result["held_out"]["float_top5"]}))


if __name__ == "__main__":
    main()
