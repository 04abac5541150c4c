"""Feature caches of openclipart with less leaky captions: ``title. description`` and ``title``.

    python bench/less_leaky_features.py [--teacher lite0-minilm:openclipart] [--name captions] [--variants title+description title]

Reads the default feature cache of the teacher ($DISTILHASH_HOME/features/openclipart__<slug>), the
titles and descriptions from the drawings' SVG metadata, and writes
``$DISTILHASH_HOME/features/openclipart__<slug>__<variant>/`` (only text.npy differs), plus
``bench/results/less_leaky/<name>.json`` (default ``captions``; e.g. ``captions_grouped`` for a home on the
grouped split): how many items have a description, how many captions
name one of their tag labels, and which labels come from tags.
"""

from __future__ import annotations

import argparse
import json
import re

import numpy as np

from distilhash.benchmark.open_vocab.domains import openclipart_titles
from distilhash.benchmark.provenance import collect_provenance, finish_provenance
from distilhash.benchmark.suite import repo_root
from distilhash.data.openclipart import DEFAULT_ROOT
from distilhash.data.store import open_prepared
from distilhash.data.svg_meta import read_svg_meta
from distilhash.io_utils import atomic_write_json
from distilhash.paths import features_dir
from distilhash.teachers.registry import create_teacher, teacher_slug
from distilhash.teachers.retext import retext_features

VARIANTS = {
    "title+description": lambda title, desc: ". ".join(p for p in (title, desc) if p),
    "title": lambda title, desc: title,
}


def _names_tag(text: str, tag_labels: list[str]) -> bool:
    low = " ".join(re.findall(r"[a-z]+", text.lower()))
    return any(re.search(rf"\b{re.escape(t)}s?\b", low) for t in tag_labels)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", default="lite0-minilm:openclipart")
    ap.add_argument("--name", default="captions", help="result file stem under bench/results/less_leaky/")
    ap.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    args = ap.parse_args()
    ds, split = open_prepared("openclipart")
    prov = collect_provenance("less_leaky", args.name, seeds=[], model_selection="none (features only)",
                              split=split, dataset="openclipart", threads=2, root=repo_root())
    metas = [read_svg_meta(f"{DEFAULT_ROOT}/svg/{i[3:]}.svg") for i in ds.ids]
    titles = openclipart_titles(ds.ids)
    assert titles == [m.title for m in metas]
    src = features_dir() / f"openclipart__{teacher_slug(args.teacher)}"
    teacher = create_teacher(args.teacher)
    tag_cols = [j for j, n in enumerate(ds.label_names) if n.startswith("tag:")]
    stats = {"n_items": len(ds), "n_labels": len(ds.label_names), "n_tag_labels": len(tag_cols),
             "tag_labels": [ds.label_names[j] for j in tag_cols],
             "other_labels": [n for n in ds.label_names if not n.startswith("tag:")],
             "tag_share_of_assignments": float(ds.labels[:, tag_cols].sum() / ds.labels.sum()),
             "items_with_description": int(sum(bool(m.description) for m in metas)), "variants": {}}
    for name in args.variants:
        make = VARIANTS[name]
        texts = [make(m.title, m.description) for m in metas]
        texts = [t if t.strip() else "untitled" for t in texts]
        out = features_dir() / f"{src.name}__{name}"
        retext_features(src, out, texts, teacher, name)
        names = [_names_tag(t, [ds.label_names[j][4:] for j in tag_cols if ds.labels[i, j]]) for i, t in enumerate(texts)]
        stats["variants"][name] = {"features": str(out), "empty_replaced_by_untitled": int(sum(not make(m.title, m.description).strip() for m in metas)),
                                   "share_naming_one_of_its_tag_labels": float(np.mean(names))}
    base = [t for t in ds.texts]
    stats["variants"]["title+tags"] = {"share_naming_one_of_its_tag_labels": float(np.mean(
        [_names_tag(t, [ds.label_names[j][4:] for j in tag_cols if ds.labels[i, j]]) for i, t in enumerate(base)]))}
    out_dir = repo_root() / "bench" / "results" / "less_leaky"
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / f"{args.name}.json", {**stats, "provenance": finish_provenance(prov)})
    print(json.dumps({k: v for k, v in stats.items() if k not in ("tag_labels", "other_labels")}, indent=1))


if __name__ == "__main__":
    main()
