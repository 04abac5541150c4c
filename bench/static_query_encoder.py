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
from pathlib import Path

import numpy as np

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.static_text_report import cpu_ms_per_call, example_precision, markdown, mean_std_runs, plot, score_arms

ROOT = Path(__file__).resolve().parents[1]
BENCH = "static_query_encoder"


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
    from distilhash.demo.examples import EXAMPLE_QUERIES, resolve_label
    from distilhash.methods.base import load_method
    from distilhash.pipeline.inputs import dataset_for_model, load_features_and_split
    from distilhash.pipeline.query_encoder import fit_query_encoder
    from distilhash.query_encoders.numpy_heads import numpy_head_for
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
    results = score_arms(method, arms, feats.image, feats.labels, q, db, [f"static seed {s}" for s in args.seeds], "static")
    tuning = {s: enc.meta.get("report", {}).get("tuning") for s, (enc, _) in fits.items()}

    teacher = create_teacher(meta["teacher"])
    text_fns = {"teacher": teacher.encode_texts, **encoders}
    examples = example_precision(ds, db, img_db, text_fns, method, EXAMPLE_QUERIES, resolve_label) if args.examples else None

    sample = q_texts[: args.time_n]
    timing = {arm: mean_std_runs(cpu_ms_per_call(fn, sample, args.repeats)) for arm, fn in encoders.items()}
    timing["teacher (MiniLM + head)"] = mean_std_runs(cpu_ms_per_call(teacher.encode_texts, sample[:50], args.repeats))
    head_fn = lambda ts: method.encode("text", static.encode(ts), "query")  # noqa: E731
    timing["static + model query head (torch)"] = mean_std_runs(cpu_ms_per_call(head_fn, sample, args.repeats))
    head = numpy_head_for(args.model)
    if head is not None:
        np_fn = lambda ts: head.encode("text", static.encode(ts))  # noqa: E731
        timing["static + model query head (numpy)"] = mean_std_runs(cpu_ms_per_call(np_fn, sample, args.repeats))

    prov.update(dataset_hash=split.dataset_hash, split_hash=split.hash)
    result = {"provenance": prov, "teacher": feats.manifest.get("teacher"), "features": str(fpath), "model": str(args.model),
              "method": meta["method"], "bits": meta.get("n_bits"), "static_encoder": {"dir": str(sdir), **static.meta},
              "static_seeds": args.seeds, "static_tuning_by_seed": tuning,
              "n_query": len(q), "n_database": len(db), "map_all": results,
              "example_queries_p10": examples,
              "cpu_ms_per_single_query": timing,
              "machine_note": "shared 2-core machine, other jobs running (loads in the provenance): CPU times, not wall times"}
    write_results(BENCH, name, result, markdown(result, ds.name, split.hash), root=ROOT,
                  plot=lambda path: plot(result, path))
    print(json.dumps({"map_all": results, "cpu_ms": {k: v["mean"] for k, v in timing.items()}}, indent=1))


if __name__ == "__main__":
    main()
