"""How high a frozen-MiniLM teacher can go on EmojiScenes (``bench/teacher_ceiling.py``): oracles and upper bounds.

Usage::

    a = part_a(encoder, name_emb, gen, "emoji-scenes")      # the benchmark's split: teacher, MiniLM, oracles, chance
    b = part_b(encoder, name_emb, 4000, 500, seed=77)        # a design sample per objects-per-scene range
    text = markdown({"benchmark": a, "design": b, ...}); plot(res, path)

``encoder`` is a MiniLM text encoder (``encode(texts, batch_size)``), ``name_emb`` the unit MiniLM
embeddings of the catalogue's emoji names ``[E, D]``, ``gen`` the EmojiScenes generator that made
the dataset. Every figure is mAP@all of cosine ranking, relevance = share a label; the label
readout (:func:`distilhash.benchmark.label_readout.label_readout`) uses labels and is a reference.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.label_readout import label_readout
from distilhash.errors import DataError
from distilhash.eval.chance import random_map_exact

__all__ = ["DESIGN_RANGES", "map_all", "scene_objects", "oracle_features", "phrase_features", "part_a", "part_b",
           "markdown", "plot"]

PHRASE_SPLIT = re.compile(r"\s*(?:,|;|:|\band\b)\s*")
#: objects-per-scene ranges of the design sample
DESIGN_RANGES = [(2, 5), (2, 4), (2, 3), (1, 3), (1, 2)]


def map_all(q: np.ndarray, db: np.ndarray, ql: np.ndarray, dl: np.ndarray) -> float:
    """mAP@all of cosine ranking ``q [nq, D]`` against ``db [nd, D]``."""
    from distilhash.codes import Encoded
    from distilhash.eval.metrics import evaluate

    def enc(x: np.ndarray) -> Encoded:
        x = np.asarray(x, dtype=np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return Encoded("float", np.ascontiguousarray(x), 32 * x.shape[1])

    return float(evaluate(enc(q), enc(db), ql, dl, curves=False).map_all)


def scene_objects(gen, n: int) -> tuple[list[list[int]], list[str]]:
    """Emoji indices and caption of items ``0..n-1`` of ``gen`` (no rendering)."""
    objs, caps = [], []
    for i in range(n):
        scene, caption, _, _ = gen.item(i)
        objs.append([o.emoji for o in scene.objects])
        caps.append(caption)
    return objs, caps


def oracle_features(objs: list[list[int]], name_emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """identity multi-hot ``[n, E]`` and summed name embeddings ``[n, D]``."""
    ident = np.zeros((len(objs), len(name_emb)), dtype=np.float32)
    for i, o in enumerate(objs):
        ident[i, o] = 1.0
    return ident, ident @ name_emb


def phrase_features(captions: list[str], encoder) -> np.ndarray:
    """Sum of unit MiniLM embeddings of the caption's phrases ``[n, D]``."""
    pieces, owner = [], []
    for j, c in enumerate(captions):
        ps = [p for p in PHRASE_SPLIT.split(c) if p.strip()] or [c]
        pieces += ps
        owner += [j] * len(ps)
    emb = np.asarray(encoder.encode(pieces, batch_size=512), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    out = np.zeros((len(captions), emb.shape[1]), dtype=np.float32)
    np.add.at(out, np.asarray(owner), emb)
    return out


def part_a(encoder, name_emb: np.ndarray, gen, dataset: str) -> dict:
    """Part A: every representation on the benchmark's own split (query vs retrieval), with the chance."""
    from distilhash.data.store import open_prepared
    from distilhash.teachers.cache import default_features_dir, load_features

    ds, split = open_prepared(dataset)
    feats = load_features(default_features_dir(dataset, "minilm-lit"))
    q, db = split.query, split.retrieval
    Y = feats.labels
    objs, caps = scene_objects(gen, len(ds))
    if caps[: 50] != [ds.texts[i] for i in range(50)]:
        raise DataError("the generator does not reproduce the prepared dataset's captions; re-prepare it")
    ident, names = oracle_features(objs, name_emb)
    rows = np.concatenate([q, db])
    phr = np.zeros((len(ds), name_emb.shape[1]), dtype=np.float32)
    phr[rows] = phrase_features([caps[i] for i in rows], encoder)
    yq, yd = Y[q], Y[db]
    readout = label_readout(feats.text, Y, split.fit)
    out = {
        "chance": random_map_exact(yq, yd),
        "teacher_i2t": map_all(feats.image[q], feats.text[db], yq, yd),
        "teacher_t2i": map_all(feats.text[q], feats.image[db], yq, yd),
        "minilm_sentence_t2t": map_all(feats.text[q], feats.text[db], yq, yd),
        "minilm_phrases_t2t": map_all(phr[q], phr[db], yq, yd),
        "identity_oracle": map_all(ident[q], ident[db], yq, yd),
        "names_oracle": map_all(names[q], names[db], yq, yd),
        "label_readout_t2t": map_all(readout[q], readout[db], yq, yd),
        "n_query": int(len(q)),
        "n_database": int(len(db)),
        "split_hash": split.hash,
        "teacher": feats.manifest.get("teacher"),
    }
    return out


def part_b(encoder, name_emb: np.ndarray, n_items: int, n_query: int, seed: int,
           ranges: list[tuple[int, int]] = DESIGN_RANGES) -> list[dict]:
    """Part B: per objects-per-scene range, the text-side figures on a design sample of its own seed."""
    from dataclasses import replace

    from distilhash.data.emoji_scenes import EmojiScenesConfig, EmojiScenesGenerator

    base = EmojiScenesConfig(n_items=n_items, seed=seed)
    gen = EmojiScenesGenerator(base)
    rows = []
    for lo, hi in ranges:
        gen.config = replace(base, min_objects=lo, max_objects=hi)  # sampling reads the config
        objs, caps = scene_objects(gen, n_items)
        Y = np.zeros((n_items, len(gen.label_names)), dtype=np.uint8)
        for i, o in enumerate(objs):
            Y[i, gen.emoji_label[o]] = 1
        sent = np.asarray(encoder.encode(caps, batch_size=256), dtype=np.float32)
        ident, names = oracle_features(objs, name_emb)
        yq, yd = Y[:n_query], Y[n_query:]
        row = {"objects": f"{lo}-{hi}", "labels_per_item": float(Y.sum(1).mean()), "chance": random_map_exact(yq, yd)}
        for key, x in (("minilm_sentence_t2t", sent), ("identity_oracle", ident), ("names_oracle", names)):
            row[key] = map_all(x[:n_query], x[n_query:], yq, yd)
        rows.append(row)
        print(row, flush=True)
    return rows


def markdown(res: dict) -> str:
    """Part A's table (x chance), the 3x line, part B's table."""
    a = res["benchmark"]
    ch = a["chance"]
    lines = [
        "# Teacher ceiling: how far can a frozen-MiniLM teacher go on EmojiScenes?",
        "",
        f"Split {a['split_hash']}, {a['n_query']} queries vs "
        f"{a['n_database']} database items; cosine ranking, relevance = share a subgroup label; mAP@all.",
        "",
        "## A. The benchmark (default scenes: 2-5 objects)",
        "",
        "| representation | mAP@all | x chance |",
        "|---|---|---|",
    ]
    names = [
        ("teacher_i2t", "fitted teacher, image -> text"),
        ("teacher_t2i", "fitted teacher, text -> image"),
        ("minilm_sentence_t2t", "frozen MiniLM caption embedding, text -> text (the teacher's text tower)"),
        ("minilm_phrases_t2t", "MiniLM, caption split into phrases, embeddings summed"),
        ("identity_oracle", "oracle: exact emoji set (perfect recogniser, no semantics)"),
        ("names_oracle", "oracle: sum of MiniLM embeddings of all objects' canonical names"),
        ("label_readout_t2t", "MiniLM + label-supervised linear readout (uses labels; not a teacher option)"),
        ("chance", "random ranking"),
    ]
    for key, label in names:
        lines.append(f"| {label} | {a[key]:.4f} | {a[key] / ch:.2f} |")
    lines += [
        "",
        f"The 3x goal is mAP@all >= {3 * ch:.3f}.",
        "",
        f"## B. Design sample (seed {res['design_seed']}, {res['design_items']} scenes, {res['design_query']} queries; "
        "never the benchmark items)",
        "",
        "| objects per scene | labels/item | chance | MiniLM sentence t2t (x chance) | identity oracle (x) | names oracle (x) |",
        "|---|---|---|---|---|---|",
    ]
    for r in res["design"]:
        c = r["chance"]
        lines.append(
            f"| {r['objects']} | {r['labels_per_item']:.2f} | {c:.3f} | {r['minilm_sentence_t2t']:.3f} "
            f"({r['minilm_sentence_t2t'] / c:.2f}x) | {r['identity_oracle']:.3f} ({r['identity_oracle'] / c:.2f}x) | "
            f"{r['names_oracle']:.3f} ({r['names_oracle'] / c:.2f}x) |"
        )
    lines += ["", f"Wall time {res['wall_s']:.0f} s.", ""]
    return "\n".join(lines)


def plot(res: dict, path: Path) -> None:
    """Part B: each text-side figure / chance against the scene design, with the 3x goal."""
    rows = res["design"]
    x = np.arange(len(rows))
    with figure(path, figsize=(7, 4), dpi=120) as (fig, ax):
        for key, label in (("minilm_sentence_t2t", "MiniLM caption (teacher text tower)"),
                           ("identity_oracle", "exact emoji set"), ("names_oracle", "sum of name embeddings")):
            ax.plot(x, [r[key] / r["chance"] for r in rows], marker="o", label=label)
        ax.axhline(3.0, color="k", ls="--", lw=1, label="issue #3 goal (3x)")
        ax.set_xticks(x, [r["objects"] for r in rows])
        ax.set_xlabel("objects per scene (design sample)")
        ax.set_ylabel("text->text mAP@all / chance")
        ax.set_title("What a frozen-MiniLM teacher can reach, by scene design")
        ax.legend(fontsize=8)
