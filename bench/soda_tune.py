"""Choose SODA's defaults on the validation part only (issue 8): a few config variants, val mAP.

Each variant is fitted on ``split.fit`` (its epochs selected on ``split.val``, as always) and
scored by :func:`distilhash.eval.metrics.evaluate_method` with ``part="val"`` (``split.val``
queries vs ``split.fit`` database). The query set is never touched here. Writes
``bench/results/soda_tune/<out-name>.{json,md}`` (default ``soda_tune``); each variant's record keeps
its own load average and commit.

Usage::

    DISTILHASH_HOME=data .venv/bin/python bench/soda_tune.py [--bits 64] [--seed 0] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import result_paths, write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "soda_tune"

#: name -> config overrides (on top of SodaConfig defaults).
VARIANTS: dict[str, dict] = {
    "default": {},
    "lr3e-3": {"stage1.lr": 3e-3, "stage2.lr": 3e-3},
    "theta4": {"theta_scale": 4.0},
    "theta16": {"theta_scale": 16.0},
    "balanced": {"pair_weighting": "balanced"},
    "intra0.5": {"s1_intra_weight": 0.5},
    "align-image": {"s2_align_target": "image"},
    "no-s2-align": {"s2_align_target": "none"},
    "linear": {"hidden": 0},
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bits", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*")
    p.add_argument("--dataset", default="emoji-scenes")
    p.add_argument("--teacher", default="minilm-lit")
    p.add_argument("--out-name", default=BENCH, help="result name under bench/results/soda_tune/")
    args = p.parse_args(argv)

    from distilhash.pipeline.inputs import load_features_and_split
    from distilhash.eval.metrics import evaluate_method
    from distilhash.methods.base import create_method

    _, split, feats, fpath = load_features_and_split(args.dataset, args.teacher, None)
    path = result_paths(BENCH, args.out_name, ROOT)["json"]
    results = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], dataset=args.dataset, split=split, root=ROOT,
                              model_selection="this is the selection: variants compared on split.val vs split.fit only")
    for name, overrides in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        key = f"{name}__{args.bits}b__s{args.seed}"
        t = time.perf_counter()
        m = create_method("soda", n_bits=args.bits, seed=args.seed, progress=False, **overrides).fit(feats, split)
        fit_s = time.perf_counter() - t
        rep = evaluate_method(m, feats, split, part="val", curves=False)
        results["runs"][key] = {
            "variant": name, "overrides": overrides, "bits": args.bits, "seed": args.seed,
            "val_map": {d: r.map_all for d, r in rep.items()},
            "val_map_mean": 0.5 * (rep["i2t"].map_all + rep["t2i"].map_all),
            "kept_epochs": {s: m.fit_info_[s]["kept_epoch"] for s in ("stage1", "stage2")},
            "epochs_run": {s: m.fit_info_[s]["epochs_run"] for s in ("stage1", "stage2")},
            "stage_seconds": m.fit_info_["train_seconds"], "fit_seconds": fit_s,
            "load_after": load_average(), "commit": prov["commit"],
        }
        print(key, json.dumps(results["runs"][key]["val_map"]), results["runs"][key]["kept_epochs"], f"{fit_s:.0f}s", flush=True)
        results.update({
            "provenance": prov,
            "purpose": "choose SODA defaults on split.val only (split.val queries vs split.fit database, mAP@all)",
            "features": str(fpath), "teacher": feats.teacher,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        })
        lines = ["# SODA config selection on split.val (never the query set)", "",
                 f"Features `{results['features']}`, split `{prov['split_hash']}`; shared machine.", "",
                 "| variant | bits | seed | val mAP i2t | val mAP t2i | mean | kept epochs (s1, s2) | stage s (s1, s2) |", "|---|---|---|---|---|---|---|---|"]
        for r in sorted(results["runs"].values(), key=lambda r: (r["bits"], -r["val_map_mean"])):
            lines.append(f"| {r['variant']} `{json.dumps(r['overrides'])}` | {r['bits']} | {r['seed']} | {r['val_map']['i2t']:.4f} | {r['val_map']['t2i']:.4f} | "
                         f"{r['val_map_mean']:.4f} | {r['kept_epochs']['stage1']}, {r['kept_epochs']['stage2']} | "
                         f"{r['stage_seconds']['stage1']:.0f}, {r['stage_seconds']['stage2']:.0f} |")
        write_results(BENCH, args.out_name, results, "\n".join(lines), root=ROOT)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    raise SystemExit(main())
