"""DCMQ 64 bits with trainable student encoders vs frozen teacher features (openclipart, lite0-minilm teacher).

    PYTHONPATH=src nice -n 19 .venv/bin/python bench/dcmq_trainable.py                  # arms x seeds 0 1 2
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
  from the effect of reading the towers' features instead of the teacher's projected ones.

Scores: mAP@all i2t / t2i on split.query vs split.retrieval (:func:`distilhash.eval.metrics.evaluate_method`).
Timings: seconds per training epoch (``fit_info.history[*].seconds``, warm-up epochs included;
frozen fronts cached before the first epoch), at 2 threads; ``epoch1`` measures one epoch on
1 thread. Each run is written under ``bench/results/dcmq_trainable/runs/`` as it ends (an
existing file is reused). The machine is shared: load averages are stored with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "dcmq_trainable"
TEACHER = "lite0-minilm:openclipart"
BUDGET = {"warmup_epochs": 1, "epochs": 4, "eval_every": 1, "patience": 3}
ARMS = {
    "frozen": {},
    "frozen-budget": dict(BUDGET),
    "trainable": {"backbone": "trainable", **BUDGET},
    "student-inputs-frozen": {"backbone": "trainable", "encoder_lr_scale": 0.0, **BUDGET},
}
SELECTION = "epoch with the best mean val mAP@all (split.val queries vs split.fit database); test queries never used"


def provenance(threads: int) -> dict:
    from distilhash.benchmark.provenance import git_info, machine_info

    return {"command": " ".join([sys.executable, *sys.argv]), "git": git_info(ROOT), "machine": machine_info(threads),
            "model_selection": SELECTION}


def load():
    from distilhash.data.store import open_prepared
    from distilhash.teachers.cache import default_features_dir, load_features

    ds, split = open_prepared("openclipart")
    feats = load_features(default_features_dir(ds.name, TEACHER))
    if feats.manifest.get("split_hash") not in (None, split.hash):
        raise SystemExit(f"features were extracted for split {feats.manifest.get('split_hash')}, dataset has {split.hash}")
    return ds, split, feats


def run_arm(arm: str, seed: int, ds, split, feats, threads: int) -> tuple[dict, object]:
    from distilhash.eval.metrics import evaluate_method
    from distilhash.methods.base import create_method

    method = create_method("dcmq", n_bits=64, seed=seed, progress=False, **ARMS[arm])
    raw = type(method).capabilities.input == "raw"
    load_start = list(os.getloadavg())
    t = time.perf_counter()
    method.fit(feats, split, **({"dataset": ds} if raw else {}))
    fit_s = time.perf_counter() - t
    t = time.perf_counter()
    rep = evaluate_method(method, feats, split, part="query", dataset=ds if raw else None)
    eval_s = time.perf_counter() - t
    info = method.fit_info_
    epochs = [r["seconds"] for r in info.get("warmup_history", []) + info.get("history", [])]
    return {
        "arm": arm, "seed": seed, "config": method.config_dict(), **provenance(threads),
        "split_hash": split.hash, "dataset_hash": split.dataset_hash, "teacher": TEACHER,
        "map_all": {d: float(r.map_all) for d, r in rep.items()},
        "val_map_at_kept": info.get("val_map_at_kept"), "kept_epoch": info.get("best_epoch", info.get("kept_epoch")),
        "fit_info": {k: v for k, v in info.items() if k not in ("codeword_usage",)},
        "epoch_seconds": epochs, "fit_seconds": fit_s, "eval_seconds": eval_s,
        "loadavg_start": load_start, "loadavg_end": list(os.getloadavg()),
    }, method


def part_runs(args) -> None:
    ds, split, feats = load()
    (OUT / "runs").mkdir(parents=True, exist_ok=True)
    for arm in args.arms:
        for seed in args.seeds:
            path = OUT / "runs" / f"{arm}__s{seed}.json"
            if path.is_file():
                print(f"{path.name}: stored, skipped")
                continue
            rec, method = run_arm(arm, seed, ds, split, feats, args.threads)
            path.write_text(json.dumps(rec, indent=1, default=float))
            method.save(Path(os.environ["DISTILHASH_HOME"]) / "runs" / "dcmq_trainable" / f"{arm}__s{seed}")
            print(f"{arm} seed {seed}: mAP i2t {rec['map_all']['i2t']:.4f} t2i {rec['map_all']['t2i']:.4f} "
                  f"fit {rec['fit_seconds']:.0f}s epochs {[round(s) for s in rec['epoch_seconds']]} load {rec['loadavg_end']}",
                  flush=True)


def part_epoch1(args) -> None:
    """One float warm-up epoch + one quantized epoch of the trainable arm on 1 thread (seconds per epoch)."""
    from distilhash.methods.base import create_method

    ds, split, feats = load()
    method = create_method("dcmq", n_bits=64, seed=0, progress=False, backbone="trainable", warmup_epochs=1, epochs=1,
                           eval_every=1)
    load_start = list(os.getloadavg())
    method.fit(feats, split, dataset=ds)
    info = method.fit_info_
    rows = info["warmup_history"] + info["history"]
    rec = {**provenance(1), "epoch_seconds": [r["seconds"] for r in rows], "epoch_cpu_seconds": [r["cpu_seconds"] for r in rows],
           "loadavg_start": load_start, "loadavg_end": list(os.getloadavg()), "split_hash": split.hash}
    (OUT / "epoch_1thread.json").write_text(json.dumps(rec, indent=1))
    print(rec["epoch_seconds"], rec["loadavg_end"])


def _per_item(fn, items, repeats: int = 1) -> dict[str, float]:
    """Wall and process-CPU seconds per single-item call (the CPU figure is less distorted by a busy machine)."""
    fn(items[:1])  # warm-up (lazy imports, allocator)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        for k in range(len(items)):
            fn(items[k:k + 1])
    n = repeats * len(items)
    return {"wall": (time.perf_counter() - t) / n, "cpu": (time.process_time() - c) / n}


def part_encode(args) -> None:
    """Seconds per single query (batch of 1): the trainable student alone vs the teacher (+ DCMQ heads)."""
    from distilhash.methods.base import load_method
    from distilhash.teachers.registry import create_teacher

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
    out = {"student_load_seconds": student_load, "teacher_load_seconds": teacher_load, "n_items": len(q)}
    out["student_image"] = _per_item(lambda x: student.encode_raw("image", x, "query"), pixels)
    out["student_text"] = _per_item(lambda x: student.encode_raw("text", x, "query"), texts)
    out["teacher_image"] = _per_item(lambda x: teacher.encode_images(x), pixels)
    out["teacher_text"] = _per_item(lambda x: teacher.encode_texts(x), texts)
    if frozen is not None:  # frozen DCMQ query = teacher + heads
        out["frozen_dcmq_image"] = _per_item(lambda x: frozen.encode("image", teacher.encode_images(x), "query"), pixels)
        out["frozen_dcmq_text"] = _per_item(lambda x: frozen.encode("text", teacher.encode_texts(x), "query"), texts)
    rec = {**provenance(args.threads), "seconds_per_item": out, "loadavg_end": list(os.getloadavg())}
    (OUT / f"encode_{args.threads}thread.json").write_text(json.dumps(rec, indent=1))
    print(json.dumps(out, indent=1))


def _ms(vals) -> str:
    v = np.asarray(vals, float)
    return f"{v.mean():.4f}±{v.std():.4f}"


def part_summary(args) -> None:
    runs = [json.loads(p.read_text()) for p in sorted((OUT / "runs").glob("*.json"))]
    rows, summary = [], {}
    for arm in ARMS:
        rs = [r for r in runs if r["arm"] == arm]
        if not rs:
            continue
        i2t, t2i = [r["map_all"]["i2t"] for r in rs], [r["map_all"]["t2i"] for r in rs]
        ep = [s for r in rs for s in r["epoch_seconds"]]
        vm = [r["val_map_at_kept"]["mean"] for r in rs]
        summary[arm] = {"seeds": [r["seed"] for r in rs], "i2t": i2t, "t2i": t2i, "val_mean": vm,
                        "epoch_seconds_mean": float(np.mean(ep)), "epoch_seconds_all": ep,
                        "loadavg": [r["loadavg_end"] for r in rs], "kept_epochs": [r["kept_epoch"] for r in rs]}
        rows.append(f"| {arm} | {len(rs)} | {_ms(i2t)} | {_ms(t2i)} | {_ms(vm)} | {np.mean(ep):.1f} | "
                    + ", ".join("%.1f" % r["loadavg_end"][0] for r in rs) + " |")
    extra = {}
    for name in ("epoch_1thread.json", "encode_1thread.json", "encode_2thread.json"):
        if (OUT / name).is_file():
            extra[name] = json.loads((OUT / name).read_text())
    commit = runs[0]["git"]["commit"] if runs else None
    (OUT / "summary.json").write_text(json.dumps({"arms": summary, "extra": extra, "selection": SELECTION,
                                                   "budget": BUDGET, "split_hash": runs[0]["split_hash"] if runs else None},
                                                  indent=1))
    md = [f"# DCMQ 64 bits: trainable student encoders vs frozen teacher features (openclipart, {TEACHER})", "",
          f"split {runs[0]['split_hash'] if runs else '?'}, commit {commit}; model selection: {SELECTION}.",
          f"Trainable and frozen-budget arms: {BUDGET}; frozen: the DCMQ defaults (20 epochs, eval every 2, patience 3).",
          "mAP@all on split.query (1000) vs split.retrieval (2861); mean ± std over seeds. Epoch seconds at 2 threads "
          "on a machine shared with other jobs (load average at each run's end listed).", "",
          "| arm | seeds | mAP i2t | mAP t2i | val mAP (kept) | s / epoch | load (1 min) |", "|---|---|---|---|---|---|---|",
          *rows, ""]
    for name, rec in extra.items():
        md += [f"## {name}", "", "```", json.dumps({k: rec[k] for k in rec if k in ("epoch_seconds", "epoch_cpu_seconds", "seconds_per_item",
                                                                                     "loadavg_start", "loadavg_end")},
                                                  indent=1), "```", ""]
    (OUT / "summary.md").write_text("\n".join(md))
    print("\n".join(md))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="runs", choices=["runs", "epoch1", "encode", "summary"])
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model-dir", help="encode: a saved trainable DCMQ model")
    ap.add_argument("--frozen-dir", help="encode: a saved frozen DCMQ model (teacher + heads timing)")
    ap.add_argument("--n-items", type=int, default=50)
    args = ap.parse_args()
    os.environ.setdefault("DISTILHASH_HOME", str(ROOT / "data"))
    import torch

    torch.set_num_threads(1 if args.part == "epoch1" else args.threads)
    {"runs": part_runs, "epoch1": part_epoch1, "encode": part_encode, "summary": part_summary}[args.part](args)


if __name__ == "__main__":
    main()
