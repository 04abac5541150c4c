"""openclipart statistics: filters, labels, relevant share and chance per label/text/cap option, prepare time.

Usage::

    .venv/bin/python bench/openclipart_stats.py [--root FOLDER]   # default: the Debian package

Scans the installed Debian package once (filters 1-4: reading, rendering, de-duplication, blank
drawings — timed as wall and CPU seconds, the machine may be shared), then assembles the dataset
for each option (collection cap, label sources, text variant; no file is read again) and draws the
``openclipart`` preset split on each to get its relevant share and its chance (the exact mAP@all of a random ranking). Writes
``bench/results/openclipart_stats/<out-name>.{json,md,png}`` and the figures ``openclipart_grid.png``
(48 seeded items of the default dataset) and ``openclipart_samples.png`` (12 items with text
and labels) in ``--docs-dir`` (default ``docs/``). The figures quoted in docs/dataset-openclipart.md come from here.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import captioned_samples, figure, label_frequency_bars
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import result_paths, write_results

ROOT = Path(__file__).resolve().parent.parent
BENCH = "openclipart_stats"
DOCS = ROOT / "docs"

LABEL_OPTIONS = ("folder2+tags", "folder1+tags", "folder2", "folder1", "tags")
TEXT_OPTIONS = ("title+tags", "title+description")
CAP_OPTIONS = (0, 25, 50, 100, 200)


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


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=None, help="folder with svg/ and png/ (default: the Debian package)")
    p.add_argument("--out-name", default=BENCH, help="result name under bench/results/openclipart_stats/")
    p.add_argument("--docs-dir", type=Path, default=DOCS, help="where the sample figures go")
    args = p.parse_args(argv)
    from distilhash.data.openclipart import FILTER_REASONS, OpenClipartConfig, assemble_openclipart, scan_drawings

    base = OpenClipartConfig() if args.root is None else OpenClipartConfig(root=args.root)
    prov = collect_provenance(BENCH, args.out_name, seeds=[base.seed, 0], model_selection="none (dataset statistics only)",
                              dataset="openclipart", root=ROOT)
    w0, c0 = time.perf_counter(), time.process_time()
    drawings = scan_drawings(base, progress=True)
    scan = {"wall_s": round(time.perf_counter() - w0, 1), "cpu_s": round(time.process_time() - c0, 1)}
    w1, c1 = time.perf_counter(), time.process_time()
    ds = assemble_openclipart(drawings, base)
    assemble = {"wall_s": round(time.perf_counter() - w1, 2), "cpu_s": round(time.process_time() - c1, 2)}
    titles = {f"{base.id_prefix}-{rel}": m.title for rel, m in zip(drawings.rels, drawings.metas)}
    default = summary(ds, titles)
    counts = ds.meta["filter_counts"]
    waterfall, left = [("SVG files", drawings.n_files)], drawings.n_files
    for reason in FILTER_REASONS:
        left -= counts[reason]
        waterfall.append((f"- {reason} ({counts[reason]})", left))

    variants = []
    for labels in LABEL_OPTIONS:
        for text in TEXT_OPTIONS:
            cfg = replace(base, labels=labels, text=text)
            variants.append({"labels": labels, "text": text, "collection_cap": cfg.collection_cap,
                             **summary(assemble_openclipart(drawings, cfg), titles)})
    for cap in CAP_OPTIONS:
        cfg = replace(base, collection_cap=cap)
        variants.append({"labels": cfg.labels, "text": cfg.text, "collection_cap": cap,
                         **summary(assemble_openclipart(drawings, cfg), titles)})
    cap_drops = Counter(r["detail"].split(" (cap")[0] for r in ds.meta["filtered_items"] if r["reason"] == "collection-cap")
    freq = sorted(ds.label_frequencies().items(), key=lambda kv: (-kv[1], kv[0]))
    plot_path = result_paths(BENCH, args.out_name, ROOT)["png"]
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    args.docs_dir.mkdir(parents=True, exist_ok=True)
    shown = figures(ds, args.docs_dir / "openclipart_grid.png", args.docs_dir / "openclipart_samples.png", plot_path, waterfall)
    rng = np.random.default_rng(2)
    examples = [{"id": ds.ids[i], "text": ds.texts[i],
                 "labels": [ds.label_names[j] for j in np.flatnonzero(ds.labels[i])]}
                for i in np.sort(rng.choice(len(ds), 20, replace=False))]
    prov["split_hash"] = default["split"].get("hash")
    out = {
        "provenance": prov,
        "seeds_used_for": {"collection_cap": base.seed, "split": 0},
        "config": base.to_dict(),
        "content_hash": ds.content_hash(),
        "prepare_time": {"scan_and_render": scan, "assemble": assemble},
        "n_files": drawings.n_files,
        "rendered_from_svg": len(drawings.rendered_from_svg),
        "metadata_unreadable": len(drawings.metadata_unreadable),
        "metadata_regex_fallback": len(ds.meta["metadata_regex_fallback"]),
        "waterfall": waterfall,
        "collection_cap_drops": dict(cap_drops.most_common()),
        "default": default,
        "label_frequency": dict(freq),
        "variants": variants,
        "grid_items": [ds.ids[i] for i in shown],
        "examples": examples,
    }
    paths = write_results(BENCH, args.out_name, out, markdown(out), root=ROOT)
    print(paths["md"].read_text())


def markdown(out: dict) -> str:
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


if __name__ == "__main__":
    main()
