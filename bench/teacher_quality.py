"""How informative is a teacher? Float retrieval, zero-shot label prompts and encoding speed.

Usage::

    DISTILHASH_HOME=data .venv/bin/python bench/teacher_quality.py                 # emoji-scenes, minilm-lit
    .venv/bin/python bench/teacher_quality.py --dataset emoji-scenes --teacher minilm-lit --n-speed 2000

On the prepared dataset's saved split, with the teacher's cached features (extracted first if
missing), it reports:

* float retrieval mAP@all (cosine; relevance = share a label), queries = ``split.query``,
  database = ``split.retrieval``: image->text and text->image (the teacher's cross-modal
  ability), text->text (MiniLM alone, for minilm-lit the text tower), image->image, and the
  same measured for a random ranking (seeded uniform scores);
* zero-shot label prompts on the query images: top-1 accuracy (the best-scoring class prompt
  is one of the item's labels) and mean AP of the class ranking per image, against chance;
  and image -> own label-prompt retrieval (the DCMQ/SODA supervision signal);
* encoding throughput (images/s, texts/s) of a fresh teacher on ``--n-speed`` items, with the
  load average (the machine is shared).

For the ``lite0-minilm`` teacher it adds the tower-only references (text->text with raw MiniLM,
image->image with raw Lite0 pooled features), a label-oracle reference (linear probes on the
teacher's image and text features fitted *with labels* on ``split.fit``: what label supervision
could extract from these features) and the image tower's speed on one thread at batch 16.

Writes ``bench/results/teacher_quality/<out-name>.{json,md,png}`` (default ``teacher_quality``).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.teacher_probe import (image_tower_speed, markdown, plot, retrieval, retrieval_pairs, throughput,
                                                zero_shot)
from distilhash.eval.chance import random_map_exact

ROOT = Path(__file__).resolve().parents[1]
BENCH = "teacher_quality"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="emoji-scenes")
    ap.add_argument("--teacher", default="minilm-lit")
    ap.add_argument("--features", default=None, help="feature cache dir (default: the standard one)")
    ap.add_argument("--n-speed", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out-name", "--name", dest="out_name", default=BENCH,
                    help="result name under bench/results/teacher_quality/ (default teacher_quality)")
    args = ap.parse_args(argv)
    t_start = time.time()

    from distilhash.data.store import open_prepared
    from distilhash.teachers.cache import default_features_dir, extract_features, load_features

    ds, split = open_prepared(args.dataset)
    fdir = Path(args.features) if args.features else default_features_dir(ds.name, args.teacher)
    fdir = extract_features(args.dataset, args.teacher, fdir, progress=True)
    F = load_features(fdir, split_hash=split.hash, dataset_hash=ds.content_hash())
    lite0 = args.teacher.split(":", 1)[0] == "lite0-minilm"
    prov = collect_provenance(
        BENCH, args.out_name, seeds=[0], dataset=ds.name, dataset_hash=ds.content_hash(), split_hash=split.hash,
        threads=args.threads, root=ROOT,
        model_selection=(((F.manifest.get("teacher_info") or {}).get("kept_because") if lite0 else None)
                         or "teacher fit keeps the epoch with the lowest held-out pretraining-corpus loss")
        + "; the label-oracle probes are fitted on split.fit with one fixed setting")
    q, db = split.query, split.retrieval
    L = F.labels
    res = {name: retrieval(a, b, L[q], L[db]) for name, (a, b) in retrieval_pairs(F, split, args.teacher, ds).items()}
    reports = {name: r.pop("_report") for name, r in res.items()}
    rnd = res["random ranking"]["map_all"]
    ratios = {k: res[k]["map_all"] / rnd for k in ("i2t", "t2i")}
    zs = zero_shot(F.image[q], F.class_text, L[q]) if F.class_text is not None else None
    speed = throughput(args.teacher, ds, args.n_speed, args.threads, 16 if lite0 else 128)
    tower_speed = image_tower_speed(ds, int(F.manifest["teacher_info"]["image_size"])) if lite0 else None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "provenance": prov,
        "split_sizes": split.sizes(),
        "teacher": F.manifest.get("teacher"), "teacher_fingerprint": F.manifest.get("teacher_fingerprint"),
        "teacher_info": F.manifest.get("teacher_info"),
        "features": str(fdir), "prompt_template": F.manifest.get("template"),
        "retrieval": res,
        "map_all_over_random": ratios,
        "informative (i2t and t2i >= 3x random)": bool(min(ratios.values()) >= 3.0),
        "zero_shot": zs,
        "throughput": speed,
        "image_tower_speed_1_thread": tower_speed,
        "chance_expected_map": random_map_exact(L[q], L[db]),
        "extract_throughput": F.manifest.get("throughput"),
        "wall_time_s": time.time() - t_start,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }
    paths = write_results(BENCH, args.out_name, out, markdown(out), plot=lambda path: plot(reports, out, path), root=ROOT)
    print(paths["md"].read_text())
    return out


if __name__ == "__main__":
    main()
