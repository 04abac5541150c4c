"""How informative is a teacher (``bench/teacher_quality.py``): float retrieval, zero-shot prompts, speed; the report.

Usage::

    res = retrieval(F.image[q], F.text[db], F.labels[q], F.labels[db])   # {"map_all", "map_at_1000", "p_at_100", ...}
    pairs = retrieval_pairs(F, split, "minilm-lit")                        # name -> (query, database) features
    zs = zero_shot(F.image[q], F.class_text, F.labels[q])                  # top-1 and class-ranking AP vs chance
    speed = throughput("minilm-lit", ds, n=2000, threads=2)                # images/s, texts/s of a fresh teacher

Retrieval ranks float features by cosine (relevance = share a label) with
:func:`distilhash.eval.metrics.evaluate`. ``label_oracle`` fits label probes on ``split.fit`` (a
reference, never a teacher option); ``tower_references`` are the raw MiniLM and Lite0 features of
a ``lite0-minilm`` teacher; ``image_tower_speed`` times Lite0 on one thread.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import load_average

__all__ = ["retrieval", "retrieval_pairs", "zero_shot", "throughput", "tower_references", "label_oracle", "image_tower_speed", "markdown", "plot"]


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


def retrieval_pairs(F, split, teacher_spec: str, ds=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Name -> (query [n_q, D], database [n_db, D]) features of every float retrieval the report scores: i2t, t2i,
    t2t, i2i, a seeded random ranking, i2label-prompt (when the cache has label prompts); for a ``lite0-minilm``
    teacher the teacher-space i2i / t2t, the raw towers (:func:`tower_references`, needs ``ds``) and the label
    oracle (:func:`label_oracle`) instead of the plain i2i / t2t."""
    q, db = split.query, split.retrieval
    rng = np.random.default_rng(0)
    rand = [rng.normal(size=(len(x), 64)).astype(np.float32) for x in (q, db)]
    unit = [x / np.linalg.norm(x, axis=1, keepdims=True) for x in rand]
    runs = {"i2t": (F.image[q], F.text[db]), "t2i": (F.text[q], F.image[db]),
            "t2t (MiniLM alone)" if teacher_spec.startswith("minilm-lit") else "t2t": (F.text[q], F.text[db]),
            "i2i": (F.image[q], F.image[db]), "random ranking": (unit[0], unit[1])}
    if F.label_text is not None:
        runs["i2label-prompt"] = (F.image[q], F.label_text[db])
    if teacher_spec.split(":", 1)[0] == "lite0-minilm":
        del runs["i2i"], runs["t2t"]
        runs["i2i (teacher space)"] = (F.image[q], F.image[db])
        runs["t2t (teacher space)"] = (F.text[q], F.text[db])
        runs.update(tower_references(ds, split, F.manifest))
        runs.update(label_oracle(F, split))
    return runs


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
    size = int(t.image_size or 64)
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


def markdown(out: dict) -> str:
    """The retrieval table (x random), chance, zero-shot prompts, the image tower's and the teacher's speed."""
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


def plot(reports: dict, out: dict, path: Path) -> None:
    """mAP@all per direction as bars, and precision@N of every direction."""
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
