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
kept, load average per round. ``--report``: ``OUT/<dataset>.{json,md,png}`` (summary, tables, per-chunk curves;
:mod:`distilhash.benchmark.lcdh_students`). ``OUT/val_sweep.md`` is the committed report of the retired sweep.
``--out-name NAME`` writes everything under NAME instead of the dataset's name (runs ``OUT/runs/NAME__*``,
``OUT/speed_NAME``, ``OUT/NAME``, kept models ``runs/lcdh_students/NAME/``): a variant grid (other ``--set``
options, another split) then neither reuses nor overwrites the committed runs.

    DISTILHASH_HOME=... python bench/lcdh_lite0.py --dataset openclipart --teacher lite0-minilm:openclipart \\
        --students small-cnn lite0 --bits 64 --seeds 0 1 2 --set image_size=64 --set chunk_size=500
    python bench/lcdh_lite0.py --speed --dataset openclipart --teacher lite0-minilm:openclipart
    python bench/lcdh_lite0.py --report
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.grid import Job, run_grid
from distilhash.benchmark.lcdh_students import markdown, plot_curves, speed_markdown, summarize
from distilhash.benchmark.results import write_results
from distilhash.benchmark.student_speed import image_encode_rounds
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


def _provenance(name: str, selection: str, seeds: list[int], split=None, dataset: str | None = None) -> dict[str, Any]:
    from distilhash.benchmark.provenance import collect_provenance

    return collect_provenance(BENCH, name, seeds=seeds, model_selection=selection, split=split, dataset=dataset,
                              threads=1, command=" ".join(["bench/lcdh_lite0.py", *sys.argv[1:]]), root=ROOT)


def model_dir(student: str, bits: int, seed: int, out_name: str | None = None) -> Path:
    """Where the grid keeps the fitted model used by ``--speed`` (under DISTILHASH_HOME; ``out_name``: a sub-folder)."""
    from distilhash.paths import home

    return home() / "runs" / "lcdh_students" / (out_name or "") / f"{student}_{bits}b_s{seed}"


def result_name(args: argparse.Namespace) -> str:
    """The name every result of this invocation is written under: ``--out-name``, else the dataset."""
    return args.out_name or args.dataset


def run_students(args: argparse.Namespace) -> None:
    """The grid (seed, bits, student), one stored record per run under ``OUT/runs/`` (done runs skipped)."""
    import torch

    from distilhash.benchmark.online_stream import load_stream_inputs, run_online
    from distilhash.benchmark.provenance import finish_provenance

    torch.set_num_threads(1)
    ds, split, feats, fpath = load_stream_inputs(args.dataset, args.teacher, False)
    store = lambda j: OUT / "runs" / f"{result_name(args)}__{j.label}__{j.bits}b__s{j.seed}.json"  # noqa: E731

    def run(job: Job) -> dict[str, Any]:
        print(f"== {job.label} {job.bits} bits seed {job.seed}", flush=True)
        prov = _provenance(store(job).stem, SELECTION, [job.seed], split, ds.name)
        t0 = time.perf_counter()
        run = run_online(ds, split, feats, job.bits, job.seed, job.config)
        method = run.pop("_method")
        if job.seed == 0 and job.bits == args.speed_bits:
            method.save(model_dir(job.label, job.bits, job.seed, args.out_name))
        return {"student": job.label, "dataset": ds.name, "teacher_spec": feats.teacher, "features": fpath,
                "split_hash": split.hash, "split_sizes": split.sizes(), "overrides": job.config,
                "command": prov["command"], "selection": SELECTION,
                "wall_seconds": time.perf_counter() - t0, "provenance": finish_provenance(prov), **run}

    common = parse_overrides(args.sets)
    run_grid([Job(st, "lcdh", {**common, **STUDENTS[st]}, b, s) for s in args.seeds for b in args.bits for st in args.students],
             store, run)


def measure_speed(args: argparse.Namespace) -> None:
    """Interleaved rounds: teacher image tower vs each student's image encode (module docstring)."""
    import torch

    from distilhash.data.store import open_prepared
    from distilhash.methods.base import load_method
    from distilhash.teachers.registry import create_teacher

    torch.set_num_threads(1)
    ds, split = open_prepared(args.dataset)
    prov = _provenance(f"speed_{result_name(args)}", "none: nothing is selected (timing of the grid's kept models)", [0],
                       split, ds.name)
    students = {s: load_method(model_dir(s, args.speed_bits, 0, args.out_name)) for s in args.students}
    rec = {"command": " ".join(["bench/lcdh_lite0.py", *sys.argv[1:]]), "bits": args.speed_bits,
           **image_encode_rounds(create_teacher(args.teacher), args.teacher, students, ds, np.asarray(split.query)[:args.images],
                                 args.teacher_images, args.batches, args.rounds), "provenance": prov}
    write_results(BENCH, f"speed_{result_name(args)}", rec, speed_markdown(rec), root=ROOT)
    print(json.dumps({k: round(v) for k, v in rec["best_images_per_s"].items()}, indent=1))


def report(dataset: str, name: str | None = None) -> None:
    """``OUT/<name>.{json,md,png}`` (``name``: the dataset's by default): the summary of every run stored
    under ``name``, its tables and the per-chunk curves."""
    name = name or dataset
    summary = summarize(OUT, name, STUDENTS)
    runs = summary.pop("_runs")
    p0 = runs[0]["provenance"]
    summary["provenance"] = _provenance(name, SELECTION, sorted({r["seed"] for r in runs}), dataset=dataset)
    summary["provenance"].update(dataset_hash=p0["dataset_hash"], split_hash=p0["split_hash"])
    text = markdown(summary)
    write_results(BENCH, name, summary, text, plot=lambda path: plot_curves({**summary, "_runs": runs}, path), root=ROOT)
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
    ap.add_argument("--out-name", default=None, help="result name under bench/results/lcdh_lite0/ (runs, speed, "
                    "report, kept models; default: the dataset's name, as before)")
    args = ap.parse_args(argv)
    if args.speed:
        measure_speed(args)
    elif not args.report:
        run_students(args)
    if args.report or args.speed:
        report(args.dataset, result_name(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
