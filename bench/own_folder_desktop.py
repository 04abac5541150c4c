"""A new user's label-free folder, end to end with DCMQ's open-vocab preset: is the intended picture in the top 5?

    DISTILHASH_HOME=... python bench/own_folder_desktop.py [--name own_folder_desktop]

The folder, its ten queries (each naming its one picture, fixed before any search) and the eye judgments of each
ranking's top 5 are committed in ``bench/own_folder/desktop_pictures.json`` / ``desktop_judged.json``: 32 pictures no
teacher was fitted on (15 desktop wallpapers, 17 Adwaita icons; Debian files), captions from the file names and no
labels. Runs docs/own-collection.md's commands through the CLI: ``data prepare folder --opt captions=filenames``,
``teacher extract`` (the default teacher), ``teacher search``, ``train dcmq --bits 64 --preset open-vocab`` (its
epoch kept by ``val_criterion=teacher-top10``), the same with ``--set val_criterion=labels`` and ``train pq --bits
64``, ``index build`` and ``search`` of each. Records each query's rank (1-5, or none) of its picture by file id,
the judged hits (they must agree), which part of the split each intended picture is in, and what ``train`` printed
about the kept epoch. Writes ``bench/results/own_folder_journey/<name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

HERE = Path(__file__).resolve().parent / "own_folder"
#: ranking -> (train arguments after the method, or None for the float teacher)
RANKINGS: dict[str, tuple[str, ...] | None] = {
    "float teacher": None,
    "dcmq64 open-vocab": ("dcmq", "--bits", "64", "--preset", "open-vocab"),
    "dcmq64 open-vocab val_criterion=labels": ("dcmq", "--bits", "64", "--preset", "open-vocab", "--set", "val_criterion=labels"),
    "pq64": ("pq", "--bits", "64"),
}


def dh(*args: str) -> str:
    """``distilhash ARGS`` in a child process, as a user types it; its stdout."""
    res = subprocess.run([sys.executable, "-m", "distilhash.cli.main", *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"distilhash {' '.join(args)} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    return res.stdout


def top5_ids(found: list[dict]) -> dict[str, list[str]]:
    """Query -> the ids of its top 5, from ``search --json`` (a list) or ``teacher search --json`` (``queries``)."""
    return {r["query"]: [h["id"] for h in r["results"]][:5] for r in found}


def table(r: dict[str, Any]) -> str:
    """The result as markdown: counts, then each query's rank per ranking."""
    names = list(r["top5"])
    lines = ["# Own folder without labels (desktop pictures): the intended picture in the top 5", "",
             f"{r['n_pictures']} pictures no teacher was fitted on, captions from file names, no labels; "
             f"{r['n_queries']} queries fixed before any search; default teacher `{r['teacher']}`.", "",
             "| ranking | queries with their picture in the top 5 (judged by eye) | kept epoch |", "|---|---|---|"]
    lines += [f"| {n} | {r['top5'][n]} of {r['n_queries']} | {r['train'].get(n, {}).get('kept', '-')} |" for n in names]
    lines += ["", "| query | intended picture (split part) | " + " | ".join(names) + " |", "|---" * (2 + len(names)) + "|"]
    for q, want in r["queries"].items():
        lines.append(f"| {q} | {want} ({r['split_part'][q]}) | "
                     + " | ".join(str(r["ranks"][n][q] or "-") for n in names) + " |")
    lines += ["", "What `train` printed about epoch selection:", ""]
    lines += [f"- {n}: " + " / ".join(f"`{x}`" for x in t["said"]) for n, t in r["train"].items()]
    lines += ["", "Validation score of each epoch (split.val): "
              + "; ".join(f"{n}: {', '.join(f'{v:.3f}' for v in t['val_history'])}" for n, t in r["train"].items()
                          if t["val_history"]) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from distilhash.data.store import open_prepared
    from distilhash.paths import home

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--name", default="own_folder_desktop")
    a = p.parse_args(argv)
    spec = json.loads((HERE / "desktop_pictures.json").read_text())
    judged = json.loads((HERE / "desktop_judged.json").read_text())["rankings"]
    queries: dict[str, str] = spec["queries"]
    prov = collect_provenance("own_folder_journey", a.name, dataset="own folder without labels (desktop wallpapers, "
                              "Adwaita icons)", seeds=[0], model_selection="DCMQ epoch on the folder's split.val (3 items) "
                              "by each run's val_criterion; queries fixed before any search")
    work = home() / "own_folder_desktop"
    folder = work / "folder"
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in spec["pictures"].items():
        shutil.copyfile(source, folder / name)
    dh("data", "prepare", "folder", "--path", str(folder), "--name", a.name, "--opt", "captions=filenames")
    teacher = dh("teacher", "extract", "--dataset", a.name).split("teacher: ", 1)[1].split(" ", 1)[0]
    texts = [x for q in queries for x in ("--text", q)]
    found = {"float teacher": top5_ids(json.loads(dh("teacher", "search", "--dataset", a.name, *texts, "-k", "5",
                                                      "--json"))["queries"])}
    trained: dict[str, dict[str, Any]] = {}
    for n, args in RANKINGS.items():
        if args is None:
            continue
        model, index = work / "runs" / n.replace(" ", "_"), work / "ix" / n.replace(" ", "_")
        out = dh("train", *args[:1], "--dataset", a.name, *args[1:], "--out", str(model), "--no-progress", "--overwrite")
        said = [line for line in out.splitlines() if line.startswith(("note:", "saved "))]
        policy = json.loads((model / "train.json").read_text())["epoch_policy"]
        history = json.loads((model / "fit_info.json").read_text()).get("history", [])
        trained[n] = {"said": said, "kept": policy.get("kept_epoch", "-"), "policy": policy,
                      "val_history": [row["val"] for row in history if "val" in row]}
        shutil.rmtree(index, ignore_errors=True)
        dh("index", "build", str(index), "--model", str(model), "--dataset", a.name)
        found[n] = top5_ids(json.loads(dh("search", str(index), *texts, "-k", "5", "--json")))
    ranks = {n: {q: (f[q].index(Path(w).stem) + 1 if Path(w).stem in f[q] else None) for q, w in queries.items()}
             for n, f in found.items()}
    agree = {n: all((ranks[n][q] is not None) == judged[n][q] for q in queries) for n in ranks}
    if not all(agree.values()):
        raise SystemExit(f"the judged hits differ from this run's ranks ({agree}): judge the new rankings by eye")
    ds, split = open_prepared(a.name)
    ids = list(ds.ids)
    part = {i: k for k in ("fit", "val", "query") for i in getattr(split, k).tolist()}
    result: dict[str, Any] = {
        "provenance": prov, "teacher": teacher, "n_pictures": len(spec["pictures"]), "n_queries": len(queries),
        "labels": ds.num_labels, "queries": queries,
        "split_part": {q: part.get(ids.index(Path(w).stem), "retrieval") for q, w in queries.items()},
        "top5": {n: int(sum(judged[n].values())) for n in ranks}, "ranks": ranks, "top5_ids": found,
        "judged_agrees_with_ranks": agree, "train": trained,
    }
    write_results("own_folder_journey", a.name, result, table(result))
    print(json.dumps({"top5": result["top5"], "kept": {n: t["kept"] for n, t in trained.items()}}))


if __name__ == "__main__":
    main()
