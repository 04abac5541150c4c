"""openclipart statistics (``bench/openclipart_stats.py``): per assembled option its counts, labels, relevant share
and chance on the preset split; the sample figures and the report.

Usage::

    default = summary(ds, titles)      # titles: item id -> SVG title (for the largest collection left)
    shown = figures(ds, grid_png, samples_png, plot_png, waterfall); text = markdown(out)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import captioned_samples, figure, label_frequency_bars

__all__ = ["label_words_in_text", "summary", "figures", "markdown"]


def label_words_in_text(ds) -> float:
    """Share of (item, tag label) pairs whose tag appears as a phrase in the item's text: how much
    of the label the text gives away."""
    hits = total = 0
    for i, text in enumerate(ds.texts):
        low = f" {' '.join(text.lower().replace(',', ' ').replace('.', ' ').split())} "
        for j in np.flatnonzero(ds.labels[i]):
            name = ds.label_names[j]
            if name.startswith("tag:"):
                total += 1
                hits += f" {name[4:]} " in low
    return round(hits / max(total, 1), 4)


def summary(ds, titles: dict[str, str], seed: int = 0) -> dict:
    """Counts, labels, texts, the relevant share and the chance on the preset split of one assembled dataset."""
    from distilhash.data.prepare import draw_split
    from distilhash.data.stats import labels_per_item, relevant_share, text_length_stats
    from distilhash.eval.chance import random_map_exact
    from distilhash.errors import DataError

    out = {
        "n_items": len(ds),
        "filter_counts": ds.meta["filter_counts"],
        "n_labels": ds.num_labels,
        "n_folder_labels": sum(not n.startswith("tag:") for n in ds.label_names),
        "n_tag_labels": sum(n.startswith("tag:") for n in ds.label_names),
        "labels_per_item": labels_per_item(ds.labels),
        "text_words": text_length_stats(ds.texts),
        "tag_labels_named_in_text": label_words_in_text(ds),
        "largest_collection_left": _largest_collection(ds, titles),
    }
    try:
        split = draw_split(ds, "openclipart", "openclipart", {}, seed)[0]  # the grouped preset, as prepare draws it
        out["split"] = {"hash": split.hash, "sizes": split.sizes()}
        out["relevant_share"] = relevant_share(ds.labels, split.query, split.retrieval)
        out["chance_random_ranking"] = round(random_map_exact(ds.labels[split.query], ds.labels[split.retrieval]), 4)
    except DataError as exc:
        out["split"] = {"error": str(exc)}
    return out


def _largest_collection(ds, titles: dict[str, str]) -> list:
    """``[key, items]`` of the most frequent non-empty collection key left in ``ds``."""
    from distilhash.data.openclipart_labels import collection_key

    keys = Counter(k for k in (collection_key(titles[i]) for i in ds.ids) if k)
    return list(keys.most_common(1)[0]) if keys else ["", 0]


def figures(ds, out_grid: Path, out_samples: Path, out_plot: Path, waterfall: list[tuple[str, int]]) -> list[int]:
    """The seeded 6 x 8 grid, 12 captioned samples and the filter waterfall + label frequencies; the grid's rows."""
    from distilhash.data.sample_grid import save_sample_grid

    shown = save_sample_grid(ds, out_grid, rows=6, cols=8, size=ds.images.size, seed=0)

    rng = np.random.default_rng(1)
    pick = np.sort(rng.choice(len(ds), size=12, replace=False))
    captioned_samples(out_samples, ds, pick, f"{ds.name}: {ds.images.size} px drawings (12 seeded items), text and [labels]",
                      label_text=lambda name: name.split(":", 1)[1], widths=(36, 40), figsize=(12, 12))
    with figure(out_plot, 1, 2, figsize=(12, 3.8), dpi=100) as (fig, (a1, a2)):
        names = [w[0] for w in waterfall]
        a1.barh(np.arange(len(waterfall))[::-1], [w[1] for w in waterfall])
        a1.set_yticks(np.arange(len(waterfall))[::-1], names, fontsize=8)
        a1.set_xlabel("items left")
        a1.set_title("files left after each filter")
        label_frequency_bars(a2, ds, f"label rank ({ds.labels.shape[1]} labels)")
    return shown.tolist()


def markdown(out: dict) -> str:
    """Prepare times, the filter waterfall, the default dataset, one row per label / text / cap option."""
    d = out["default"]
    ch = d.get("relevant_share", {})
    lines = [
        "# openclipart statistics",
        "",
        f"Content hash {out['content_hash']}, split {d['split'].get('hash')} (seed 0).",
        "",
        f"Prepare: scan and render {out['prepare_time']['scan_and_render']['wall_s']} s wall / "
        f"{out['prepare_time']['scan_and_render']['cpu_s']} s CPU (one core), assemble "
        f"{out['prepare_time']['assemble']['wall_s']} s; {out['rendered_from_svg']} drawings rendered from the SVG, "
        f"{out['metadata_unreadable']} without readable metadata, {out['metadata_regex_fallback']} read by the regex "
        "fallback.",
        "",
        "| step | items left |",
        "|---|---:|",
        *[f"| {name} | {left} |" for name, left in out["waterfall"]],
        "",
        f"Default dataset: {d['n_items']} items, {d['n_labels']} labels ({d['n_folder_labels']} folders, "
        f"{d['n_tag_labels']} tags), {d['labels_per_item']['mean']} labels per item, text "
        f"{d['text_words']['mean']} words on average, relevant share {ch.get('mean')}, chance (exact mAP@all of a "
        f"random ranking) {d.get('chance_random_ranking')} "
        f"(split sizes {d['split'].get('sizes')}).",
        "",
        "Collection cap drops: " + ", ".join(f"{k} {v}" for k, v in out["collection_cap_drops"].items()) + ".",
        "",
        "| labels | text | cap | items | labels | labels/item | text words | tag labels named in text | relevant share | chance (random ranking) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in out["variants"]:
        lines.append(
            f"| {v['labels']} | {v['text']} | {v['collection_cap']} | {v['n_items']} | {v['n_labels']} | "
            f"{v['labels_per_item']['mean']} | {v['text_words']['mean']} | {v['tag_labels_named_in_text']} | "
            f"{v.get('relevant_share', {}).get('mean', v['split'].get('error'))} | {v.get('chance_random_ranking', '-')} |"
        )
    top = list(out["label_frequency"].items())[:25]
    lines += ["", "Most frequent labels: " + ", ".join(f"{k} {v}" for k, v in top) + ".", ""]
    return "\n".join(lines)
