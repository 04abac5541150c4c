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

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results
from distilhash.eval.chance import random_map_exact

ROOT = Path(__file__).resolve().parents[1]
BENCH = "teacher_quality"


def _float(x: np.ndarray):
    from distilhash.codes import Encoded

    x = np.ascontiguousarray(x, dtype=np.float32)
    return Encoded(kind="float", data=x, n_bits=32 * x.shape[1])


def retrieval(q: np.ndarray, db: np.ndarray, ql: np.ndarray, dl: np.ndarray) -> dict:
    """mAP@all, mAP@1000, P@100 of cosine ranking (``distilhash.eval.metrics.evaluate``)."""
    from distilhash.eval.metrics import evaluate

    r = evaluate(_float(q), _float(db), ql, dl, top_n=(100, 1000), curves=True)
    return {"map_all": r.map_all, "map_at_1000": r.map_at[1000], "p_at_100": r.precision_at[100],
            "n_queries": r.n_queries, "n_without_relevant": r.n_without_relevant, "_report": r}


def zero_shot(image: np.ndarray, class_text: np.ndarray, labels: np.ndarray) -> dict:
    """Top-1 accuracy and mean AP of classes ranked by cosine(image, class prompt)."""
    scores = image @ class_text.T  # [n, C]
    order = np.argsort(-scores, axis=1, kind="stable")
    rel = np.take_along_axis(labels.astype(bool), order, axis=1)
    top1 = float(rel[:, 0].mean())
    hits = np.cumsum(rel, axis=1)
    prec = hits / np.arange(1, labels.shape[1] + 1)
    n_rel = rel.sum(1)
    ap = np.where(n_rel > 0, (prec * rel).sum(1) / np.maximum(n_rel, 1), 0.0)
    # chance: top-1 = |labels| / C ; AP of a random class ranking by simulation
    rng = np.random.default_rng(0)
    rand_order = np.argsort(rng.random(labels.shape), axis=1)
    rrel = np.take_along_axis(labels.astype(bool), rand_order, axis=1)
    rprec = np.cumsum(rrel, 1) / np.arange(1, labels.shape[1] + 1)
    rap = np.where(n_rel > 0, (rprec * rrel).sum(1) / np.maximum(n_rel, 1), 0.0)
    recall5 = (rel[:, :5].sum(1) / np.maximum(n_rel, 1)).mean()
    return {"top1_accuracy": top1, "top1_chance": float((labels.sum(1) / labels.shape[1]).mean()),
            "class_map": float(ap.mean()), "class_map_random": float(rap.mean()), "recall_at_5": float(recall5)}


def throughput(teacher_spec: str, ds, n: int, threads: int, image_batch: int = 128) -> dict:
    """Images/s and texts/s of a freshly created teacher (batch sizes ``image_batch`` / 256)."""
    import torch

    from distilhash.teachers.registry import create_teacher

    torch.set_num_threads(threads)
    # Measure real encoding: the minilm-lit teacher keeps large text batches in a disk cache
    # (for feature extraction); a throughput figure must not read from it.
    options = {"text_cache_dir": None} if teacher_spec.split(":", 1)[0] in ("minilm-lit", "lite0-minilm") else {}
    t = create_teacher(teacher_spec, **options)
    idx = np.arange(min(n, len(ds)))
    size = int(getattr(t, "image_size", 64))
    pixels = ds.images.array(idx, size)
    texts = [ds.texts[i] for i in idx]
    t.encode_images(pixels[:64])
    t.encode_texts(texts[:64])
    load0 = load_average()
    t0 = time.perf_counter()
    t.encode_images(pixels, batch_size=image_batch)
    t_img = time.perf_counter() - t0
    t0 = time.perf_counter()
    t.encode_texts(texts, batch_size=256)
    t_txt = time.perf_counter() - t0
    return {"n": int(len(idx)), "threads": threads, "image_batch": image_batch, "images_per_s": len(idx) / t_img, "texts_per_s": len(idx) / t_txt,
            "load_before": load0, "load_after": load_average()}


def tower_references(ds, split, teacher_manifest: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """lite0-minilm: raw MiniLM (t2t) and raw Lite0 (i2i) features of the query and retrieval items."""
    from distilhash.paths import teachers_dir
    from distilhash.teachers.lite0_features import tower_features
    from distilhash.teachers.minilm_text import MiniLMTextEncoder, cached_encode

    q, db = split.query, split.retrieval
    rows = np.concatenate([q, db])
    cache = teachers_dir() / "cache"
    size = int(teacher_manifest["teacher_info"]["image_size"])
    v = cached_encode([ds.texts[i] for i in rows], MiniLMTextEncoder(), cache, progress=True)
    u, _ = tower_features(ds, rows, size, cache, progress=True)
    u = u / np.linalg.norm(u, axis=1, keepdims=True)
    nq = len(q)
    return {"t2t (MiniLM alone)": (v[:nq], v[nq:]), "i2i (Lite0 alone)": (u[:nq], u[nq:])}


def label_oracle(F, split) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Linear probes (:func:`distilhash.benchmark.label_readout.label_readout`) on the teacher's image and text features, fit with labels on split.fit."""
    from distilhash.benchmark.label_readout import label_readout

    p_img = label_readout(np.asarray(F.image), F.labels, split.fit)
    p_txt = label_readout(np.asarray(F.text), F.labels, split.fit)
    q, db = split.query, split.retrieval
    return {"label-oracle i2t (probes fit with labels)": (p_img[q], p_txt[db]),
            "label-oracle t2i (probes fit with labels)": (p_txt[q], p_img[db])}


def image_tower_speed(ds, image_size: int, n: int = 320, batch_size: int = 16) -> dict:
    """Lite0 pooled-feature images/s on ONE torch thread at ``image_size``, batch ``batch_size``, channels_last."""
    import torch

    from distilhash.teachers.efficientnet_lite0 import Lite0Backbone, encode_pooled

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        backbone = Lite0Backbone().frozen()
        pixels = ds.images.array(np.arange(min(n, len(ds))), image_size)
        encode_pooled(backbone, pixels[:32], batch_size)  # warm-up
        load0 = load_average()
        t0 = time.perf_counter()
        encode_pooled(backbone, pixels, batch_size)
        dt = time.perf_counter() - t0
    finally:
        torch.set_num_threads(prev)
    return {"images_per_s": len(pixels) / dt, "n": int(len(pixels)), "image_size": image_size, "batch_size": batch_size,
            "threads": 1, "memory_format": "channels_last", "load_before": load0, "load_after": load_average()}


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
    rng = np.random.default_rng(0)
    rand_q = rng.normal(size=(len(q), 64)).astype(np.float32)
    rand_db = rng.normal(size=(len(db), 64)).astype(np.float32)
    norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    runs = {
        "i2t": (F.image[q], F.text[db]),
        "t2i": (F.text[q], F.image[db]),
        "t2t (MiniLM alone)" if args.teacher.startswith("minilm-lit") else "t2t": (F.text[q], F.text[db]),
        "i2i": (F.image[q], F.image[db]),
        "random ranking": (norm(rand_q), norm(rand_db)),
    }
    if F.label_text is not None:
        runs["i2label-prompt"] = (F.image[q], F.label_text[db])
    if lite0:
        del runs["i2i"], runs["t2t"]
        runs["i2i (teacher space)"] = (F.image[q], F.image[db])
        runs["t2t (teacher space)"] = (F.text[q], F.text[db])
        runs.update(tower_references(ds, split, F.manifest))
        runs.update(label_oracle(F, split))
    res = {name: retrieval(a, b, L[q], L[db]) for name, (a, b) in runs.items()}
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
    paths = write_results(BENCH, args.out_name, out, _markdown(out), plot=lambda path: _plot(reports, out, path), root=ROOT)
    print(paths["md"].read_text())
    return out


def _markdown(out: dict) -> str:
    prov = out["provenance"]
    lines = [f"# Teacher quality: {out['teacher']} on {prov['dataset']}", "",
             f"Split {prov['split_hash']} (query {out['split_sizes']['query']} vs retrieval "
             f"{out['split_sizes']['retrieval']}), relevance = share a label; cosine ranking of float features.", "",
             "| direction | mAP@all | mAP@1000 | P@100 | x random (mAP@all) |", "|---|---|---|---|---|"]
    rnd = out["retrieval"]["random ranking"]["map_all"]
    for name, r in out["retrieval"].items():
        lines.append(f"| {name} | {r['map_all']:.4f} | {r['map_at_1000']:.4f} | {r['p_at_100']:.4f} | {r['map_all'] / rnd:.2f} |")
    lines += ["", f"Expected mAP@all of a random ranking (mean share of relevant database items): {out['chance_expected_map']:.4f}; "
              f"i2t {out['retrieval']['i2t']['map_all'] / out['chance_expected_map']:.2f}x, "
              f"t2i {out['retrieval']['t2i']['map_all'] / out['chance_expected_map']:.2f}x of it.", "",
              f"Informative (i2t and t2i mAP@all >= 3x random): **{out['informative (i2t and t2i >= 3x random)']}**", ""]
    zs = out.get("zero_shot")
    if zs:
        lines += ["## Zero-shot label prompts (query images vs one prompt per class)", "",
                  "| metric | teacher | chance |", "|---|---|---|",
                  f"| top-1 accuracy (best class is one of the item's labels) | {zs['top1_accuracy']:.4f} | {zs['top1_chance']:.4f} |",
                  f"| mean AP of the class ranking | {zs['class_map']:.4f} | {zs['class_map_random']:.4f} |",
                  f"| recall@5 classes | {zs['recall_at_5']:.4f} | |", ""]
    ts = out.get("image_tower_speed_1_thread")
    if ts:
        lines += ["## Image tower speed (EfficientNet-Lite0, one thread)", "",
                  f"{ts['images_per_s']:.1f} images/s at {ts['image_size']} px, batch {ts['batch_size']}, {ts['memory_format']} "
                  f"({ts['n']} images; load average before {ts['load_before'][0]:.2f}, after {ts['load_after'][0]:.2f}).", ""]
    s = out["throughput"]
    lines += ["## Encoding throughput", "",
              f"{s['images_per_s']:.1f} images/s, {s['texts_per_s']:.1f} texts/s ({s['n']} items, {s['threads']} torch threads, "
              f"load average before {s['load_before'][0]:.2f}, after {s['load_after'][0]:.2f}; the machine was shared "
              "with other jobs, so these are lower bounds).", ""]
    return "\n".join(lines)


def _plot(reports: dict, out: dict, path: Path) -> None:
    with figure(path, 1, 2, figsize=(11, 4)) as (fig, axes):
        names = list(out["retrieval"])
        vals = [out["retrieval"][n]["map_all"] for n in names]
        axes[0].barh(names, vals, color=["C0" if "random" not in n else "C7" for n in names])
        axes[0].set_xlabel("mAP@all (cosine)")
        axes[0].set_title(f"{out['teacher']} on {out['provenance']['dataset']}")
        for name, rep in reports.items():
            if rep.precision_curve is not None:
                n_at, prec = rep.precision_curve
                axes[1].plot(n_at, prec, label=name)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("N")
        axes[1].set_ylabel("precision@N")
        axes[1].legend(fontsize=8)


if __name__ == "__main__":
    main()
