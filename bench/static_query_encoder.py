"""Retrieval quality and CPU cost of the static query text encoder vs the teacher's text tower.

    python bench/static_query_encoder.py --model data/runs/demo-dcmq64 [--dataset openclipart] [--examples]

For a trained model and its teacher, text->image mAP@all on the query set (``split.query``
captions vs ``split.retrieval`` images) with query text features from

* ``teacher``: the cached teacher text features (what MiniLM + the teacher's text head give);
* ``static``: the model's static encoder (``MODEL/static-text``, fitted on ``split.train`` captions
  by ``distilhash query-encoder fit``, its table tuned on ``split.fit`` and kept when ``split.val``
  says so; fitted here first when missing), once per tuning seed (``--seeds``, default 0 1 2; seed
  0 is the shipped ``MODEL/static-text``, the others go to ``MODEL/static-text-seeds/``): the
  static arm's figures are the mean and sample std over the seeds;

(``openclipart_light.*`` holds the retired light n-gram encoder, without and with its fall-back to
the teacher: that run used this script's ``--light`` option at commit 0ec1076, before the encoder
was removed; ``emoji-scenes_ridge.*`` is EmojiScenes before the table tuning.)

Each arm is scored twice: through the model (its query head against its database codes) and
through the float teacher (cosine against the teacher's image features). Image->text with the
text database encoded from each arm's caption features is reported too (what a text index built
from those features would give; the service's indexes use teacher features). CPU per query: each
encoder on single captions (one call per caption, ``--time-n`` captions, ``--repeats`` runs: mean
and sample std), MiniLM one at a time on 50 captions, and the static encoder followed by the
model's query head (torch, and numpy where the model has one); one torch thread. ``--examples``:
precision@10 of the demo's ten typed example queries per encoder. Writes
``bench/results/static_query_encoder/<out-name>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "static_query_encoder"


def _cpu_ms_per_call(fn, items, repeats: int) -> list[float]:
    """CPU ms per call of ``fn([item])`` over ``items``, once per repeat."""
    fn(items[:3])  # warm
    out = []
    for _ in range(repeats):
        c0 = time.process_time()
        for t in items:
            fn([t])
        out.append((time.process_time() - c0) * 1e3 / len(items))
    return out


def _mean_std(xs: list[float]) -> dict[str, float]:
    return {"mean": round(float(np.mean(xs)), 5), "std": round(float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0, 5),
            "runs": [round(x, 5) for x in xs]}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--dataset", default=None, help="default: the model's (train.json)")
    p.add_argument("--features", type=Path)
    p.add_argument("--time-n", type=int, default=1000, help="captions per timing run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="tuning seeds of the static encoder (one fit each)")
    p.add_argument("--examples", action="store_true", help="also precision@10 of the demo's ten typed example queries")
    p.add_argument("--out-name", default=None, help="result name (default: the dataset's name)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from distilhash.codes import Encoded
    from distilhash.eval.metrics import evaluate
    from distilhash.methods.base import load_method
    from distilhash.pipeline.inputs import dataset_for_model, load_features_and_split
    from distilhash.pipeline.query_encoder import fit_query_encoder
    from distilhash.query_encoders.numpy_heads import numpy_head_for
    from distilhash.query_encoders.static_text import static_text_dir
    from distilhash.query_encoders.static_text_fit import StaticTextConfig
    from distilhash.teachers.registry import create_teacher

    meta = json.loads((args.model / "method.json").read_text())
    dataset = dataset_for_model(args.model, args.dataset)
    name = args.out_name or dataset
    prov = collect_provenance(BENCH, name, seeds=[(meta.get("config") or {}).get("seed", 0)], dataset=dataset,
                              model_selection="the model's own (fit_info.json), not re-selected here; the static map's ridge "
                              "alpha by leave-one-out cosine on split.train captions; the static table's tuning epoch "
                              "(0 = untuned) by text->image mAP@all of split.val captions vs split.fit images",
                              root=ROOT)
    method = load_method(args.model)
    ds, split, feats, fpath = load_features_and_split(dataset, meta["teacher"], args.features)
    fits = {seed: fit_query_encoder(args.model, dataset, args.features, config=StaticTextConfig(tune_seed=seed), threads=1,
                                    out=None if seed == 0 else args.model / "static-text-seeds" / f"seed{seed}")
            for seed in args.seeds}
    static, sdir = fits[args.seeds[0]]
    q, db = np.asarray(split.query), np.asarray(split.retrieval)
    q_texts, db_texts = [ds.texts[i] for i in q], [ds.texts[i] for i in db]
    arms = {"teacher": (feats.text[q].astype(np.float32), feats.text[db].astype(np.float32)),
            **{f"static seed {s}": (enc.encode(q_texts), enc.encode(db_texts)) for s, (enc, _) in fits.items()}}
    encoders = {"static": static.encode}

    img_db = method.encode("image", feats.image[db], "database")
    img_q = method.encode("image", feats.image[q], "query")
    lab_q, lab_db = feats.labels[q], feats.labels[db]
    tq_unit = arms["teacher"][0] / np.linalg.norm(arms["teacher"][0], axis=1, keepdims=True)
    results: dict[str, dict] = {}
    for arm, (fq, fdb) in arms.items():
        t2i = evaluate(method.encode("text", fq, "query"), img_db, lab_q, lab_db, curves=False).map_all
        i2t = evaluate(img_q, method.encode("text", fdb, "database"), lab_q, lab_db, curves=False).map_all
        ft2i = evaluate(Encoded("float", fq, 32 * fq.shape[1]), Encoded("float", feats.image[db].astype(np.float32), 32 * fq.shape[1]),
                        lab_q, lab_db, curves=False).map_all
        cos = (fq / np.linalg.norm(fq, axis=1, keepdims=True) * tq_unit).sum(1)
        results[arm] = {"model_t2i": round(float(t2i), 5), "model_i2t_text_db": round(float(i2t), 5),
                        "float_teacher_t2i": round(float(ft2i), 5), "cosine_to_teacher_mean": round(float(cos.mean()), 5),
                        "cosine_to_teacher_p10": round(float(np.percentile(cos, 10)), 5)}
    for arm in results:
        for key in ("model_t2i", "float_teacher_t2i", "model_i2t_text_db"):
            results[arm][f"{key}_vs_teacher"] = round(results[arm][key] / results["teacher"][key], 4)
    seeds = [results[f"static seed {s}"] for s in args.seeds]
    results["static"] = {k: round(float(np.mean([r[k] for r in seeds])), 5) for k in seeds[0]}
    results["static"]["std"] = {k: round(float(np.std([r[k] for r in seeds], ddof=1)), 5) if len(seeds) > 1 else 0.0
                                for k in seeds[0]}
    tuning = {s: enc.meta.get("report", {}).get("tuning") for s, (enc, _) in fits.items()}

    teacher = create_teacher(meta["teacher"])
    text_fns = {"teacher": teacher.encode_texts, **encoders}
    examples = _example_precision(ds, db, img_db, text_fns, method) if args.examples else None

    sample = q_texts[: args.time_n]
    timing = {arm: _mean_std(_cpu_ms_per_call(fn, sample, args.repeats)) for arm, fn in encoders.items()}
    timing["teacher (MiniLM + head)"] = _mean_std(_cpu_ms_per_call(teacher.encode_texts, sample[:50], args.repeats))
    head_fn = lambda ts: method.encode("text", static.encode(ts), "query")  # noqa: E731
    timing["static + model query head (torch)"] = _mean_std(_cpu_ms_per_call(head_fn, sample, args.repeats))
    head = numpy_head_for(args.model)
    if head is not None:
        np_fn = lambda ts: head.encode("text", static.encode(ts))  # noqa: E731
        timing["static + model query head (numpy)"] = _mean_std(_cpu_ms_per_call(np_fn, sample, args.repeats))

    prov.update(dataset_hash=split.dataset_hash, split_hash=split.hash)
    result = {"provenance": prov, "teacher": feats.manifest.get("teacher"), "features": str(fpath), "model": str(args.model),
              "method": meta["method"], "bits": meta.get("n_bits"), "static_encoder": {"dir": str(sdir), **static.meta},
              "static_seeds": args.seeds, "static_tuning_by_seed": tuning,
              "n_query": len(q), "n_database": len(db), "map_all": results,
              "example_queries_p10": examples,
              "cpu_ms_per_single_query": timing,
              "machine_note": "shared 2-core machine, other jobs running (loads in the provenance): CPU times, not wall times"}
    write_results(BENCH, name, result, _markdown(result, ds.name, split.hash), root=ROOT,
                  plot=lambda path: _plot(result, path))
    print(json.dumps({"map_all": results, "cpu_ms": {k: v["mean"] for k, v in timing.items()}}, indent=1))


def _example_precision(ds, db: np.ndarray, img_db, text_fns: dict, method) -> dict:
    """Precision@10 by label of the demo's ten typed example queries, per text encoder (top 10 of the retrieval images)."""
    import tempfile

    from distilhash.demo.examples import EXAMPLE_QUERIES, resolve_label
    from distilhash.index import create_index

    texts = [q.text for q in EXAMPLE_QUERIES]
    cols = [resolve_label(q.label, ds.label_names) for q in EXAMPLE_QUERIES]
    extra = {} if img_db.kind == "binary" else {"codebooks": img_db.codebooks, "metric": img_db.metric}
    out = {}
    with tempfile.TemporaryDirectory() as tmp, create_index(Path(tmp) / "ix", kind=img_db.kind, n_bits=img_db.n_bits, **extra) as idx:
        idx.add([str(int(i)) for i in db], img_db)
        for arm, fn in text_fns.items():
            hits = idx.search(method.encode("text", np.asarray(fn(texts), np.float32), "query"), 10)
            p = [float(np.mean([ds.labels[int(i), c] for i in h.ids])) for h, c in zip(hits, cols)]
            out[arm] = {"p10": [round(x, 2) for x in p], "queries_at_least_0.5": int(sum(x >= 0.5 for x in p))}
    return {"queries": texts, "labels": [q.label for q in EXAMPLE_QUERIES], "by_encoder": out}


def _markdown(r: dict, dataset: str, split_hash: str) -> str:
    s = r["static_encoder"]
    rep = s.get("report", {})
    lines = [f"# Static query text encoder vs the teacher's text tower ({dataset})", "",
             f"Model: {r['method']} {r['bits']} bits (`{r['model']}`), teacher `{r['teacher']}`, split {split_hash[:12]}; "
             f"{r['n_query']} `split.query` captions vs {r['n_database']:,} `split.retrieval` items.  ",
             f"Static encoder: {s['tower']['name']} distilled with model2vec {s['distill']['settings']['model2vec']} "
             f"(PCA {s['distill']['settings']['pca_dims']}, SIF {s['distill']['settings']['sif_coefficient']}), ridge map "
             f"(alpha {rep.get('alpha_relative')}, by leave-one-out cosine) fitted on the {rep.get('n_fit')} `split.train` captions; "
             f"fingerprint `{s['fingerprint']}` (seed {r['static_seeds'][0]}).", "",
             *_tuning_lines(r), "",
             "mAP@all. *model t2i*: the query text features through the model's query head against its image codes (what "
             "search and the service do); *float teacher t2i*: cosine against the teacher's image features; *model i2t, "
             "text db*: image queries against text codes made from each arm's caption features.", "",
             "| text features | model t2i | (vs teacher) | float teacher t2i | (vs teacher) | model i2t, text db | cosine to teacher (mean / p10) |",
             "|---|---|---|---|---|---|---|"]
    for arm, m in r["map_all"].items():
        sd = m.get("std") or {}
        pm = lambda k, f: f"{m[k]:{f}}" + (f" ± {sd[k]:{f}}" if k in sd else "")  # noqa: E731
        name = f"**{arm}** (mean ± sample std, {len(r['static_seeds'])} seeds)" if arm == "static" else arm
        lines.append(f"| {name} | {pm('model_t2i', '.4f')} | {pm('model_t2i_vs_teacher', '.4f')}x | {pm('float_teacher_t2i', '.4f')} | "
                     f"{pm('float_teacher_t2i_vs_teacher', '.4f')}x | {pm('model_i2t_text_db', '.4f')} | "
                     f"{m['cosine_to_teacher_mean']:.3f} / {m['cosine_to_teacher_p10']:.3f} |")
    if r.get("light_encoder"):
        lines += ["", f"light+fallback: {100 * r['light_encoder']['query_share_falling_back']:.1f} % of the query captions have an "
                  f"unknown content word (max_oov {r['light_encoder']['max_oov']}) and go to the teacher."]
    ex = r.get("example_queries_p10")
    if ex:
        arms = list(ex["by_encoder"])
        lines += ["", "## The demo's ten typed example queries: precision@10 by their label", "",
                  "| query | label | " + " | ".join(arms) + " |", "|---|---|" + "---|" * len(arms)]
        for i, (q, lab) in enumerate(zip(ex["queries"], ex["labels"])):
            lines.append(f"| {q} | `{lab}` | " + " | ".join(f"{ex['by_encoder'][a]['p10'][i]:.1f}" for a in arms) + " |")
        lines.append("| **queries at >= 0.5** | | " + " | ".join(f"**{ex['by_encoder'][a]['queries_at_least_0.5']}**" for a in arms) + " |")
    lines += ["", "## CPU time per single query (one caption per call; mean ± sample std over runs)", "",
              "| encoder | CPU ms / query |", "|---|---|"]
    for arm, t in r["cpu_ms_per_single_query"].items():
        lines.append(f"| {arm} | {t['mean']:.4f} ± {t['std']:.4f} |")
    lines += ["", "**The machine was shared** (2 cores, other engineers' jobs running; loads in the provenance): "
              "CPU times (process time), not wall times; a quiet machine gives lower figures.", ""]
    return "\n".join(lines)


def _tuning_lines(r: dict) -> list[str]:
    """One line per seed: the split.val score per tuning epoch and the epoch kept."""
    out = ["Table tuning on `split.fit` (kept epoch = highest `split.val` score, epoch 0 = untuned; the query set unused):  "]
    for seed, t in (r.get("static_tuning_by_seed") or {}).items():
        if t:
            out.append(f"seed {seed}: val mAP by epoch {', '.join(f'{v:.4f}' for v in t['val_scores'])}; kept epoch "
                       f"**{t['epoch']}**{'' if t['kept'] else ' (untuned)'}.  ")
    return out


def _plot(r: dict, path: Path) -> None:
    with figure(path, 1, 2, figsize=(10, 3.6)) as (fig, (a1, a2)):
        arms = list(r["map_all"])
        x = np.arange(len(arms))
        err = lambda k: [(r["map_all"][a].get("std") or {}).get(k, 0.0) for a in arms]  # noqa: E731
        a1.bar(x - 0.2, [r["map_all"][a]["model_t2i"] for a in arms], 0.4, yerr=err("model_t2i"), label=f"{r['method']} {r['bits']} bits")
        a1.bar(x + 0.2, [r["map_all"][a]["float_teacher_t2i"] for a in arms], 0.4, yerr=err("float_teacher_t2i"), label="float teacher")
        a1.set_xticks(x, arms, fontsize=8)
        a1.set_ylabel("t2i mAP@all (query set)")
        a1.legend(fontsize=8)
        t = r["cpu_ms_per_single_query"]
        names = list(t)
        a2.barh(names, [t[n]["mean"] for n in names], xerr=[t[n]["std"] for n in names])
        a2.set_xscale("log")
        a2.set_xlabel("CPU ms per single query (log)")
        a2.tick_params(axis="y", labelsize=7)


if __name__ == "__main__":
    main()
