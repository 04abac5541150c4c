"""DCMQ 64 bits with trainable student encoders vs frozen teacher features (openclipart or EmojiScenes).

    PYTHONPATH=src nice -n 19 .venv/bin/python bench/dcmq_trainable.py                  # arms x seeds 0 1 2
    ... bench/dcmq_trainable.py --dataset emoji-scenes --arms frozen frozen-budget trainable  # EmojiScenes (minilm-lit)
    ... bench/dcmq_trainable.py --part epoch1   # one float epoch of the trainable arm on 1 thread
    ... bench/dcmq_trainable.py --part encode   # query encode time per item, student vs teacher
    ... bench/dcmq_trainable.py --part summary  # tables from the stored runs

Arms (all 64 bits, targets = the teacher's NPC targets, model selection on split.val only):

* ``frozen``: DCMQ heads on the teacher's cached features, default schedule (20 epochs, early stop);
* ``frozen-budget``: the same with the trainable arm's epoch budget (fair schedule comparison);
* ``trainable``: Lite0 stages 5-6 + head and MiniLM's last layer fine-tuned jointly with the heads
  and codebooks (``backbone=trainable``), on the same budget;
* ``student-inputs-frozen``: the trainable arm's student (raw Lite0 pooled / MiniLM features, its
  own heads) with the encoders frozen (``encoder_lr_scale=0``): separates the effect of fine-tuning
  from the effect of reading the towers' features instead of the teacher's projected ones;
* ``trainable-long``: the trainable arm with 1 + 12 epochs (early stop on split.val, patience 3);
* ``trainable-es``: the trainable arm under the rule every other method follows (issue 23): the DCMQ
  defaults, i.e. 2 warm-up epochs, validation every epoch, patience 8, a cap of 200 epochs well above
  where runs stop (the frozen DCMQ runs of ``openclipart-grouped`` use exactly these).

On the grouped split (issue 23) run it in a home with that split and write the summary under its own
name: ``... bench/dcmq_trainable.py --arms trainable-es --seeds 0 1 2 --threads 1`` then
``--part summary --out-name dcmq_trainable_grouped`` (``--result`` is the older spelling of ``--out-name``).

Scores: mAP@all i2t / t2i on split.query vs split.retrieval (:func:`distilhash.eval.metrics.evaluate_method`).
Timings: seconds per training epoch (``fit_info.history[*].seconds``, warm-up epochs included;
frozen fronts cached before the first epoch), at 2 threads; ``epoch1`` measures one epoch on
1 thread (wall and process CPU). Each run's raw record is written under
``$DISTILHASH_HOME/bench/dcmq_trainable_runs/`` as it ends (an existing file is reused); ``summary``
gathers every figure of every run into ``bench/results/dcmq_trainable/dcmq_trainable.{json,md}``
(the committed result, with the harness's provenance block; each run keeps its own commit and
load averages). The machine is shared: load averages are stored with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.encode_speed import per_item_seconds
from distilhash.benchmark.arm_summary import arm_rows, arms_plot, clean, summary_markdown
from distilhash.benchmark.fit_score import fit_and_score
from distilhash.benchmark.grid import Job, run_grid

ROOT = Path(__file__).resolve().parents[1]
#: raw per-run records (not committed; the summary holds their figures)
RAW_ROOT = Path(os.environ.get("DISTILHASH_HOME", str(ROOT / "data"))) / "bench" / "dcmq_trainable_runs"
#: dataset -> its teacher, raw-record folder and result name (openclipart keeps the first run's names)
DATASETS = {
    "openclipart": {"teacher": "lite0-minilm:openclipart", "raw": RAW_ROOT, "result": "dcmq_trainable"},
    "emoji-scenes": {"teacher": "minilm-lit", "raw": RAW_ROOT / "emoji-scenes", "result": "dcmq_trainable_emoji-scenes"},
}
DATASET = "openclipart"
RAW = DATASETS[DATASET]["raw"]
TEACHER = DATASETS[DATASET]["teacher"]
BUDGET = {"warmup_epochs": 1, "epochs": 4, "eval_every": 1, "patience": 3}
ARMS = {
    "frozen": {},
    "frozen-budget": dict(BUDGET),
    "trainable": {"backbone": "trainable", **BUDGET},
    "student-inputs-frozen": {"backbone": "trainable", "encoder_lr_scale": 0.0, **BUDGET},
    # the budget's trainable runs all kept their last epoch: does a longer schedule close the gap to frozen's 20 epochs?
    "trainable-long": {"backbone": "trainable", "warmup_epochs": 1, "epochs": 12, "eval_every": 1, "patience": 3},
    # issue 23: the same early-stopping rule as every other method (the DCMQ defaults: cap 200, patience 8, 2 warm-up)
    "trainable-es": {"backbone": "trainable"},
}
SELECTION = "epoch with the best mean val mAP@all (split.val queries vs split.fit database); test queries never used"


def provenance(threads: int) -> dict:
    """What a raw record carries besides its figures (the summary's provenance block holds the rest)."""
    from distilhash.benchmark.provenance import git_info

    git = git_info(ROOT)
    return {"command": " ".join(["python", *sys.argv]), "commit": git["commit"], "dirty": git["dirty"], "threads": threads}


def load():
    """(dataset, split, features) through the harness's cache source (split and dataset hashes checked)."""
    from distilhash.benchmark.sources import load_source
    from distilhash.benchmark.suite import DatasetEntry

    loaded = load_source(DatasetEntry(name=DATASET, source="cache", teacher=TEACHER))
    return loaded.dataset(), loaded.split, loaded.features


def run_arm(arm: str, seed: int, ds, split, feats, threads: int) -> tuple[dict, object]:
    from distilhash.methods.base import create_method

    run = fit_and_score(create_method("dcmq", n_bits=64, seed=seed, progress=False, **ARMS[arm]), feats, split, dataset=ds)
    method, info = run.method, run.method.fit_info_
    epochs = [wall for wall, _ in info["epoch_seconds"]]
    return {
        "arm": arm, "seed": seed, "config": method.config_dict(), **provenance(threads),
        "split_hash": split.hash, "dataset_hash": split.dataset_hash, "teacher": TEACHER,
        "map_all": run.map_all(),
        "val_map_at_kept": info.get("val_map_at_kept"), "kept_epoch": info.get("best_epoch", info.get("kept_epoch")),
        "fit_info": {k: v for k, v in info.items() if k not in ("codeword_usage",)},
        "epoch_seconds": epochs, "fit_seconds": run.fit_seconds, "eval_seconds": run.eval_seconds,
        "load_before": run.load_before, "load_after": run.load_after,
    }, method


def part_runs(args) -> None:
    ds, split, feats = load()

    def run(job: Job) -> dict:
        rec, method = run_arm(job.label, job.seed, ds, split, feats, args.threads)
        sub = "" if DATASET == "openclipart" else f"{DATASET}/"
        method.save(Path(os.environ["DISTILHASH_HOME"]) / "runs" / "dcmq_trainable" / f"{sub}{job.label}__s{job.seed}")
        print(f"{job.label} seed {job.seed}: mAP i2t {rec['map_all']['i2t']:.4f} t2i {rec['map_all']['t2i']:.4f} "
              f"fit {rec['fit_seconds']:.0f}s epochs {[round(s) for s in rec['epoch_seconds']]} load {rec['load_after']}",
              flush=True)
        return rec

    run_grid([Job(arm, "dcmq", ARMS[arm], 64, seed) for arm in args.arms for seed in args.seeds],
             lambda job: RAW / f"{job.label}__s{job.seed}.json", run)


def part_epoch1(args) -> None:
    """One float warm-up epoch + one quantized epoch of the trainable arm on 1 thread (seconds per epoch)."""
    from distilhash.methods.base import create_method

    ds, split, feats = load()
    method = create_method("dcmq", n_bits=64, seed=0, progress=False, backbone="trainable", warmup_epochs=1, epochs=1,
                           eval_every=1)
    load_start = list(os.getloadavg())
    method.fit(feats, split, dataset=ds)
    info = method.fit_info_
    rec = {**provenance(1), "epoch_seconds": [w for w, _ in info["epoch_seconds"]],
           "epoch_cpu_seconds": [c for _, c in info["epoch_seconds"]],
           "load_before": load_start, "load_after": list(os.getloadavg()), "split_hash": split.hash}
    (RAW / "epoch_1thread.json").write_text(json.dumps(rec, indent=1))
    print(rec["epoch_seconds"], rec["load_after"])


def part_encode(args) -> None:
    """Seconds per single query (batch of 1): the trainable student alone vs the teacher (+ DCMQ heads)."""
    from distilhash.methods.base import load_method
    from distilhash.teachers.registry import create_teacher

    load_before = list(os.getloadavg())
    ds, split, feats = load()
    model_dir = Path(args.model_dir)
    q = np.asarray(split.query)[: args.n_items]
    pixels = ds.images.array(q, 128)
    texts = [ds.texts[int(i)] for i in q]
    t = time.perf_counter()
    student = load_method(model_dir)
    student_load = time.perf_counter() - t
    t = time.perf_counter()
    teacher = create_teacher(TEACHER)
    teacher_load = time.perf_counter() - t
    frozen = load_method(args.frozen_dir) if args.frozen_dir else None
    out = {"student_load_seconds": student_load, "teacher_load_seconds": teacher_load, "n_items": len(q),
           "load_note": "the student was loaded first and pays the first import of torch / transformers"}
    fns = {"student_image": lambda x: student.encode_raw("image", x, "query"),
           "teacher_image": lambda x: teacher.encode_images(x),
           "student_text": lambda x: student.encode_raw("text", x, "query"),
           "teacher_text": lambda x: teacher.encode_texts(x)}
    if frozen is not None:  # frozen DCMQ query = teacher + heads
        fns["frozen_dcmq_image"] = lambda x: frozen.encode("image", teacher.encode_images(x), "query")
        fns["frozen_dcmq_text"] = lambda x: frozen.encode("text", teacher.encode_texts(x), "query")
    items = {name: (pixels if name.endswith("image") else texts) for name in fns}
    out.update(per_item_seconds(fns, items))
    rec = {**provenance(args.threads), "seconds_per_item": out, "load_before": load_before, "load_after": list(os.getloadavg())}
    (RAW / f"encode_{args.threads}thread.json").write_text(json.dumps(rec, indent=1))
    print(json.dumps(out, indent=1))


def part_summary(args) -> None:
    from distilhash.benchmark.provenance import collect_provenance
    from distilhash.benchmark.results import write_results

    runs = [clean(json.loads(p.read_text())) for p in sorted(RAW.glob("*__s*.json"))]
    if not runs:
        raise SystemExit(f"no run records in {RAW}")
    summary, rows = arm_rows(runs, list(ARMS))
    extra = {name: clean(json.loads((RAW / f"{name}.json").read_text()))
             for name in ("epoch_1thread", "encode_1thread", "encode_2thread") if (RAW / f"{name}.json").is_file()}
    split_hash = runs[0]["split_hash"]
    name = args.result or DATASETS[DATASET]["result"]
    prov = collect_provenance("dcmq_trainable", name, seeds=sorted({r["seed"] for r in runs}),
                              model_selection=SELECTION, dataset=DATASET, dataset_hash=runs[0]["dataset_hash"],
                              split_hash=split_hash, threads=2,
                              command="python bench/dcmq_trainable.py (runs, then --part encode / epoch1 / summary)")
    result = {"provenance": prov, "teacher": TEACHER, "budget": BUDGET, "arms": summary, "timing": extra, "runs": runs,
              "note": "provenance is taken when the summary is written; each run keeps its own command, commit "
                      "and load averages (load_before / load_after)"}
    from distilhash.data.store import open_prepared

    split = open_prepared(DATASET)[1]
    md = summary_markdown(f"{DATASET}, {TEACHER}", SELECTION, ARMS, BUDGET, (len(split.query), len(split.retrieval)), rows, extra)
    write_results("dcmq_trainable", name, result, md,
                  arms_plot(summary, f"DCMQ 64 bits on {DATASET}: trainable student encoders vs frozen teacher features (dots: seeds)"),
                  root=ROOT)
    print(md)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="runs", choices=["runs", "epoch1", "encode", "summary"])
    ap.add_argument("--dataset", default="openclipart", choices=list(DATASETS), help="its teacher comes with it (DATASETS)")
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model-dir", help="encode: a saved trainable DCMQ model")
    ap.add_argument("--frozen-dir", help="encode: a saved frozen DCMQ model (teacher + heads timing)")
    ap.add_argument("--n-items", type=int, default=50)
    ap.add_argument("--out-name", "--result", dest="result",
                    help="summary: result stem under bench/results/dcmq_trainable/ (default: the dataset's, as before)")
    args = ap.parse_args(argv)
    global DATASET, RAW, TEACHER
    DATASET, RAW, TEACHER = args.dataset, DATASETS[args.dataset]["raw"], DATASETS[args.dataset]["teacher"]
    os.environ.setdefault("DISTILHASH_HOME", str(ROOT / "data"))
    import torch

    torch.set_num_threads(1 if args.part == "epoch1" else args.threads)
    {"runs": part_runs, "epoch1": part_epoch1, "encode": part_encode, "summary": part_summary}[args.part](args)


if __name__ == "__main__":
    main()
