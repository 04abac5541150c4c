"""LCDH benchmark (issue 7): online stream mAP per chunk, chunk absorb time, student vs teacher speed and size.

For each bit length (default 16/32/64/128) on EmojiScenes with the offline teacher's feature cache:

* fit LCDH (teacher offline on split.fit, epoch by split.val; student online over split.retrieval
  in chunks of 2000); after every chunk, mAP@all of split.query (current student) against the
  codes stored so far, image->text and text->image; the final mAP (query vs all of
  split.retrieval, the harness protocol) and the mean over chunks;
* time to absorb one chunk (student update + encode + store);
* against DCMQ and the baselines (float-teacher, lsh, itq, pq, dcmh) at the same bits/seed: suite
  run records found under ``bench/results/<suite>/`` with the same split hash and teacher are reused,
  the others are run here in-process with the same protocol (fit on features, query vs retrieval);
* student encoding speed (images/s from pixels, texts/s from strings, tokenisation included) and
  the teacher's (minilm-lit image tower + MiniLM) on the same items and CPU, one thread;
* parameter counts and weight bytes of the student and the teacher.

Writes ``bench/results/lcdh/<name>.{json,md,png}`` (per-chunk curves; ``--name``, default ``lcdh``).

    DISTILHASH_HOME=data HF_HUB_OFFLINE=1 .venv/bin/python bench/lcdh.py \\
        [--bits 16 32 64 128] [--seed 0] [--set key=value ...] [--no-compare] [--features labels-synthetic]

``--features labels-synthetic`` replaces the teacher features by synthetic label-driven ones
(smoke runs while the cache is missing; results then go to ``lcdh_smoke.*``).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.compare import compare_at, suite_runs
from distilhash.benchmark.online_stream import DIRECTIONS as DIRS
from distilhash.benchmark.online_stream import load_stream_inputs, run_online
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.student_speed import student_teacher_speed
from distilhash.benchmark.results import read_results, results_dir, write_results
from distilhash.configs import parse_overrides

ROOT = Path(__file__).resolve().parents[1]
BENCH = "lcdh"
RESULTS = results_dir(BENCH, ROOT).parent
COMPARE = ("float-teacher", "lsh", "itq", "pq", "dcmh", "dcmq", "soda")


def committed_dcmq(name: str, bits: int, split_hash: str) -> dict[str, Any] | None:
    """DCMQ mAP@all (mean over its seeds) from the committed ``bench/results/dcmq/dcmq.json``, same split."""
    path = results_dir("dcmq", ROOT) / "dcmq.json"
    try:
        rec = json.loads(path.read_text())
        cell = rec["summary"]["dcmq"][str(bits)]["map_all"] if name == "dcmq" else None
    except (OSError, KeyError, json.JSONDecodeError):
        return None
    if cell is None or (rec.get("provenance") or rec.get("meta", {})).get("split_hash", split_hash) != split_hash:
        return None
    return {d: float(cell[d]["mean"]) for d in DIRS} | {"source": f"{path} (committed; mean over {cell['i2t'].get('n')} seeds)"}


def plot(result: dict[str, Any], path: Path) -> None:
    with figure(path, 1, 2, sharey=True, figsize=(11, 4.2)) as (fig, axes):
        colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
        for ax, d in zip(axes, DIRS):
            for c, run in zip(colors, result["runs"]):
                x = [ch["stored"] for ch in run["chunks"]]
                ax.plot(x, [ch[d] for ch in run["chunks"]], "o-", color=c, label=f"LCDH {run['bits']} bits", ms=3)
                dcmq = run.get("compare", {}).get("dcmq", {}).get(d)
                if isinstance(dcmq, float):
                    ax.axhline(dcmq, color=c, ls="--", lw=0.8)
            ax.set_title(f"{'image->text' if d == 'i2t' else 'text->image'} (dashed: DCMQ, same bits)")
            ax.set_xlabel("retrieval items streamed (chunks of %d)" % result["runs"][0]["config"]["chunk_size"])
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("mAP@all, split.query vs codes stored so far")
        axes[1].legend(fontsize=8)
        fig.suptitle(f"LCDH online stream on {result['provenance']['dataset']} (teacher {result['teacher']})", fontsize=10)


def markdown(result: dict[str, Any], name: str = "lcdh") -> str:
    prov = result["provenance"]
    lines = [f"# LCDH online benchmark ({prov['dataset']}, teacher `{result['teacher']}`)", "",
             *( ["**Teacher features here are synthetic (built from the labels by "
                 "`training.synthetic.features_for_labels`), not a VLP's: the feature cache of the offline teacher "
                 "was not available when this ran. Pixels and texts are the real EmojiScenes ones.**", ""]
               if result["teacher"] == "labels-synthetic" else []),
             f"Split `{prov['split_hash']}`, seed {result['seed']}. Machine shared (load averages in the provenance); "
             f"peak RSS {result['peak_memory_mib']:.0f} MiB.", "",
             f"LCDH options set on the command line: `{json.dumps(result.get('overrides') or {})}` "
             "(chosen on split.val only; see docs/lcdh.md).", "",
             "## mAP@all (query vs retrieval; LCDH database = frozen stream codes, queries = final student)", "",
             "| bits | LCDH i2t | LCDH t2i | LCDH mean over chunks i2t / t2i | " + " | ".join(COMPARE) + " |",
             "|---|---|---|---|" + "---|" * len(COMPARE)]
    for run in result["runs"]:
        cmp = run.get("compare", {})
        cells = []
        for method in COMPARE:
            r = cmp.get(method, {})
            cells.append(f"{r['i2t']:.3f} / {r['t2i']:.3f}" if "i2t" in r else ("error" if "error" in r else "—"))
        f, mo = run["final"], run["mean_over_chunks"]
        lines.append(f"| {run['bits']} | {f['i2t']['map_all']:.4f} | {f['t2i']['map_all']:.4f} | "
                     f"{mo['i2t']:.4f} / {mo['t2i']:.4f} | " + " | ".join(cells) + " |")
    lines += ["", "Baseline cells are i2t / t2i; their sources (committed harness records, `dcmq.json`, or run here) are in "
              "`compare` of each run in the JSON.", ""]
    inits = [(run["bits"], run.get("image_init") or {}) for run in result["runs"]]
    if any(i.get("image_init", "random") != "random" for _, i in inits):
        lines += ["## Image student warm start (label-free, pretraining corpus)", "",
                  "| bits | image_init | pretraining | objective | kept epoch | held-out corpus: cos to teacher / i2t R@1 |",
                  "|---|---|---|---|---|---|"]
        for bits, i in inits:
            last = i.get("pretrain_last_val") or {}
            lines.append(f"| {bits} | {i.get('image_init', 'random')} | {i.get('pretrain_key', '—')} | "
                         f"{i.get('pretrain_objective', '—')} | {i.get('pretrain_kept_epoch', '—')} | "
                         f"{last.get('val_cos_teacher', float('nan')):.3f} / {last.get('val_i2t_r1', float('nan')):.3f} |")
        lines.append("")
    lines += ["## Time to absorb one chunk (update + encode + store), seconds", "",
              "| bits | mean over full chunks | mean (all) | median | max | teacher kept epoch | fit total (s) |",
              "|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        a = run["absorb_seconds"]
        stored = [c["stored"] for c in run["chunks"]]
        sizes = np.diff([0, *stored])
        full = [t for t, n in zip(a["per_chunk"], sizes) if n == run["config"]["chunk_size"]]
        lines.append(f"| {run['bits']} | {np.mean(full) if full else float('nan'):.1f} | {a['mean']:.1f} | {a['median']:.1f} | {a['max']:.1f} | "
                     f"{run['teacher']['kept_epoch']} ({run['teacher']['stop_reason']}) | {run['fit_seconds']:.0f} |")
    sp = result.get("speed")
    if sp:
        s, t, z = sp["student"], sp["teacher"], sp["sizes"]
        lines += ["", f"## Encoding speed, one thread (student at {result['speed_bits']} bits)", "",
                  "| | images/s | texts/s |", "|---|---|---|",
                  f"| student | {s['images_per_s']:.0f} | {s['texts_per_s']:.0f} |",
                  f"| teacher ({t['source'][:60]}) | {t['images_per_s']:.0f} | {t['texts_per_s']:.0f} |",
                  f"| speed-up | {sp['speedup']['images_per_s']:.1f}x | {sp['speedup']['texts_per_s']:.1f}x |", "",
                  "## Model size", "", "| | parameters | float32 bytes |", "|---|---|---|",
                  f"| student image (CNN + FC) | {z['student_image_params']:,} | {4 * z['student_image_params']:,} |",
                  f"| student text (BoW MLP + FC; vocabulary {z['student_vocab_tokens']} tokens) | {z['student_text_params']:,} | "
                  f"{4 * z['student_text_params']:,} |",
                  f"| teacher image tower | {z['teacher_image_params']:,} | {4 * z['teacher_image_params']:,} |",
                  f"| teacher text (MiniLM) | {z['teacher_text_params'] or 0:,} | {4 * (z['teacher_text_params'] or 0):,} |",
                  f"| offline LCDH teacher head (index time only) | {z['offline_teacher_head_params']:,} | "
                  f"{4 * z['offline_teacher_head_params']:,} |"]
    lines += ["", f"Per-chunk curves: `{name}.png`; every chunk's mAP, loss terms and timings: `{name}.json`."]
    return "\n".join(lines) + "\n"


def save(result: dict[str, Any], name: str) -> None:
    write_results(BENCH, name, result, markdown(result, name), plot=lambda path: plot(result, path), root=ROOT)


def merge(parts: list[str], name: str) -> dict[str, Any]:
    """Combine result files of runs done in separate processes (``--merge a b --name lcdh``).

    The merged file gets a provenance block of its own (the merge command) and keeps each
    part's block under ``parts_provenance``.
    """
    results = [read_results(BENCH, p, ROOT) for p in parts]
    base = dict(results[0])
    base["runs"] = sorted((r for res in results for r in res["runs"]), key=lambda r: r["bits"])
    for res in results:
        if res.get("speed") and not base.get("speed"):
            base["speed"], base["speed_bits"] = res["speed"], res["speed_bits"]
    first = results[0]["provenance"]
    base["provenance"] = collect_provenance(
        BENCH, name, seeds=sorted({s for res in results for s in res["provenance"]["seeds"]}), dataset=first["dataset"],
        dataset_hash=first["dataset_hash"], split_hash=first["split_hash"], model_selection=first["model_selection"], root=ROOT)
    base["parts_provenance"] = {p: res["provenance"] for p, res in zip(parts, results)}
    base["wall_seconds"] = max(res["wall_seconds"] for res in results)
    base["peak_memory_mib"] = max(res["peak_memory_mib"] for res in results)
    base["merged_from"] = parts
    save(base, name)
    return base


def seeds_summary(parts: list[str], name: str) -> dict[str, Any]:
    """Mean ± sample std over seeds per bit length from result stems of single seeds (``--seeds-summary``).

    Every run's budget is listed: the offline teacher's cap, epochs run and stop reason (these older
    runs cap it at 40 epochs), the warm start's kept epoch; the online student has no model selection.
    """
    from distilhash.eval.spread import sample_std

    results = [read_results(BENCH, p, ROOT) for p in parts]
    runs = [r for res in results for r in res["runs"]]
    cells: dict[int, dict[str, Any]] = {}
    for bits in sorted({r["bits"] for r in runs}):
        rs = sorted((r for r in runs if r["bits"] == bits), key=lambda r: r["seed"])
        vals = {d: [r["final"][d]["map_all"] for r in rs] for d in DIRS}
        cells[bits] = {"seeds": [r["seed"] for r in rs], **{d: vals[d] for d in DIRS},
                       **{f"{d}_mean": float(np.mean(vals[d])) for d in DIRS},
                       **{f"{d}_std": float(sample_std(np.asarray(vals[d]))) if len(rs) > 1 else None for d in DIRS},
                       "teacher": [{k: r["teacher"][k] for k in ("epochs_run", "kept_epoch", "stop_reason")} for r in rs],
                       "warm_start_kept_epoch": [(r.get("image_init") or {}).get("pretrain_kept_epoch") for r in rs],
                       "teacher_epochs_cap": sorted({r["config"]["teacher_epochs"] for r in rs})}
    prov = collect_provenance(BENCH, name, seeds=sorted({r["seed"] for r in runs}), dataset=results[0]["provenance"]["dataset"],
                              split_hash=results[0]["provenance"]["split_hash"], root=ROOT,
                              model_selection="teacher: kept epoch by split.val within its cap; student: online, fixed "
                              "epochs per chunk, no selection (as each part records)",
                              command=f"python bench/lcdh.py --seeds-summary {' '.join(parts)} --name {name}")
    result = {"provenance": prov, "parts": parts, "teacher": results[0]["teacher"], "cells": cells,
              "parts_provenance": {p: res["provenance"] for p, res in zip(parts, results)}}

    def fmt(c: dict[str, Any], d: str) -> str:
        return f"{c[f'{d}_mean']:.3f}" + (f" ± {c[f'{d}_std']:.3f}" if c[f"{d}_std"] is not None else "") + f" (n={len(c['seeds'])})"

    md = [f"# LCDH on {prov['dataset']} (teacher `{result['teacher']}`): mean ± sample std over seeds", "",
          f"From {', '.join(f'`{p}.json`' for p in parts)} (one seed each; split `{prov['split_hash']}`). mAP@all, "
          "split.query vs the frozen stream codes of split.retrieval. Budget per run: the offline teacher's cap, epochs run "
          "and stop reason; the online student trains a fixed number of epochs per chunk (no model selection).", "",
          "| bits | i2t | t2i | seeds | teacher: cap, ran, stopped on its own | warm start kept epoch |", "|---|---|---|---|---|---|"]
    for bits, c in cells.items():
        own = sum("exhausted" not in t["stop_reason"] for t in c["teacher"])
        md.append(f"| {bits} | {fmt(c, 'i2t')} | {fmt(c, 't2i')} | {c['seeds']} | cap {c['teacher_epochs_cap']}, ran "
                  f"{sorted({t['epochs_run'] for t in c['teacher']})}, {own}/{len(c['teacher'])} | {c['warm_start_kept_epoch']} |")

    def draw(path: Path) -> None:
        with figure(path, figsize=(6, 3.8)) as (fig, ax):
            xs = list(cells)
            for d, col in zip(DIRS, ("tab:blue", "tab:orange")):
                ax.errorbar(xs, [cells[b][f"{d}_mean"] for b in xs], yerr=[cells[b][f"{d}_std"] or 0 for b in xs],
                            color=col, marker="o", capsize=3, label=f"{d} (mean ± sample std)")
                for b in xs:
                    ax.plot([b] * len(cells[b][d]), cells[b][d], "k.", ms=3)
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [str(b) for b in xs])
            ax.set_xlabel("bits")
            ax.set_ylabel("mAP@all")
            ax.set_title(f"LCDH on {prov['dataset']}, dots: seeds", fontsize=10)
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)

    write_results(BENCH, name, result, "\n".join(md) + "\n", plot=draw, root=ROOT)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="emoji-scenes")
    ap.add_argument("--teacher", default="minilm-lit")
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--no-compare", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--compare", nargs="+", default=list(COMPARE), help="methods to compare with")
    ap.add_argument("--features", choices=("cache", "labels-synthetic"), default="cache")
    ap.add_argument("--name", "--out-name", dest="name", default=None,
                    help="result name under bench/results/lcdh/ (default lcdh, or lcdh_smoke for synthetic features)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--merge", nargs="+", default=None, help="combine these result stems into --name and exit")
    ap.add_argument("--seeds-summary", nargs="+", default=None,
                    help="mean ± sample std over seeds from these single-seed result stems into --name and exit")
    args = ap.parse_args(argv)
    if args.seeds_summary:
        seeds_summary(args.seeds_summary, args.name or "lcdh_seeds")
        print((results_dir(BENCH, ROOT) / f"{args.name or 'lcdh_seeds'}.md").read_text())
        return 0
    if args.merge:
        print(markdown(merge(args.merge, args.name or "lcdh")))
        return 0
    import torch

    torch.set_num_threads(args.threads)
    synthetic = args.features == "labels-synthetic"
    name = args.name or ("lcdh_smoke" if synthetic else "lcdh")
    ds, split, feats, fpath = load_stream_inputs(args.dataset, args.teacher, synthetic)
    overrides = parse_overrides(args.sets)
    harness = {} if (args.no_compare or synthetic) else suite_runs(RESULTS, split.hash, feats.teacher)
    t_all = time.perf_counter()
    runs = []
    speed, speed_bits = None, None
    prov = collect_provenance(BENCH, name, seeds=[args.seed], dataset=ds.name, split=split, threads=args.threads, root=ROOT,
                              model_selection="teacher: early stopping on split.val; student: online, fixed epochs per "
                              "chunk, no selection; options chosen on split.val (the retired lcdh_diagnose.py, commit 5e1b300)")

    def write() -> dict[str, Any]:
        result = {
            "provenance": prov,
            "split_sizes": split.sizes(), "teacher": feats.teacher, "features": fpath, "seed": args.seed,
            "method": "lcdh", "overrides": overrides,
            "runs": runs, "speed": speed, "speed_bits": speed_bits,
            "wall_seconds": time.perf_counter() - t_all,
            "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "threads": args.threads,
            "machine_note": "2 cores shared with other engineers' jobs; timings are indicative",
        }
        save(result, name)
        return result

    for bits in args.bits:
        print(f"LCDH {bits} bits", flush=True)
        run = run_online(ds, split, feats, bits, args.seed, overrides)
        method = run.pop("_method")
        runs.append(run)
        write()  # partial results survive an interrupted benchmark
        if not args.no_compare:
            run["compare"] = compare_at(feats, split, bits, args.seed, harness, args.compare,
                                        lambda name, b: committed_dcmq(name, b, split.hash))
        if not args.no_speed and speed is None:
            speed, speed_bits = student_teacher_speed(method, ds, split, args.teacher), bits
        torch.set_num_threads(args.threads)
        result = write()
    print(markdown(result, name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
