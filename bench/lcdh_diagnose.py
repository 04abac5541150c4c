"""LCDH diagnosis and model selection on split.val only (issue 7): why the student sat at chance.

Runs the real online stream (``LCDHMethod.fit``) with a given set of options and, after every
chunk, measures on **split.val** (queries) against **split.fit** (database), both encoded by the
*current* student. The stream leaves split.val out (``stream_exclude_val=True``): split.val lies
inside split.retrieval, so a selection run that streamed it would score items it trained on
(every row of the first EmojiScenes sweep did; the report marks them). Measured: mAP@all
i2t / t2i / i2i / t2t, the fraction of bits on which the student's image / text codes agree with the offline teacher's fused code of the same item, and the loss
terms of the chunk. The query set is never touched.

The offline teacher is cached per bit length under ``--teacher-cache`` (the same seed gives the
same teacher as a fresh fit), so that option sweeps only redo the stream.

    DISTILHASH_HOME=data HF_HUB_OFFLINE=1 .venv/bin/python bench/lcdh_diagnose.py \\
        --tag pre_align3 --set image_init=pretrained --set align_weight=3 [--bits 32]
    .venv/bin/python bench/lcdh_diagnose.py --report     # bench/results/lcdh_diagnose/lcdh_val_sweep.{json,md}

Each run adds its record (with its own provenance block) under ``runs[tag]`` of
``bench/results/lcdh_diagnose/<out-name>.json`` (default ``lcdh_val_sweep``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.provenance import collect_provenance, finish_provenance
from distilhash.benchmark.results import read_results, redraw_results, result_paths, write_results
from distilhash.configs import parse_overrides

ROOT = Path(__file__).resolve().parents[1]
BENCH = "lcdh_diagnose"
DEFAULT_NAME = "lcdh_val_sweep"
MODEL_SELECTION = "this is the selection: options compared on split.val (queries) vs split.fit; split.query never read"


def run(tag: str, bits: int, overrides: dict[str, Any], teacher_cache: Path, dataset: str = "emoji-scenes",
        teacher: str = "minilm-lit") -> dict[str, Any]:
    import torch

    import distilhash.methods.lcdh.teacher_fit as tf
    from distilhash.pipeline.inputs import load_features_and_split
    from distilhash.eval.metrics import evaluate
    from distilhash.methods.base import create_method
    from distilhash.methods.lcdh.nets import AttentionTeacher

    torch.set_num_threads(1)
    ds, split, feats, _ = load_features_and_split(dataset, teacher, None)
    prov = collect_provenance(BENCH, tag, seeds=[0], dataset=dataset, split=split, model_selection=MODEL_SELECTION, root=ROOT)
    teacher_cache.mkdir(parents=True, exist_ok=True)
    tpath = teacher_cache / f"teacher{bits}_{split.hash}.pt"
    fit_teacher = tf.fit_teacher

    def cached_fit(features, split_, config, gen, rng):
        if tpath.is_file():
            d = torch.load(tpath)
            net = AttentionTeacher(features.image.shape[1], config)
            net.load_state_dict(d["state"])
            return net, d["info"]
        net, info = fit_teacher(features, split_, config, gen, rng)
        torch.save({"state": net.state_dict(), "info": info}, tpath)
        return net, info

    tf.fit_teacher = cached_fit
    val, fit = np.asarray(split.val), np.asarray(split.fit)
    yv, yf = feats.labels[val], feats.labels[fit]

    def signs(enc) -> np.ndarray:
        return np.unpackbits(enc.data, axis=1, count=bits).astype(np.int8) * 2 - 1

    log: list[dict[str, Any]] = []

    def on_chunk(report, m) -> None:
        tb = tf.teacher_codes(m.teacher_net_, feats.image[val], feats.text[val])
        qi, qt = m.encode_dataset("image", ds, val, "query"), m.encode_dataset("text", ds, val, "query")
        di, dt = m.encode_dataset("image", ds, fit, "query"), m.encode_dataset("text", ds, fit, "query")
        score = {name: float(evaluate(q, d, yv, yf, curves=False).map_all)
                 for name, q, d in (("i2t", qi, dt), ("t2i", qt, di), ("i2i", qi, di), ("t2t", qt, dt))}
        rec = {"chunk": report.chunk, "terms": report.terms, "train_seconds": report.train_seconds,
               **{f"val_{k}": v for k, v in score.items()},
               "agree_image_teacher": float((signs(qi) == tb).mean()), "agree_text_teacher": float((signs(qt) == tb).mean())}
        log.append(rec)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in rec.items() if k != "terms"}), flush=True)

    overrides = {"stream_exclude_val": True, **overrides}
    m = create_method("lcdh", n_bits=bits, seed=0, progress=False, **overrides)
    t0 = time.perf_counter()
    m.fit(feats, split, dataset=ds, on_chunk=on_chunk)
    return {"provenance": finish_provenance(prov), "tag": tag, "bits": bits, "overrides": overrides, "teacher": teacher,
            "val_streamed": not overrides["stream_exclude_val"],
            "teacher_val_map": m.teacher_info_.get("best_val_score"), "chunks": log,
            "final": {k: log[-1][f"val_{k}"] for k in ("i2t", "t2i", "i2i", "t2t")},
            "mean_over_chunks": {k: float(np.mean([c[f"val_{k}"] for c in log])) for k in ("i2t", "t2i")},
            "seconds": time.perf_counter() - t0}


def markdown(sweep: dict[str, Any], name: str) -> str:
    data = sweep["runs"]
    lines = ["# LCDH option sweep on split.val (queries: split.val, database: split.fit, current student)", "",
             "Model selection for `bench/lcdh.py`: only split.val is used here, never split.query. One seed; the "
             "machine was shared (load average recorded per run in the JSON). Chance level is about 0.136.", "",
             "| tag | bits | options | val mAP i2t | t2i | i2i | t2t | mean over chunks i2t / t2i | bits agreeing with teacher (image / text) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for tag, r in data.items():
        f, mo, last = r["final"], r["mean_over_chunks"], r["chunks"][-1]
        partial = "" if r.get("complete", True) else f" ({r['n_chunks_run']}/10 chunks)"
        partial += " **(val streamed: trained on its own val queries)**" if r.get("val_streamed", True) else ""
        lines.append(f"| {tag}{partial} | {r['bits']} | `{json.dumps(r['overrides'])}` | {f['i2t']:.4f} | {f['t2i']:.4f} | "
                     f"{f['i2i']:.4f} | {f['t2t']:.4f} | {mo['i2t']:.4f} / {mo['t2i']:.4f} | "
                     f"{last['agree_image_teacher']:.3f} / {last['agree_text_teacher']:.3f} |")
    lines += ["", "`pretrained` = the default student pretraining (`distilhash student pretrain`, objective "
              "distill+lit on the emoji-pretrain corpus). Bit agreement is per bit with the teacher's fused code of the "
              "same val item (0.5 = unrelated). Options not listed take the defaults of the run's commit: "
              "align_weight 0 and lam 8 before commit c1221d1 (every row up to pre_align3_lam2), "
              "align_weight 3 and lam 2 from it on (`commit` in the JSON); min_update_items 128 from the "
              "`*_minupd128` rows on; the default CNN has three stages (32/64/128) in every row here (four, "
              "32/64/128/256, only where image_channels says so; the default since commit c29ad17). Runs that load the cached offline teacher are "
              "paired (same mini-batch order); a run that fits the teacher itself (`base`, `pre_c4_256`, the "
              "`_tep120` / `_tlr3` rows) consumes the random stream differently, so it differs by seed noise too.", "",
              f"Per-chunk values and loss terms: `{name}.json`. Produced by `bench/lcdh_diagnose.py`."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tag")
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--dataset", default="emoji-scenes")
    ap.add_argument("--teacher", default="minilm-lit")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--teacher-cache", type=Path, default=Path(tempfile.gettempdir()) / "lcdh_diagnose")
    ap.add_argument("--out-name", default=DEFAULT_NAME, help="sweep name under bench/results/lcdh_diagnose/")
    ap.add_argument("--report", action="store_true", help="only rewrite the sweep's .md from its JSON")
    args = ap.parse_args(argv)
    if args.report:
        sweep = read_results(BENCH, args.out_name, ROOT)
        paths = redraw_results(BENCH, args.out_name, sweep, markdown(sweep, args.out_name), root=ROOT)
    else:
        if not args.tag:
            ap.error("--tag is required for a run")
        rec = run(args.tag, args.bits, parse_overrides(args.sets), args.teacher_cache, args.dataset, args.teacher)
        stored = result_paths(BENCH, args.out_name, ROOT)["json"]
        sweep = json.loads(stored.read_text()) if stored.is_file() else {"runs": {}}
        sweep["runs"][args.tag] = rec
        sweep["provenance"] = {**rec["provenance"], "name": args.out_name}  # the latest run's; each run keeps its own
        paths = write_results(BENCH, args.out_name, sweep, markdown(sweep, args.out_name), root=ROOT, finish=False)
    print(paths["md"].read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
