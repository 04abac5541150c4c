"""LCDH image students compared (issue 16): today's small CNN vs the ImageNet-pretrained Lite0 student.

Grid: students x bits x seeds. Each run is ``distilhash.benchmark.online_stream.run_online`` (the online stream over
split.retrieval in chunks, mAP@all of split.query against the codes stored so far after every chunk,
then the final mAP of split.query vs split.retrieval, both directions); the text student (BoW) is
the same in both. One JSON per run under ``OUT/runs/`` — a rerun skips runs already there, so the
grid can be split across processes or resumed. The student options are presets (``STUDENTS``);
the Lite0 one was chosen on split.val (the retired ``lcdh_diagnose.py``, commit 5e1b300, stream without split.val,
``OUT/val_sweep*.json``); the query set plays no part in any choice.

``--speed``: images/s of each student's ``encode_raw("image", pixels)`` (the fitted model of the grid at
``--speed-bits``, seed 0, pixels at the student's size; FC, sign and bit packing included) against the
teacher's image tower (``encode_images`` at its own size), one thread, interleaved rounds, best round
kept, load average per round. ``--report``: ``OUT/<dataset>.{json,md,png}`` (summary, tables, per-chunk curves) and ``OUT/val_sweep.md``.

    DISTILHASH_HOME=... python bench/lcdh_lite0.py --dataset openclipart --teacher lite0-minilm:openclipart \\
        --students small-cnn lite0 --bits 64 --seeds 0 1 2 --set image_size=64 --set chunk_size=500
    python bench/lcdh_lite0.py --speed --dataset openclipart --teacher lite0-minilm:openclipart
    python bench/lcdh_lite0.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.encode_speed import interleaved_rates
from distilhash.benchmark.figures import figure
from distilhash.configs import parse_overrides

ROOT = Path(__file__).resolve().parents[1]
BENCH = "lcdh_lite0"
OUT = ROOT / "bench" / "results" / BENCH
SELECTION = ("LCDH defaults + student preset chosen on split.val (stream without split.val); teacher epoch by "
             "split.val; student: fixed epochs per chunk")

#: image-student presets (LCDH options); the Lite0 cut and split chosen on split.val (OUT/val_sweep*.md)
STUDENTS: dict[str, dict[str, Any]] = {
    "small-cnn": {},
    "lite0": {"image_net": "lite0", "lite0_until": 4, "lite0_trainable_from": 3},
}
DIRS = ("i2t", "t2i")


def _provenance(name: str, selection: str, seeds: list[int], split=None, dataset: str | None = None) -> dict[str, Any]:
    from distilhash.benchmark.provenance import collect_provenance

    return collect_provenance(BENCH, name, seeds=seeds, model_selection=selection, split=split, dataset=dataset,
                              threads=1, command=" ".join(["bench/lcdh_lite0.py", *sys.argv[1:]]), root=ROOT)


def model_dir(student: str, bits: int, seed: int) -> Path:
    """Where the grid keeps the fitted model used by ``--speed`` (under DISTILHASH_HOME)."""
    from distilhash.paths import home

    return home() / "runs" / "lcdh_students" / f"{student}_{bits}b_s{seed}"


def run_grid(args: argparse.Namespace) -> None:
    import torch

    from distilhash.benchmark.online_stream import load_stream_inputs, run_online

    torch.set_num_threads(1)
    ds, split, feats, fpath = load_stream_inputs(args.dataset, args.teacher, False)
    common = parse_overrides(args.sets)
    (OUT / "runs").mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for bits in args.bits:
            for student in args.students:
                path = OUT / "runs" / f"{args.dataset}__{student}__{bits}b__s{seed}.json"
                if path.is_file():
                    print(f"skip {path.name} (done)", flush=True)
                    continue
                print(f"== {student} {bits} bits seed {seed}", flush=True)
                overrides = {**common, **STUDENTS[student]}
                prov = _provenance(path.stem, SELECTION, [seed], split, ds.name)
                t0 = time.perf_counter()
                run = run_online(ds, split, feats, bits, seed, overrides)
                method = run.pop("_method")
                if seed == 0 and bits == args.speed_bits:
                    method.save(model_dir(student, bits, seed))
                from distilhash.benchmark.provenance import finish_provenance

                rec = {"student": student, "dataset": ds.name, "teacher_spec": feats.teacher, "features": fpath,
                       "split_hash": split.hash, "split_sizes": split.sizes(), "overrides": overrides,
                       "command": prov["command"], "selection": SELECTION,
                       "wall_seconds": time.perf_counter() - t0, "provenance": finish_provenance(prov), **run}
                path.write_text(json.dumps(rec, indent=1, default=float))


def measure_speed(args: argparse.Namespace) -> None:
    """Interleaved rounds: teacher image tower vs each student's image encode (module docstring)."""
    import torch

    from distilhash.data.store import open_prepared
    from distilhash.methods.base import load_method
    from distilhash.teachers.registry import create_teacher

    torch.set_num_threads(1)
    ds, split = open_prepared(args.dataset)
    prov = _provenance(f"speed_{args.dataset}", "none: nothing is selected (timing of the grid's kept models)", [0],
                       split, ds.name)
    idx = np.asarray(split.query)[:args.images]
    teacher = create_teacher(args.teacher)
    t_size = int(getattr(teacher, "image_size", 0) or ds.images.size)
    n_t = min(args.teacher_images, len(idx))
    t_px = ds.images.array(idx[:n_t], t_size)
    cands: dict[str, tuple[Any, int]] = {
        f"teacher image tower ({args.teacher}, {t_size} px, batch {teacher.batch_size})": (
            lambda: teacher.encode_images(t_px), n_t)}
    info: dict[str, Any] = {}
    for student in args.students:
        m = load_method(model_dir(student, args.speed_bits, 0))
        px = ds.images.array(idx, m.image_size_)
        counts = m.parameter_counts()
        for batch in args.batches:
            def enc(m=m, px=px, batch=batch):
                m.config.eval_batch = batch
                return m.encode_raw("image", px)
            cands[f"student {student} ({m.image_size_} px, batch {batch})"] = (enc, len(px))
        info[student] = {"image_size": m.image_size_, "parameters": counts, "config": m.config_dict()}
    rates = interleaved_rates(cands, args.rounds, load=lambda: list(os.getloadavg()))
    best, per_round, loads = rates.best, rates.per_round, rates.loads
    t_name = next(iter(cands))
    rec = {"command": " ".join(["bench/lcdh_lite0.py", *sys.argv[1:]]), "rounds": args.rounds, "threads": 1,
           "bits": args.speed_bits, "best_images_per_s": best, "per_round_images_per_s": per_round,
           "median_images_per_s": rates.median,
           "speedup_vs_teacher": {k: v / best[t_name] for k, v in best.items() if k != t_name},
           "teacher": t_name, "students": info, "load_per_round": loads,
           "note": "pixels are given at each encoder's own size (resizing not timed); teacher = Lite0 pooled features + "
                   "projection head; student = its image net + FC + sign + bit packing",
           "provenance": prov}
    from distilhash.benchmark.results import write_results

    write_results(BENCH, f"speed_{args.dataset}", rec, speed_markdown(rec), root=ROOT)
    print(json.dumps({k: round(v) for k, v in best.items()}, indent=1))


def _mean_std(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n": int(len(v))}


def summarize(dataset: str) -> dict[str, Any]:
    runs = [json.loads(p.read_text()) for p in sorted((OUT / "runs").glob(f"{dataset}__*.json"))]
    if not runs:
        raise SystemExit(f"no runs under {OUT / 'runs'} for {dataset}")
    cells: dict[str, dict[str, Any]] = {}
    for student in dict.fromkeys(r["student"] for r in runs):
        for bits in sorted({r["bits"] for r in runs if r["student"] == student}):
            rs = [r for r in runs if r["student"] == student and r["bits"] == bits]
            cells.setdefault(student, {})[str(bits)] = {
                "seeds": [r["seed"] for r in rs],
                **{d: _mean_std([r["final"][d]["map_all"] for r in rs]) for d in DIRS},
                **{f"{d}_mean_over_chunks": _mean_std([r["mean_over_chunks"][d] for r in rs]) for d in DIRS},
                "absorb_seconds_mean": float(np.mean([r["absorb_seconds"]["mean"] for r in rs])),
                "fit_seconds_mean": float(np.mean([r["fit_seconds"] for r in rs])),
                "parameters": rs[0]["parameters"], "image_init": rs[0].get("image_init"),
                "load_after": [r["provenance"]["load_after"] for r in rs],
                "commits": sorted({r["provenance"]["commit"] or "?" for r in rs}),
            }
    r0 = runs[0]
    words = r0["command"].split()
    teacher = r0.get("teacher_spec") or words[words.index("--teacher") + 1]  # runs before the key was added
    speed_path = OUT / f"speed_{dataset}.json"
    return {"dataset": dataset, "teacher": teacher, "offline_teacher": r0["teacher"], "split_hash": r0["split_hash"], "split_sizes": r0["split_sizes"],
            "commands": sorted({r["command"] for r in runs}), "selection": r0["selection"],
            "common_options": {k: v for k, v in r0["overrides"].items() if k not in STUDENTS.get(r0["student"], {})},
            "students": STUDENTS, "cells": cells, "n_runs": len(runs),
            "speed": json.loads(speed_path.read_text()) if speed_path.is_file() else None, "_runs": runs}


def plot_curves(summary: dict[str, Any], path: Path) -> None:
    """Online mAP after each chunk (mean over seeds; band = min..max at 64 bits), both students, every bit length."""
    runs = summary["_runs"]
    bits_all = sorted({r["bits"] for r in runs})
    with figure(path, 1, 2, sharey=True, figsize=(12, 4.6)) as (fig, axes):
        colors = {"small-cnn": "tab:blue", "lite0": "tab:red"}
        styles = dict(zip([16, 32, 64, 128], [":", "-.", "-", "--"]))
        for ax, d in zip(axes, DIRS):
            for student in summary["cells"]:
                for bits in bits_all:
                    rs = [r for r in runs if r["student"] == student and r["bits"] == bits]
                    if not rs:
                        continue
                    n = min(len(r["chunks"]) for r in rs)
                    x = [rs[0]["chunks"][k]["stored"] for k in range(n)]
                    y = np.array([[r["chunks"][k][d] for k in range(n)] for r in rs])
                    ax.plot(x, y.mean(0), styles.get(bits, "-"), color=colors.get(student, "k"), marker="o", ms=2.5,
                            lw=2.2 if bits == 64 else 1.0, alpha=1.0 if bits == 64 else 0.7,
                            label=f"{student}, {bits} bits ({len(rs)} seed{'s' if len(rs) > 1 else ''})")
                    if len(rs) > 1 and bits == 64:
                        ax.fill_between(x, y.min(0), y.max(0), color=colors.get(student, "k"), alpha=0.08)
            ax.set_title("image -> text" if d == "i2t" else "text -> image")
            ax.set_xlabel("split.retrieval items streamed")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("mAP@all: split.query (current student) vs codes stored so far")
        axes[1].legend(fontsize=7, ncol=2)
        fig.suptitle(f"LCDH online stream on {summary['dataset']}: small CNN vs ImageNet Lite0 image student "
                     f"(teacher {summary['teacher']})", fontsize=10)


def markdown(summary: dict[str, Any]) -> str:
    cells, ds = summary["cells"], summary["dataset"]
    bits_all = sorted({int(b) for c in cells.values() for b in c})
    fmt = lambda c: f"{c['mean']:.4f} ± {c['std']:.4f}" + ("" if c["n"] == 3 else f" [{c['n']}]")  # noqa: E731
    lines = [f"# LCDH image students on {ds}: small CNN vs ImageNet-pretrained EfficientNet-Lite0", "",
             f"Teacher `{summary['teacher']}`, split `{summary['split_hash']}` {summary['split_sizes']}. "
             f"Commands: {'; '.join(f'`{c}`' for c in summary['commands'])}. {summary['n_runs']} runs.", "",
             f"Options common to both: `{json.dumps(summary['common_options'])}`; student presets: "
             f"`{json.dumps(summary['students'])}`. Model selection: {summary['selection']} (sweep: `val_sweep.md`).",
             "Cells: mean ± sample std over seeds 0, 1, 2 (a number in brackets = seeds run). Database = the frozen "
             "stream codes, queries = the final student; the text student (BoW) is the same in both.", ""]
    for d, title in (("i2t", "image → text"), ("t2i", "text → image")):
        lines += [f"## mAP@all, {title}", "", "| student | " + " | ".join(f"{b} bits" for b in bits_all) + " |",
                  "|---|" + "---|" * len(bits_all)]
        for student, by_bits in cells.items():
            lines.append(f"| {student} | " + " | ".join(fmt(by_bits[str(b)][d]) if str(b) in by_bits else "—"
                                                    for b in bits_all) + " |")
        lines.append("")
    lines += ["## Mean over chunks of the online mAP (i2t / t2i), absorb time per chunk, fit time", "",
              "| student | bits | mean over chunks i2t | t2i | absorb s/chunk | fit s | image params (frozen / trained) |",
              "|---|---|---|---|---|---|---|"]
    for student, by_bits in cells.items():
        for b in bits_all:
            c = by_bits.get(str(b))
            if c is None:
                continue
            ii = c.get("image_init") or {}
            split_params = (f"{ii['frozen']:,} / {ii['trainable']:,} + FC" if "frozen" in ii
                            else f"{c['parameters']['student_image']:,} (all trained)")
            lines.append(f"| {student} | {b} | {fmt(c['i2t_mean_over_chunks'])} | {fmt(c['t2i_mean_over_chunks'])} | "
                         f"{c['absorb_seconds_mean']:.1f} | {c['fit_seconds_mean']:.0f} | {split_params} |")
    loads = [la[0] for c in cells.values() for cc in c.values() for la in cc["load_after"]]
    lines += ["", f"Machine: 2 cores shared with other engineers' jobs, one thread per run; 1-min load average at the "
              f"end of the runs {min(loads):.1f}-{max(loads):.1f}, so the seconds are indicative.", ""]
    if summary.get("speed"):
        lines += [speed_markdown(summary["speed"]), ""]
    lines += [f"Per-chunk curves: `{ds}.png` (mean over seeds; band = min..max over seeds at 64 bits); every run's chunks, "
              "loss terms, timings and provenance: `runs/`. Produced by `bench/lcdh_lite0.py` (named `bench/lcdh_students.py` "
              "when the runs were made, as their commands say)."]
    return "\n".join(lines) + "\n"


def speed_markdown(sp: dict[str, Any]) -> str:
    """The encode-speed table of a ``--speed`` record."""
    la = [x[0] for x in sp["load_per_round"]]
    lines = [f"## Image encode speed, one thread ({sp['bits']}-bit models, best of {sp['rounds']} interleaved rounds)",
             "", f"Command: `{sp['command']}`; load average per round {min(la):.1f}-{max(la):.1f}. {sp['note']}.", "",
             "| encoder | images/s (best round) | median round | speed-up vs teacher (best / best) |", "|---|---|---|---|"]
    for k, v in sp["best_images_per_s"].items():
        r = sp["speedup_vs_teacher"].get(k)
        lines.append(f"| {k} | {v:,.0f} | {sp['median_images_per_s'][k]:,.0f} | {'—' if r is None else f'{r:.1f}x'} |")
    return "\n".join(lines)


#: the selection rule, fixed before the grid ran: the highest split.val mean of i2t and t2i after the
#: last chunk, except that a faster student (fewer Lite0 stages) within this margin of it is preferred
SELECT_MARGIN = 0.01


def sweep_report() -> str:
    """``OUT/val_sweep.md`` from ``OUT/val_sweep.json`` (runs of the retired ``lcdh_diagnose.py --out``, commit 5e1b300)."""
    data = json.loads((OUT / "val_sweep.json").read_text())
    score = {tag: (r["final"]["i2t"] + r["final"]["t2i"]) / 2 for tag, r in data.items() if r.get("complete", True)}
    best = max(score, key=score.get)
    depth = lambda tag: data[tag]["overrides"].get("lite0_until", -1)  # noqa: E731
    pick = min((t for t in score if t.startswith("lite0") and score[t] >= score[best] - SELECT_MARGIN), key=depth)
    lines = ["# Lite0 image student: choice of the cut on split.val (openclipart, 64 bits, seed 0)", "",
             "Each row is one LCDH stream over split.retrieval **without split.val** (`stream_exclude_val=True`); after "
             "every chunk, split.val (500 queries) is scored against split.fit (2,000 items), both encoded by the "
             "current student. split.query is never used. Common options `image_size=64`, `chunk_size=500`; the "
             "same cached offline teacher for every row.", "",
             f"Rule (set when this sweep was read, before the grid ran): highest mean of val i2t and t2i after the last chunk; a student with "
             f"fewer Lite0 stages within {SELECT_MARGIN} of it is preferred (the speed goal). Picked: **{pick}**.", "",
             "| tag | options | chunks | val mAP i2t | t2i | mean | i2i | t2t | mean over chunks i2t / t2i | "
             "bits agreeing with teacher (image / text) | seconds | load avg |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for tag, r in data.items():
        f, mo, last = r["final"], r["mean_over_chunks"], r["chunks"][-1]
        opts = {k: v for k, v in r["overrides"].items() if k not in ("stream_exclude_val", "image_size", "chunk_size")}
        done = f"{len(r['chunks'])}" + ("" if r.get("complete", True) else f" of {r['n_chunks']} (stopped)")
        cost = f"{r['seconds']:.0f} | {r['load_after'][0]:.1f}" if "seconds" in r else "— | —"
        lines.append(f"| {tag} | `{json.dumps(opts)}` | {done} | {f['i2t']:.4f} | {f['t2i']:.4f} | "
                     f"{(f['i2t'] + f['t2i']) / 2:.4f} | {f['i2i']:.4f} | {f['t2t']:.4f} | {mo['i2t']:.4f} / {mo['t2i']:.4f} | "
                     f"{last['agree_image_teacher']:.3f} / {last['agree_text_teacher']:.3f} | {cost} |")
    notes = [f"* {tag}: {r['note']}" for tag, r in data.items() if r.get("note")]
    notes.append("* a `lite0_until=5, lite0_trainable_from=4` run was started and stopped in its first chunk (CPU); "
                 "it has no figures.")
    lines += ["", *notes, "", "Run (commit 2def86c) with `bench/lcdh_diagnose.py --dataset openclipart --teacher lite0-minilm:openclipart "
              "--bits 64 --tag TAG --out bench/results/lcdh_lite0/val_sweep.json --set image_size=64 --set chunk_size=500 "
              "--set image_net=lite0 --set lite0_until=U --set lite0_trainable_from=T` (the script now takes `--out-name NAME` "
              "and writes `bench/results/lcdh_diagnose/NAME.json`). Per-chunk values: `val_sweep.json`."]
    text = "\n".join(lines) + "\n"
    (OUT / "val_sweep.md").write_text(text)
    return text


def report(dataset: str) -> None:
    """``OUT/<dataset>.{json,md,png}``: the summary of every run, its tables and the per-chunk curves."""
    from distilhash.benchmark.results import write_results

    summary = summarize(dataset)
    runs = summary.pop("_runs")
    p0 = runs[0]["provenance"]
    summary["provenance"] = _provenance(dataset, SELECTION, sorted({r["seed"] for r in runs}), dataset=dataset)
    summary["provenance"].update(dataset_hash=p0["dataset_hash"], split_hash=p0["split_hash"])
    text = markdown(summary)
    write_results(BENCH, dataset, summary, text, plot=lambda path: plot_curves({**summary, "_runs": runs}, path), root=ROOT)
    print(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="openclipart")
    ap.add_argument("--teacher", default="lite0-minilm:openclipart")
    ap.add_argument("--students", nargs="+", default=list(STUDENTS), choices=list(STUDENTS))
    ap.add_argument("--bits", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", dest="sets", action="append", default=[], help="LCDH option for both students")
    ap.add_argument("--speed-bits", type=int, default=64, help="bit length whose seed-0 models are kept for --speed")
    ap.add_argument("--speed", action="store_true", help="measure encode speed of the kept models and the teacher")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--teacher-images", type=int, default=128)
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 128])
    ap.add_argument("--report", action="store_true", help="write the summary, table and plot from the runs")
    args = ap.parse_args(argv)
    if args.speed:
        measure_speed(args)
    elif not args.report:
        run_grid(args)
    if args.report or args.speed:
        if (OUT / "val_sweep.json").is_file():
            print(sweep_report())
        report(args.dataset)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
