"""Teacher extraction on Ray: throughput with 1 and 2 workers, and a full sharded extraction checked
against the single-process cache.

    .venv/bin/python bench/distributed_extract.py                # EmojiScenes, minilm-lit, local 2-CPU cluster
    .venv/bin/python bench/distributed_extract.py --images 2048 --texts 512 --skip-full --out-name distributed_extract_smoke

Needs ``distilhash data prepare emoji-scenes`` and, for the full run's identity check,
``distilhash teacher extract --dataset emoji-scenes`` (the single-process cache) in $DISTILHASH_HOME.

1. Tower scaling: W = 1, then 2 actors (1 CPU and 1 torch thread each) on a local Ray cluster of
   2 CPUs; each actor loads the teacher and is warmed up on one part; then ``--images`` rows of
   the image tower (and ``--texts`` rows of the text tower, without the text-embedding cache)
   are encoded in parts of ``--part`` rows spread over the actors. Reported: wall-clock rows/s,
   speed-up of 2 workers over 1 and efficiency = speed-up / 2; and the actors' CPU seconds (a
   shared, oversubscribed machine gives workers less than a core each; rows per CPU-second shows
   whether the work itself scaled).
2. Full extraction (``extract_features_ray``, 2 workers, parts of 2048 rows) of the whole
   dataset into a fresh cache, compared array by array with the single-process cache
   (``array_equal`` and max |difference|). Text rows come from the teacher's text-embedding
   cache when the single-process run filled it (the same 2048-row chunks); image rows are
   always computed.

Writes ``bench/results/distributed_extract/<out-name>.{json,md,png}`` with the provenance block
(:func:`distilhash.benchmark.provenance.collect_provenance`) and the load before/after each phase.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "distributed_extract"


def tower_scaling(ray, ds_dir: Path, teacher: str, name: str, n_rows: int, part: int, workers: int) -> dict:
    """Encode rows [0, n_rows) of array ``name`` on ``workers`` fresh actors; wall and CPU figures."""
    from distilhash.distributed.extract import ExtractWorker

    remote = ray.remote(num_cpus=1)(ExtractWorker)
    opts = {"device": "cpu", "text_cache_dir": False}
    actors = [remote.remote(str(ds_dir), teacher, opts, "a photo of {}", 128, 1) for _ in range(workers)]
    try:
        warm = min(part, 256)
        ray.get([a.encode_rows.remote(name, n_rows, n_rows + warm) for a in actors])  # load + first-call costs
        ranges = [(s, min(n_rows, s + part)) for s in range(0, n_rows, part)]
        load_before = load_average()
        t0 = time.perf_counter()
        out = ray.get([actors[i % workers].encode_rows.remote(name, s, e) for i, (s, e) in enumerate(ranges)])
        wall = time.perf_counter() - t0
        rows = np.concatenate([o[0] for o in out])
    finally:
        for a in actors:
            ray.kill(a)
    cpu = sum(o[2] for o in out)
    return {"array": name, "workers": workers, "rows": n_rows, "part": part, "wall_s": wall, "rows_per_s": n_rows / wall,
            "actor_cpu_s": cpu, "rows_per_cpu_s": n_rows / cpu, "cpu_per_wall": cpu / wall,
            "load_before": load_before, "load_after": load_average(),
            "checksum": float(np.abs(rows).sum())}


def full_extraction(ds_dir: Path, teacher: str, single_dir: Path, out: Path, workers: int) -> dict:
    from distilhash.distributed.extract import extract_features_ray
    from distilhash.teachers.cache import load_features

    shutil.rmtree(out, ignore_errors=True)
    load_before = load_average()
    t0 = time.perf_counter()
    extract_features_ray(ds_dir, teacher, out, workers=workers, part_size=2048, progress=True)
    wall = time.perf_counter() - t0
    ray_fs, one = load_features(out), load_features(single_dir)
    cmp = {}
    for name in ("image", "text", "label_text", "class_text", "labels"):
        a, b = getattr(ray_fs, name), getattr(one, name)
        cmp[name] = {"array_equal": bool(np.array_equal(a, b)),
                     "max_abs_diff": float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())}
    return {"workers": workers, "items": len(ray_fs), "wall_s": wall, "items_per_s": len(ray_fs) / wall,
            "ids_equal": ray_fs.ids == one.ids, "compare_with_single_process": cmp,
            "engine": ray_fs.manifest.get("engine"), "single_process_throughput": one.manifest.get("throughput"),
            "load_before": load_before, "load_after": load_average()}


def markdown(result: dict) -> str:
    prov = result["provenance"]
    lines = [f"# Teacher extraction on Ray ({prov['started_utc']})", "",
             f"Dataset {prov['dataset']} (hash {prov['dataset_hash']}, split {prov['split_hash']}), teacher "
             f"{result['teacher']}; local Ray cluster of 2 CPUs; 1 torch thread per worker. Shared 2-core machine "
             "(other engineers' jobs running; load averages per row and in the provenance).", "",
             "## Tower throughput, 1 vs 2 workers", "",
             "| tower | rows | workers | wall s | rows/s | speed-up | efficiency | actor CPU s | rows per CPU-s | CPU/wall | load before |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in result["scaling"]:
        for r in s["runs"]:
            sp = r["rows_per_s"] / s["runs"][0]["rows_per_s"]
            lines.append(f"| {r['array']} | {r['rows']} | {r['workers']} | {r['wall_s']:.1f} | {r['rows_per_s']:.1f} | "
                         f"{sp:.2f}x | {sp / r['workers']:.2f} | {r['actor_cpu_s']:.1f} | {r['rows_per_cpu_s']:.1f} | "
                         f"{r['cpu_per_wall']:.2f} | {r['load_before'][0]} |")
    lines += ["", "Goal: 2 workers >= 1.7x one worker for the image tower. CPU/wall is how many cores the workers "
              "actually got together; on an idle 2-core machine it would be 1.0 and 2.0."]
    f = result.get("full")
    if f:
        lines += ["", "## Full extraction, 2 workers, vs the single-process cache", "",
                  f"{f['items']} items in {f['wall_s']:.0f} s ({f['items_per_s']:.1f} items/s; all three row arrays; "
                  f"text rows from the text-embedding cache when present); ids equal: {f['ids_equal']}.", "",
                  "| array | identical (array_equal) | max abs difference |", "|---|---|---|"]
        for k, v in f["compare_with_single_process"].items():
            lines.append(f"| {k} | {v['array_equal']} | {v['max_abs_diff']:.3g} |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    with figure(path, figsize=(7, 4), dpi=120) as (fig, ax):
        for i, s in enumerate(result["scaling"]):
            w = [r["workers"] for r in s["runs"]]
            ax.plot(w, [r["rows_per_s"] for r in s["runs"]], "o-", color=f"C{i}", label=f"{s['array']} (wall clock)")
            ax.plot(w, [r["rows_per_cpu_s"] * r["workers"] for r in s["runs"]], "s--", color=f"C{i}", alpha=0.5,
                    label=f"{s['array']} (per CPU-second x workers)")
            base = s["runs"][0]["rows_per_s"]
            ax.plot(w, [base * x for x in w], ":", color=f"C{i}", alpha=0.4)
        ax.set_xticks([1, 2])
        ax.set_xlabel("Ray workers (1 CPU each)")
        ax.set_ylabel("rows / s")
        ax.set_yscale("log")
        ax.set_title(f"extraction throughput (dotted: linear scaling); load {result['provenance']['load_before'][0]}", fontsize=9)
        ax.legend(fontsize=7)


def main(argv: list[str] | None = None) -> None:
    from distilhash.benchmark.provenance import peak_rss_mib
    from distilhash.data.store import open_prepared, resolve_dataset_dir
    from distilhash.distributed.runtime import ray_session
    from distilhash.teachers.cache import default_features_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="emoji-scenes")
    ap.add_argument("--teacher", default="minilm-lit")
    ap.add_argument("--images", type=int, default=8192)
    ap.add_argument("--texts", type=int, default=1024)
    ap.add_argument("--part", type=int, default=512)
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--out-name", default=BENCH, help="result name under bench/results/distributed_extract/")
    args = ap.parse_args(argv)
    ds_dir = resolve_dataset_dir(args.dataset).resolve()
    ds, split = open_prepared(ds_dir)
    prov = collect_provenance(BENCH, args.out_name, seeds=[], model_selection="none (inference only)",
                              dataset=ds.name, dataset_hash=ds.content_hash(), split_hash=split.hash, root=ROOT)
    result = {"provenance": prov, "teacher": args.teacher, "settings": vars(args), "scaling": []}
    with ray_session(num_cpus=2) as ray:
        for name, n in (("image", args.images), ("text", args.texts)):
            runs = []
            for w in (1, 2):
                r = tower_scaling(ray, ds_dir, args.teacher, name, n, args.part, w)
                print(f"{name} x{w}: {r['rows_per_s']:.1f} rows/s (CPU/wall {r['cpu_per_wall']:.2f}, "
                      f"{r['rows_per_cpu_s']:.1f} rows per CPU-s, load {r['load_before'][0]})", flush=True)
                runs.append(r)
            result["scaling"].append({"array": name, "runs": runs,
                                      "speedup_2_workers": runs[1]["rows_per_s"] / runs[0]["rows_per_s"],
                                      "all_rows_identical_1_vs_2": runs[0]["checksum"] == runs[1]["checksum"]})
        if not args.skip_full:
            from distilhash.paths import features_dir

            single = default_features_dir(ds.name, args.teacher)
            result["full"] = full_extraction(ds_dir, args.teacher, single, features_dir() / f"{ds.name}__ray-bench", 2)
            print(json.dumps(result["full"]["compare_with_single_process"]), flush=True)
    result["peak_rss_mib_driver"] = peak_rss_mib()
    paths = write_results(BENCH, args.out_name, result, markdown(result), plot=lambda path: plot(result, path), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
