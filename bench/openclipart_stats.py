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

from distilhash.benchmark.openclipart_stats import figures, markdown, summary
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import result_paths, write_results

ROOT = Path(__file__).resolve().parent.parent
BENCH = "openclipart_stats"
DOCS = ROOT / "docs"

LABEL_OPTIONS = ("folder2+tags", "folder1+tags", "folder2", "folder1", "tags")
TEXT_OPTIONS = ("title+tags", "title+description")
CAP_OPTIONS = (0, 25, 50, 100, 200)


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


if __name__ == "__main__":
    main()
