"""False alarms and misses of the service's weak-match note, calibrated vs the old typical-distance rule.

    python bench/weak_match.py --model data/runs/demo-dcmq64 --index data/indexes/demo-dcmq64-image \
        [--calibration DIR] [--seeds 1 2 3] [--n-nonsense 400]

Real queries: the captions people read (display captions) of ``split.val`` (the calibration set:
its false-alarm rate is the rule's own, shown for reference) and of ``split.query`` (held out from
everything: the false-alarm figure). Nonsense queries, per seed (seeds 1-3; the calibration used
seed 0): ``scrambled`` = the query captions with each word's letters shuffled, ``random`` = random
letter strings (:func:`distilhash.pipeline.weak_match.random_nonsense`). A miss is a nonsense query
not flagged. Rules compared, each with its threshold chosen on ``split.val`` only:

* ``caption-letters`` — the service's rule (:mod:`distilhash.query_encoders.weak_match`): the letters score, threshold = 4 % quantile of val;
* ``nearest-caption`` — cosine to the nearest training caption in teacher space, same threshold rule;
* ``both (logistic)`` — the two signals combined by a logistic regression fitted on val vs seed-0 nonsense, same rule
  (the design that was dropped: the teacher saw split.val, so the cosine is optimistic there);
* ``contrast`` (old) — best hit vs typical distance over 512 random items (:mod:`distilhash.serve.match`),
  at the service's fixed 2.0 and at the val 4 % quantile.

The calibration (``--calibration``, default ``MODEL/weak-match``) is made first when missing
(:func:`distilhash.pipeline.weak_match.calibrate_for_model`). Writes
``bench/results/weak_match/<out-name>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.weak_match_report import logistic, markdown, plot

ROOT = Path(__file__).resolve().parents[1]
BENCH = "weak_match"

HAND = ["a butterfly", "qwxz blorf", "a red apple", "a guitar", "zzqx", "sunset over the sea"]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--index", type=Path, required=True, help="the model's image index (for the old contrast rule)")
    p.add_argument("--dataset", help="prepared dataset (default: the model's)")
    p.add_argument("--calibration", type=Path, help="weak-match calibration (default MODEL/weak-match; made when missing)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--n-nonsense", type=int, default=400)
    p.add_argument("--out-name", default=BENCH)
    args = p.parse_args(argv)

    import torch

    from distilhash.data.store import open_prepared
    from distilhash.index import open_index
    from distilhash.pipeline.inputs import dataset_for_model
    from distilhash.pipeline.weak_match import FALSE_ALARM, calibrate_for_model, random_nonsense, scrambled_words, shown_texts
    from distilhash.query_encoders.query_encoder import query_encoder_for
    from distilhash.serve.match import WEAK_CONTRAST, MatchReference
    from distilhash.query_encoders.weak_match import CaptionReference, threshold_at, weak_match_dir

    torch.set_num_threads(1)
    ds, split = open_prepared(dataset_for_model(args.model, args.dataset))
    prov = collect_provenance(BENCH, args.out_name, seeds=[0, *args.seeds], split=split, dataset=ds.name,
                              model_selection="thresholds and the score's weights from split.val captions (+ seed-0 nonsense) only; "
                                              "split.query and seeds >= 1 only measured")
    where = args.calibration or weak_match_dir(args.model)
    if not (where / "weak-match.json").is_file():
        calibrate_for_model(args.model, ds.name, out=where)
    ref = CaptionReference.load(where)
    index = open_index(args.index)
    enc = query_encoder_for(index, args.model)
    contrast_ref = MatchReference(index, 512)

    val, query = shown_texts(ds, split.val), shown_texts(ds, split.query)
    sets: dict[str, list[str]] = {"val": val, "query": query, "hand": HAND,
                                  "calibration-nonsense": scrambled_words(val, 0) + random_nonsense(len(val), 0)}
    for s in args.seeds:
        sets[f"scrambled/{s}"] = scrambled_words(query, s)[: args.n_nonsense]
        sets[f"random/{s}"] = random_nonsense(args.n_nonsense, s)
    signals: dict[str, dict[str, np.ndarray]] = {}
    for name, texts in sets.items():
        feats = np.asarray(enc.teacher.encode_texts(texts), np.float32)
        sig = ref.signals(texts, feats)
        codes = enc.method.encode("text", feats, role="query")
        best = [float(r.distances[0]) for r in index.search(codes, 1)]
        contrast = np.array([m["contrast"] for m in contrast_ref.summaries(codes, best)])
        signals[name] = {"caption-letters": ref.score(sig), "nearest-caption": sig[:, 0], "raw": sig, "contrast": contrast}
        print(f"{name}: {len(texts)} queries", flush=True)
    x = np.r_[signals["val"]["raw"], signals["calibration-nonsense"]["raw"]]
    mean, std = x.mean(axis=0), x.std(axis=0)
    w, b = logistic((x - mean) / std, np.r_[np.ones(len(val)), np.zeros(len(sets["calibration-nonsense"]))])
    for sig in signals.values():
        sig["both"] = ((sig.pop("raw") - mean) / std) @ w + b
    signals.pop("calibration-nonsense")

    rules: dict[str, float] = {"caption-letters": float(ref.threshold)}
    for r in ("nearest-caption", "both", "contrast"):
        rules[r] = threshold_at(signals["val"][r], FALSE_ALARM)
    rules["contrast@2.0 (old service rule)"] = float(WEAK_CONTRAST)
    names = {"caption-letters": "caption-letters (service rule)", "both": "both (logistic)"}
    table: dict[str, dict[str, object]] = {}
    for rule, thr in rules.items():
        key = rule.split("@")[0].split(" ")[0]
        flagged = {name: float(np.mean(sig[key] < thr)) for name, sig in signals.items() if name != "hand"}
        row: dict[str, object] = {"threshold": round(thr, 4), "false_alarm_val": round(flagged["val"], 4),
                                  "false_alarm_query": round(flagged["query"], 4)}
        for kind in ("scrambled", "random"):
            v = np.array([flagged[f"{kind}/{s}"] for s in args.seeds])
            row[f"flagged_{kind}_mean"] = round(float(v.mean()), 4)
            row[f"flagged_{kind}_std"] = round(float(v.std(ddof=1)), 4) if len(v) > 1 else None
        row["hand_weak"] = {q: bool(x < thr) for q, x in zip(HAND, signals["hand"][key])}
        table[names.get(rule, rule)] = row

    main_row = table["caption-letters (service rule)"]
    goals = {"false_alarm_query_le_5pct": main_row["false_alarm_query"] <= 0.05,
             "nonsense_flagged_ge_80pct": min(main_row["flagged_scrambled_mean"], main_row["flagged_random_mean"]) >= 0.80}
    result = {"rules": table, "goals": goals, "n": {k: len(v) for k, v in sets.items()},
              "calibration": {"dir": str(where), "threshold": ref.threshold, "both_weights": {"mean": mean.tolist(), "std": std.tolist(), "w": w.tolist(), "b": b},
                              **{k: v for k, v in ref.info.items() if k != "chars"}},
              "hand_scores": {q: {k: round(float(signals["hand"][k][i]), 3) for k in signals["hand"]} for i, q in enumerate(HAND)},
              "provenance": prov}
    write_results(BENCH, args.out_name, result, markdown(result, args.seeds), root=ROOT, plot=lambda path: plot(signals, rules, path))
    print(json.dumps({"goals": goals, "caption-letters": main_row}, indent=1))


if __name__ == "__main__":
    main()
