"""Retrieval cost of the service's light query text encoder vs the teacher's text tower.

    python bench/serve_query_encoder.py --model data/runs/demo-dcmq64 [--dataset emoji-scenes] [--refit]

The light encoder (:mod:`distilhash.query_encoders.light_text`, fitted on ``split.fit`` captions, alpha
chosen on ``split.val``) replaces the teacher's text tower for text queries. Here: text->image
mAP@all on the query set (``split.query`` captions vs ``split.retrieval`` images, the model's
database codes) with query text features from

* ``teacher``: the cached teacher text features (what the service computes with MiniLM);
* ``light``: the light encoder;
* ``light+fallback``: light, but the teacher for captions whose OOV rate exceeds ``max_oov``
  (the service's policy).

Also: cosine of light to teacher features on the query captions, OOV rates, and the CPU time
per query of both encoders (the teacher timed on ``--time-n`` captions, one at a time and in
batches of 32; one torch thread). Writes ``bench/results/serve_query_encoder/<out-name>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "serve_query_encoder"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--dataset", default="emoji-scenes")
    p.add_argument("--features", type=Path)
    p.add_argument("--refit", action="store_true", help="fit the light encoder again even if the model has one")
    p.add_argument("--time-n", type=int, default=200, help="captions for the encoder timing")
    p.add_argument("--out-name", default=BENCH, help="result name under bench/results/serve_query_encoder/")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from distilhash.pipeline.inputs import load_features_and_split
    from distilhash.eval.metrics import evaluate
    from distilhash.methods.base import load_method
    from distilhash.pipeline.light_text import fit_for_model
    from distilhash.query_encoders.light_text import light_text_dir, load_light_text
    from distilhash.teachers.registry import create_teacher

    t_start = time.time()
    meta = json.loads((args.model / "method.json").read_text())
    prov = collect_provenance(BENCH, args.out_name, seeds=[(meta.get("config") or {}).get("seed", 0)], dataset=args.dataset,
                              model_selection="the model's own (fit_info.json), not re-selected here; the light encoder's "
                              "ridge alpha chosen on split.val", root=ROOT)
    method = load_method(args.model)
    ds, split, feats, fpath = load_features_and_split(args.dataset, meta["teacher"], args.features)
    ldir = light_text_dir(args.model)
    if args.refit or not (ldir / "encoder.json").exists():
        light, _ = fit_for_model(args.model, args.dataset, args.features)
    else:
        light = load_light_text(ldir)
    q, db = np.asarray(split.query), np.asarray(split.retrieval)
    texts = [ds.texts[i] for i in q]
    database = method.encode("image", feats.image[db], "database")
    lq, oov = light.encode(texts)
    tq = feats.text[q].astype(np.float32)
    max_oov = light.config.max_oov
    fb = np.where((oov > max_oov)[:, None], tq, lq)
    variants = {"teacher": tq, "light": lq, "light+fallback": fb}
    reports = {}
    for name, f in variants.items():
        rep = evaluate(method.encode("text", f, "query"), database, feats.labels[q], feats.labels[db], curves=False)
        reports[name] = {"map_all": round(float(rep.map_all), 5), "map_at": {str(k): round(float(v), 5) for k, v in rep.map_at.items()},
                         "n_queries": rep.n_queries}
    cos = (lq * (tq / np.linalg.norm(tq, axis=1, keepdims=True))).sum(1)

    # timing: light (per query, one at a time) vs the teacher's text tower (one at a time, batches of 32)
    sample = texts[: args.time_n]
    c0 = time.process_time()
    for t in sample:
        light.encode([t])
    light_ms = (time.process_time() - c0) * 1e3 / len(sample)
    teacher = create_teacher(f"minilm-lit:{os.environ.get('DISTILHASH_HOME', 'data')}/teachers/minilm-lit"
                             if meta["teacher"] == "minilm-lit" else meta["teacher"])
    teacher.encode_texts(sample[:4])  # load
    c0 = time.process_time()
    for t in sample[:50]:
        teacher.encode_texts([t])
    teacher_one_ms = (time.process_time() - c0) * 1e3 / 50
    c0 = time.process_time()
    for s in range(0, len(sample), 32):
        teacher.encode_texts(sample[s : s + 32])
    teacher_b32_ms = (time.process_time() - c0) * 1e3 / len(sample)

    prov.update(dataset_hash=split.dataset_hash, split_hash=split.hash)
    result = {
        "provenance": prov,
        "teacher": feats.manifest.get("teacher"), "features": str(fpath),
        "method": meta["method"], "model": str(args.model), "config": meta.get("config"), "bits": meta.get("n_bits"),
        "seed": (meta.get("config") or {}).get("seed"), "epoch_policy": "the model's own (fit_info.json); not re-selected here",
        "light_encoder": {"dir": str(ldir), "config": light.report and {k: v for k, v in light.report.items()},
                          "max_oov": max_oov},
        "query_set": {"n": len(q), "oov_rate_mean": round(float(oov.mean()), 5), "share_above_max_oov": round(float((oov > max_oov).mean()), 5),
                      "cosine_light_teacher_mean": round(float(cos.mean()), 5), "cosine_p10": round(float(np.percentile(cos, 10)), 5),
                      "cosine_min": round(float(cos.min()), 5)},
        "t2i": reports,
        "map_drop_light_vs_teacher": round(reports["teacher"]["map_all"] - reports["light"]["map_all"], 5),
        "relative_map_light": round(reports["light"]["map_all"] / reports["teacher"]["map_all"], 4),
        "cpu_ms_per_query": {"light_one": round(light_ms, 4), "teacher_one": round(teacher_one_ms, 2), "teacher_batch32": round(teacher_b32_ms, 2)},
        "machine_note": "shared, 2 cores; other engineers' jobs were running (CPU times, not wall times, are reported)",
        "wall_s": round(time.time() - t_start, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    r = light.report
    lines = ["# Light query text encoder vs the teacher's text tower", "",
             f"Model: {meta['method']} {meta.get('n_bits')} bits (`{args.model}`), teacher features `{fpath}`, dataset {ds.name} split {split.hash[:12]}.  ",
             f"Light encoder: {r.get('features')} n-grams ({r.get('unigrams')} unigrams + {r.get('bigrams')} bigrams) -> ridge (alpha {r.get('alpha_relative')}, "
             f"chosen on split.val) fitted on the {r.get('n_fit')} split.fit captions; cosine to the teacher: fit {r.get('fit_cosine_mean')}, val {r.get('val_cosine_mean')}.", "",
             "## Text -> image on the query set", "",
             f"{len(q)} `split.query` captions vs {len(db):,} `split.retrieval` images (the model's PQ/binary database codes).", "",
             "| query text features | mAP@all | mAP@100 | mAP@1000 |", "|---|---|---|---|"]
    for name, rep in reports.items():
        lines.append(f"| {name} | {rep['map_all']:.4f} | {rep['map_at'].get('100', float('nan')):.4f} | {rep['map_at'].get('1000', float('nan')):.4f} |")
    qs = result["query_set"]
    lines += ["", f"Light / teacher mAP@all: **{result['relative_map_light']:.3f}** (drop {result['map_drop_light_vs_teacher']:.4f}). "
              f"Query captions: mean OOV rate {qs['oov_rate_mean']}, {qs['share_above_max_oov'] * 100:.2f} % above max_oov={max_oov} (answered by the teacher); "
              f"cosine light vs teacher mean {qs['cosine_light_teacher_mean']}, p10 {qs['cosine_p10']}, min {qs['cosine_min']}.", "",
              "## CPU time per query text", "",
              "| encoder | CPU ms / query |", "|---|---|",
              f"| light (one query) | {light_ms:.3f} |", f"| teacher MiniLM (one query) | {teacher_one_ms:.1f} |",
              f"| teacher MiniLM (batches of 32) | {teacher_b32_ms:.1f} |", "",
              "**The machine was shared** (2 cores; load averages in the provenance); CPU times are reported, not wall times.", ""]
    write_results(BENCH, args.out_name, result, "\n".join(lines), root=ROOT,
                  plot=lambda path: _plot(reports, cos, meta, light_ms, teacher_one_ms, path))
    print(json.dumps({k: result[k] for k in ("t2i", "query_set", "cpu_ms_per_query", "relative_map_light")}, indent=1))


def _plot(reports: dict, cos: np.ndarray, meta: dict, light_ms: float, teacher_one_ms: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.5))
    a1, a2 = fig.subplots(1, 2)
    names = list(reports)
    a1.bar(names, [reports[n]["map_all"] for n in names], color=["tab:gray", "tab:blue", "tab:cyan"])
    a1.set_ylabel("t2i mAP@all (query set)")
    a1.set_title(f"{meta['method']} {meta.get('n_bits')} bits: query text features")
    a2.hist(cos, bins=40)
    a2.set_xlabel("cosine(light, teacher) per query caption")
    a2.set_title(f"CPU/query: light {light_ms:.2f} ms, MiniLM {teacher_one_ms:.0f} ms")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
