"""Float teachers on the less leaky text (title + description) against the measured random ranking.

    DISTILHASH_HOME=... python bench/less_leaky_teachers.py --name NAME \\
        --teacher "today=lite0-minilm:openclipart" --teacher "tuned=lite0-tuned:DIR0,lite0-tuned:DIR1" ...

Each ``--teacher LABEL=SPEC[,SPEC...]`` is one row (several fits: mean and sample std). Float retrieval
as in the openclipart suites: the 1,000 ``split.query`` items against the ``split.retrieval`` items,
image->text and text->image mAP@all, relevance = share a label; every caption is the drawing's SVG
title + description (``bench/less_leaky_features.py``'s variant; "untitled" when both are empty).
"x random" divides by the measured random ranking on the same split: random unit vectors on both sides
(seeds 0-2), scored exactly like the teachers (the headline's random runs are on the older item-level
split ``6784f3fc7b1e``). Image inputs: Lite0 pooled features (tower cache) or, for a
fine-tuned tower, its stage-4 maps (fit cache for split.train, computed once for the other rows).
Writes ``bench/results/less_leaky_teachers/NAME.{json,md}``.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from distilhash.benchmark.open_vocab.pooled import embed_pooled, reads_maps, unit
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results


def _texts(ds) -> list[str]:
    from distilhash.data.openclipart import DEFAULT_ROOT
    from distilhash.data.svg_meta import read_svg_meta

    metas = [read_svg_meta(f"{DEFAULT_ROOT}/svg/{i[3:]}.svg") for i in ds.ids]
    out = [". ".join(p for p in (m.title, m.description) if p) for m in metas]
    return [t if t.strip() else "untitled" for t in out]


def _all_maps(ds, split, size: int) -> np.ndarray:
    """Stage-4 maps of every item: split.train and split.query from their caches, the remaining rows computed once."""
    from distilhash.paths import teachers_dir
    from distilhash.teachers.lite0_tune_fit import stage_maps

    cache = teachers_dir() / "cache"
    parts = [np.asarray(split.train), np.asarray(split.query)]
    parts.append(np.setdiff1d(np.arange(len(ds)), np.concatenate(parts)))
    maps = [stage_maps(ds, rows, size, cache) for rows in parts if len(rows)]
    out = np.zeros((len(ds),) + maps[0].shape[1:], np.float16)
    for rows, m in zip([p for p in parts if len(p)], maps):
        out[rows] = m
    return out


def main(argv: list[str] | None = None) -> None:
    from distilhash.codes import Encoded
    from distilhash.data.store import open_prepared
    from distilhash.eval.metrics import evaluate
    from distilhash.paths import teachers_dir
    from distilhash.teachers.lite0_features import tower_features
    from distilhash.teachers.registry import create_teacher

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--teacher", action="append", required=True, help="LABEL=SPEC[,SPEC...]")
    p.add_argument("--name", default="teachers")
    a = p.parse_args(argv)
    ds, split = open_prepared("openclipart")
    prov = collect_provenance("less_leaky_teachers", a.name, split=split, dataset="openclipart",
                              model_selection="teachers as fitted (selection on split.val, see each one's info); nothing "
                                              "chosen here")
    texts = _texts(ds)
    q, r = np.asarray(split.query), np.asarray(split.retrieval)

    def enc(x: np.ndarray, rows_: np.ndarray) -> Encoded:
        return Encoded("float", np.ascontiguousarray(x[rows_]), 32 * x.shape[1])

    def both(z: np.ndarray, e: np.ndarray) -> tuple[float, float]:
        return (float(evaluate(enc(z, q), enc(e, r), ds.labels[q], ds.labels[r], curves=False).map_all),
                float(evaluate(enc(e, q), enc(z, r), ds.labels[q], ds.labels[r], curves=False).map_all))

    random_runs = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        random_runs.append(both(unit(rng.standard_normal((len(ds), 64))), unit(rng.standard_normal((len(ds), 64)))))
    chance = {"i2t": float(np.mean([x[0] for x in random_runs])), "t2i": float(np.mean([x[1] for x in random_runs])),
              "runs": random_runs}
    inputs: dict[tuple[str, int], np.ndarray] = {}
    rows: dict[str, Any] = {}
    for arg in a.teacher:
        label, _, specs = arg.partition("=")
        fits = []
        for spec in [s.strip() for s in specs.split(",") if s.strip()]:
            t = create_teacher(spec)
            key = ("maps" if reads_maps(t) else "pooled", int(t.image_size))
            if key not in inputs:
                inputs[key] = (_all_maps(ds, split, key[1]) if key[0] == "maps" else
                               tower_features(ds, np.arange(len(ds)), key[1], teachers_dir() / "cache")[0])
            z = t.embed_maps(inputs[key]) if key[0] == "maps" else embed_pooled(t, inputs[key])
            e = unit(t.encode_texts(texts))
            i2t, t2i = both(z, e)
            fits.append({"spec": spec, "fingerprint": t.fingerprint, "i2t": float(i2t), "t2i": float(t2i)})
            print(label, spec, round(i2t, 4), round(t2i, 4), flush=True)
        row = {"fits": fits}
        for d in ("i2t", "t2i"):
            v = np.array([f[d] for f in fits])
            row[d], row[d + "_std"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
            row[d + "_x_random"] = row[d] / chance[d]
        rows[label.strip()] = row
    result = {"provenance": prov, "chance": chance, "rows": rows, "n_query": int(len(q)), "n_database": int(len(r)),
              "text": "SVG title + description"}
    write_results("less_leaky_teachers", a.name, result, markdown(result))


def markdown(r: dict[str, Any]) -> str:
    c = r["chance"]
    lines = ["# Float teachers on title + description captions (the less leaky text)", "",
             f"mAP@all, {r['n_query']} openclipart queries vs {r['n_database']} database items, relevance = share a label; "
             f"mean +- sample std over the fits; x random = over the measured random ranking on this split (random unit "
             f"vectors, 3 seeds: i2t {c['i2t']:.4f}, t2i {c['t2i']:.4f}). Goal: 5x both ways.", "",
             "| teacher | fits | i2t | t2i | i2t x random | t2i x random |", "|---|---|---|---|---|---|"]
    for name, row in r["rows"].items():
        lines.append(f"| {name} | {len(row['fits'])} | {row['i2t']:.3f} +- {row['i2t_std']:.3f} | {row['t2i']:.3f} +- "
                     f"{row['t2i_std']:.3f} | {row['i2t_x_random']:.2f}x | {row['t2i_x_random']:.2f}x |")
    lines += ["", "Specs: " + "; ".join(f"{n}: {', '.join(f['spec'] for f in row['fits'])}" for n, row in r["rows"].items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
