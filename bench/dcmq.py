"""Benchmark DCMQ against the float student and every baseline at equal bits, plus ablations.

    .venv/bin/python bench/dcmq.py                       # full: 32/64/128 bits, seeds 0 1 2
    .venv/bin/python bench/dcmq.py --seeds 0 --bits 64   # a subset
    .venv/bin/python bench/dcmq.py --synthetic           # smoke run on synthetic features

EmojiScenes, offline teacher (``minilm-lit`` feature cache), the saved split; every method fits
on ``split.fit``, selects epochs on ``split.val`` only, and is scored on ``split.query`` vs
``split.retrieval`` (mAP@all, mAP@1000, precision@1000; both directions) with
:func:`distilhash.eval.metrics.evaluate_method`.

Parts:
* ``main``: dcmq, float-student, float-teacher, lsh, itq, pq, dcmh at each bit length and seed
  (bits-independent methods once per seed);
* ``ablations`` (64 bits): targets npc (= main run) / raw cosine / label overlap; quantizer
  PQG (gumbel, = main run) / soft without noise / hard straight-through; mAP and codeword usage.
* timing: training seconds (from cached features) and encoding throughput, recorded per run.

Each run is stored as it finishes under ``bench/results/dcmq/<name>_runs/`` (an existing run file is
reused, so an interrupted benchmark resumes); the summary goes to ``bench/results/dcmq/<name>.{json,md,png}``
(``--name``, default ``dcmq``). The machine is shared: load averages are recorded per run and in the
provenance block.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.fit_score import fit_and_score
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import results_dir, write_results
from distilhash.eval.spread import mean_std

ROOT = Path(__file__).resolve().parents[1]
BENCH = "dcmq"
BASELINES = ["float-teacher", "lsh", "itq", "pq", "dcmh"]
ABLATIONS = {
    "dcmq": {},
    "dcmq/target=cosine": {"target": "cosine"},
    "dcmq/target=labels": {"target": "labels"},
    "dcmq/pq=soft": {"pq_mode": "soft"},
    "dcmq/pq=hard-st": {"pq_mode": "hard-st"},
}


def load_data(args):
    if args.synthetic:
        from distilhash.training.synthetic import synthetic_features

        fs, split = synthetic_features(n=3000, n_labels=20, width=64, n_query=300, n_train=2000, n_val=300)
        return fs, split, {"dataset": "synthetic", "features": "synthetic"}
    if args.labels_synthetic:
        from distilhash.data.store import open_prepared
        from distilhash.teachers.features import FeatureSet
        from distilhash.training.synthetic import features_for_labels

        ds, split = open_prepared(args.dataset)
        arrays = features_for_labels(ds.labels, width=args.synthetic_width, seed=1234, noise=1.0)
        fs = FeatureSet(labels=ds.labels, ids=list(ds.ids), manifest={"teacher": "labels-synthetic"}, **arrays)
        return fs, split, {"dataset": ds.name, "features": f"labels-synthetic-{args.synthetic_width}d"}
    from distilhash.pipeline.inputs import load_features_and_split

    ds, split, fs, path = load_features_and_split(args.dataset, args.teacher, args.features)
    return fs, split, {"dataset": ds.name, "features": str(path)}


def time_encoding(method, fs, split) -> dict:
    """Database encoding throughput (items/s, both modalities) and single-query encode latency (ms)."""
    out = {}
    db = split.retrieval
    for mod in ("image", "text"):
        feats = getattr(fs, mod)
        t0 = time.perf_counter()
        method.encode(mod, feats[db], "database")
        out[f"{mod}_database_items_per_s"] = len(db) / (time.perf_counter() - t0)
        q = feats[split.query[:200]]
        t0 = time.perf_counter()
        for i in range(len(q)):
            method.encode(mod, q[i : i + 1], "query")
        out[f"{mod}_query_ms_per_item"] = 1000 * (time.perf_counter() - t0) / len(q)
    return out


def run_path(name: str, dataset: str, label: str, bits: int, seed: int) -> Path:
    """``bench/results/dcmq/<name>_runs/<dataset>__<label>__<bits>__s<seed>.json``: one stored run."""
    return results_dir(BENCH, ROOT) / f"{name}_runs" / f"{dataset}__{label.replace('/', '_')}__{bits}__s{seed}.json"


def run_one(label: str, name: str, config: dict, bits: int, seed: int, fs, split, meta, args, commit: str | None) -> dict:
    from distilhash.methods.base import create_method

    path = run_path(args.name, meta["dataset"], label, bits, seed)
    if path.is_file() and not args.force:
        return json.loads(path.read_text())
    cfg = {**config, "seed": seed, "n_bits": bits}
    if name in ("dcmq", "float-student"):
        from distilhash.configs import parse_overrides as parse_sets

        cfg = {**parse_sets(args.dcmq_set), **cfg, "progress": args.progress}
    scored = fit_and_score(create_method(name, **cfg), fs, split, curves=False, top_n=(1000,))
    method, reports, train_s, load_before = scored.method, scored.reports, scored.fit_seconds, scored.load_before
    info = getattr(method, "fit_info_", {}) or {}
    rec = {
        "label": label, "method": name, "config": method.config_dict(), "bits": bits, "seed": seed,
        "code_bits": method.n_bits,
        "map_all": {d: r.map_all for d, r in reports.items()},
        "map_at_1000": {d: r.map_at[1000] for d, r in reports.items()},
        "precision_at_1000": {d: r.precision_at[1000] for d, r in reports.items()},
        "train_seconds": train_s,
        "encoding": time_encoding(method, fs, split),
        "epoch_policy": {k: info.get(k) for k in ("kept_epoch", "kept_because", "stop_reason", "epochs_run") if k in info},
        "val_map_at_kept": info.get("val_map_at_kept"),
        "val_history": [{"epoch": h["epoch"], "val": h["val"], **{k: h[k] for k in ("train_perplexity", "train_dead", "revived") if k in h}}
                        for h in info.get("history", []) if "val" in h],
        "codeword_usage": info.get("codeword_usage"),
        "target_band": info.get("target_band"),
        "load_before": load_before, "load_after": load_average(),
        "peak_memory_mib_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "commit": commit, "threads": args.threads,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=1, default=float) + "\n")
    mean = np.mean(list(rec["map_all"].values()))
    print(f"{label:22s} {bits:4d}b seed {seed}: mAP i2t {rec['map_all']['i2t']:.4f} t2i {rec['map_all']['t2i']:.4f} "
          f"(mean {mean:.4f}) train {train_s:.1f}s", flush=True)
    return rec


def summarise(runs: list[dict]) -> dict:
    """``{label: {bits: {direction: (mean, std, n)}}}`` of mAP@all, plus timings."""
    out: dict = {}
    for r in runs:
        cell = out.setdefault(r["label"], {}).setdefault(str(r["bits"]), {"map_all": {"i2t": [], "t2i": []},
                                                                          "map_at_1000": {"i2t": [], "t2i": []},
                                                                          "train_seconds": [], "usage": []})
        for d in ("i2t", "t2i"):
            cell["map_all"][d].append(r["map_all"][d])
            cell["map_at_1000"][d].append(r["map_at_1000"][d])
        cell["train_seconds"].append(r["train_seconds"])
        if r.get("codeword_usage"):
            u = r["codeword_usage"]
            cell["usage"].append({m: (u[m]["mean_perplexity"], u[m]["total_dead"]) for m in ("image", "text")})
    for label, by_bits in out.items():
        for bits, cell in by_bits.items():
            for key in ("map_all", "map_at_1000"):
                # sample std; 0.0 stands in for "no spread" when one seed ran (n says so)
                cell[key] = {d: {**mean_std(v), "std": mean_std(v)["std"] or 0.0} for d, v in cell[key].items()}
            cell["train_seconds"] = {"mean": float(np.mean(cell["train_seconds"])), "max": float(np.max(cell["train_seconds"]))}
            if cell["usage"]:
                cell["usage"] = {m: {"mean_perplexity": float(np.mean([u[m][0] for u in cell["usage"]])),
                                     "dead_codewords": float(np.mean([u[m][1] for u in cell["usage"]]))} for m in ("image", "text")}
            else:
                cell.pop("usage")
    return out


def goals(summary: dict, bits_list: list[int]) -> dict:
    res: dict = {}
    fs_cell = next(iter(summary.get("float-student", {}).values()), None)
    if "dcmq" in summary and fs_cell and "64" in summary["dcmq"]:
        ratios = {d: summary["dcmq"]["64"]["map_all"][d]["mean"] / fs_cell["map_all"][d]["mean"] for d in ("i2t", "t2i")}
        res["dcmq64_over_float_student"] = {**ratios, "goal": 0.97, "met": all(v >= 0.97 for v in ratios.values())}
    beats = {}
    for b in bits_list:
        if "dcmq" not in summary or str(b) not in summary["dcmq"]:
            continue
        for base in BASELINES:
            cells = summary.get(base, {})
            cell = cells.get(str(b)) or (next(iter(cells.values())) if base == "float-teacher" and cells else None)
            if cell is None:
                continue
            for d in ("i2t", "t2i"):
                beats[f"{b}/{base}/{d}"] = summary["dcmq"][str(b)]["map_all"][d]["mean"] > cell["map_all"][d]["mean"]
    res["dcmq_beats_baselines"] = {"all": all(beats.values()) if beats else None, "cases": beats}
    return res


def markdown(summary: dict, goals_: dict, meta: dict, prov: dict, bits_list: list[int]) -> str:
    lines = [f"# DCMQ benchmark ({meta['dataset']}, teacher features {Path(meta['features']).name})", "",
             f"Split {prov['split_hash']}, seeds {prov['seeds']}, threads {meta['threads']}; "
             "machine shared with other jobs (load averages per run and in the provenance).",
             "mAP@all on split.query vs split.retrieval, mean ± std over seeds; epochs selected on split.val only."
             + (f" DCMQ / float-student overrides: {' '.join(meta['dcmq_overrides'])}." if meta.get("dcmq_overrides") else ""), "",
             "## mAP@all by method and bits (i2t / t2i)", "",
             "| method | " + " | ".join(f"{b} bits" for b in bits_list) + " |", "|---|" + "---|" * len(bits_list)]
    order = ["dcmq", "float-student", *BASELINES]
    for label in order:
        if label not in summary:
            continue
        row = [label]
        for b in bits_list:
            cell = summary[label].get(str(b)) or (next(iter(summary[label].values())) if len(summary[label]) == 1 else None)
            if cell is None:
                row.append("")
                continue
            mi, mt = cell["map_all"]["i2t"], cell["map_all"]["t2i"]
            row.append(f"{mi['mean']:.4f}±{mi['std']:.4f} / {mt['mean']:.4f}±{mt['std']:.4f}")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "## Goals", "", "```", json.dumps(goals_, indent=1), "```", "",
              "## Ablations (64 bits): mAP@all (i2t / t2i) and codeword usage on split.fit database codes", "",
              "| variant | mAP i2t | mAP t2i | perplexity img / txt (of 256) | dead codewords img / txt (of 256·M) | train s |",
              "|---|---|---|---|---|---|"]
    for label in ABLATIONS:
        cell = summary.get(label, {}).get("64")
        if cell is None:
            continue
        u = cell.get("usage", {})
        perp = f"{u['image']['mean_perplexity']:.1f} / {u['text']['mean_perplexity']:.1f}" if u else ""
        dead = f"{u['image']['dead_codewords']:.0f} / {u['text']['dead_codewords']:.0f}" if u else ""
        lines.append(f"| {label} | {cell['map_all']['i2t']['mean']:.4f}±{cell['map_all']['i2t']['std']:.4f} | "
                     f"{cell['map_all']['t2i']['mean']:.4f}±{cell['map_all']['t2i']['std']:.4f} | {perp} | {dead} | "
                     f"{cell['train_seconds']['mean']:.1f} |")
    lines += ["", "## Training time (seconds from cached features, mean / max over seeds)", "",
              "| method | " + " | ".join(f"{b} bits" for b in bits_list) + " |", "|---|" + "---|" * len(bits_list)]
    for label in order:
        if label in summary:
            lines.append("| " + label + " | " + " | ".join(
                f"{summary[label][str(b)]['train_seconds']['mean']:.1f} / {summary[label][str(b)]['train_seconds']['max']:.1f}"
                if str(b) in summary[label] else "" for b in bits_list) + " |")
    if meta.get("encoding"):
        lines += ["", "## Encoding speed (DCMQ, from cached features, threads as above)", "", "```",
                  json.dumps(meta["encoding"], indent=1), "```"]
    return "\n".join(lines)


def plot(path: Path, summary: dict, bits_list: list[int]) -> None:
    with figure(path, 1, 3, figsize=(16, 4.5)) as (fig, axes):
        for ax, d in zip(axes[:2], ("i2t", "t2i")):
            for label in ["dcmq", *BASELINES[1:]]:
                if label not in summary:
                    continue
                bs = [b for b in bits_list if str(b) in summary[label]]
                ys = [summary[label][str(b)]["map_all"][d]["mean"] for b in bs]
                es = [summary[label][str(b)]["map_all"][d]["std"] for b in bs]
                ax.errorbar(bs, ys, yerr=es, marker="o", label=label, capsize=3)
            for label, style in (("float-student", "--"), ("float-teacher", ":")):
                if label in summary:
                    cell = next(iter(summary[label].values()))
                    ax.axhline(cell["map_all"][d]["mean"], ls=style, color="gray", label=f"{label} (float)")
            ax.set_xscale("log", base=2)
            ax.set_xticks(bits_list, [str(b) for b in bits_list])
            ax.set_xlabel("bits")
            ax.set_ylabel("mAP@all")
            ax.set_title(f"{d} (query vs retrieval)")
            ax.legend(fontsize=7)
        ax = axes[2]
        labels = [lab for lab in ABLATIONS if "64" in summary.get(lab, {})]
        x = np.arange(len(labels))
        for off, d in ((-0.2, "i2t"), (0.2, "t2i")):
            ax.bar(x + off, [summary[lab]["64"]["map_all"][d]["mean"] for lab in labels], 0.4,
                   yerr=[summary[lab]["64"]["map_all"][d]["std"] for lab in labels], label=d, capsize=2)
        ax.set_xticks(x, [lab.replace("dcmq/", "") for lab in labels], rotation=20, fontsize=8)
        ax.set_title("DCMQ ablations at 64 bits")
        ax.set_ylabel("mAP@all")
        lo = min([summary[lab]["64"]["map_all"][d]["mean"] for lab in labels for d in ("i2t", "t2i")], default=0)
        ax.set_ylim(max(0, lo - 0.1), None)
        ax.legend(fontsize=7)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="emoji-scenes")
    p.add_argument("--teacher", default="minilm-lit")
    p.add_argument("--features", type=Path, default=None)
    p.add_argument("--bits", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--parts", nargs="+", default=["main", "ablations"], choices=["main", "ablations"])
    p.add_argument("--skip", nargs="*", default=[], help="method labels to skip")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--synthetic", action="store_true", help="fully synthetic data (smoke run)")
    p.add_argument("--labels-synthetic", action="store_true",
                   help="the dataset's real labels and split, synthetic label-driven teacher features (proxy while no "
                        "teacher cache exists)")
    p.add_argument("--synthetic-width", type=int, default=128)
    p.add_argument("--dcmq-set", nargs="*", default=[], help="KEY=VALUE overrides for every dcmq / float-student run")
    p.add_argument("--force", action="store_true", help="rerun runs whose result file exists")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--name", "--out-name", dest="name", default=BENCH, help="result name under bench/results/dcmq/")
    p.add_argument("--summary-only", action="store_true", help="only rebuild the summary from stored run files")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    fs, split, meta = load_data(args)
    if args.synthetic:
        meta["dataset"] = "synthetic"
    meta["dcmq_overrides"] = args.dcmq_set
    meta.update(threads=args.threads, teacher=fs.teacher)
    prov = collect_provenance(BENCH, args.name, seeds=args.seeds, split=split, dataset=meta["dataset"], threads=args.threads,
                              model_selection="each learned method keeps the epoch with the best mean validation mAP@all "
                              "(split.val vs split.fit)", root=ROOT)
    t_start = time.perf_counter()
    runs: list[dict] = []
    jobs: list[tuple[str, str, dict, int, int]] = []
    for seed in args.seeds:  # seed-major; cheap and headline runs first, the slow DCMH last
        if "main" in args.parts:
            jobs.append(("float-teacher", "float-teacher", {}, 64, seed))
            jobs.append(("float-student", "float-student", {}, 64, seed))
            jobs += [("dcmq", "dcmq", {}, b, seed) for b in args.bits]
            jobs += [(base, base, {}, b, seed) for base in ("lsh", "itq", "pq") for b in args.bits]
        if "ablations" in args.parts:
            for label, cfg in ABLATIONS.items():
                jobs.append((label, "dcmq", cfg, 64, seed))
        if "main" in args.parts:
            jobs += [("dcmh", "dcmh", {}, b, seed) for b in args.bits]
    seen = set()
    for label, name, cfg, b, seed in jobs:
        if (label, b, seed) in seen or label in args.skip:
            continue
        seen.add((label, b, seed))
        stored = run_path(args.name, meta["dataset"], label, b, seed)
        if args.summary_only:
            if stored.is_file():
                runs.append(json.loads(stored.read_text()))
            continue
        try:
            runs.append(run_one(label, name, cfg, b, seed, fs, split, meta, args, prov["commit"]))
        except Exception as exc:  # noqa: BLE001 - record and continue with the other runs
            print(f"FAILED {label} {b} bits seed {seed}: {exc!r}", flush=True)
            runs.append({"label": label, "bits": b, "seed": seed, "failed": repr(exc)})
    ok = [r for r in runs if "failed" not in r]
    summary = summarise(ok)
    dcmq64 = [r for r in ok if r["label"] == "dcmq" and r["bits"] == 64]
    meta["encoding"] = dcmq64[0]["encoding"] if dcmq64 else None
    meta["wall_seconds"] = time.perf_counter() - t_start
    g = goals(summary, args.bits)
    result = {"provenance": prov, "meta": meta, "summary": summary, "goals": g, "failed": [r for r in runs if "failed" in r],
              "runs": ok}
    write_results(BENCH, args.name, result, markdown(summary, g, meta, prov, args.bits),
                  plot=lambda path: plot(path, summary, args.bits), root=ROOT)
    print(json.dumps(g, indent=1))


if __name__ == "__main__":
    main()
