"""How much does the order of tied Hamming distances move mAP? (EmojiScenes labels, LSH codes.)

Published hashing code ranks with unstable sorts (``np.argsort`` quicksort, ``torch.sort``), so
tied items come out in an arbitrary order. This benchmark measures the spread that causes, and
the gap between truncated mAP@N and the "first-k relevant" variant some code calls mAP@k.

Data: the real EmojiScenes labels and split (``open_prepared("emoji-scenes")``: 2,000 queries
vs 18,015 items); codes: sign random projections (LSH) of synthetic label-correlated features
(sum of the item's label prototypes + Gaussian noise, 256-d; image and text views with
independent noise). No teacher is involved: the point is the metric, not the method.

For each code length: mAP@all and mAP@1000 with ties broken by index (distilhash default), the
exact tie-aware expectation, the min/max over ``--perms`` random database permutations (each
one a different arbitrary tie order, as an unstable sort would produce), the values when the
database file is sorted by number of labels (index tie-breaking then follows the file order),
plus the ``first_k_relevant`` and ``min_denominator`` values at 1000.

Writes ``bench/results/eval_ties/<out-name>.{json,md,png}`` (default ``eval_ties``). Usage::

    DISTILHASH_HOME=data .venv/bin/python bench/eval_ties.py [--bits 16 32 64] [--perms 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "eval_ties"


def _codes(labels: np.ndarray, n_bits: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    width = 256
    protos = rng.normal(size=(labels.shape[1], width)).astype(np.float32)
    base = labels.astype(np.float32) @ protos
    image = base + 1.5 * rng.normal(size=base.shape).astype(np.float32)
    text = base + 1.5 * rng.normal(size=base.shape).astype(np.float32)
    proj = rng.normal(size=(width, n_bits)).astype(np.float32)
    return image @ proj, text @ proj


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bits", type=int, nargs="*", default=[16, 32, 64])
    ap.add_argument("--perms", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-name", default=BENCH, help="result name under bench/results/eval_ties/")
    args = ap.parse_args(argv)

    from distilhash.codes import Encoded, pack_bits
    from distilhash.data.store import open_prepared
    from distilhash.eval.metrics import evaluate

    t_start = time.perf_counter()
    ds, split = open_prepared("emoji-scenes")
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], model_selection="none: LSH codes, nothing is fitted",
                              dataset=ds.name, split=split, root=ROOT)
    labels = np.asarray(ds.labels)
    q, db = split.query, split.retrieval
    rows = []
    for n_bits in args.bits:
        image, text = _codes(labels, n_bits, args.seed)
        qc = Encoded("binary", pack_bits(image[q]), n_bits)
        dbc_data = pack_bits(text[db])
        ql, dl = labels[q], labels[db]
        top = (1000,)
        base = evaluate(qc, Encoded("binary", dbc_data, n_bits), ql, dl, top_n=top, curves=False)
        tie = evaluate(qc, Encoded("binary", dbc_data, n_bits), ql, dl, top_n=top, tie_aware=True, curves=False)
        perm_all, perm_at = [], []
        rng = np.random.default_rng(args.seed + 1)
        for _ in range(args.perms):
            p = rng.permutation(len(db))
            r = evaluate(qc, Encoded("binary", dbc_data[p], n_bits), ql, dl[p], top_n=top, curves=False)
            perm_all.append(r.map_all)
            perm_at.append(r.map_at[1000])
        # database files are often sorted (by class, by source): index tie-breaking then inherits
        # the file order. Items with many labels are relevant to many queries.
        by_count = np.argsort(-dl.sum(axis=1), kind="stable")
        sorted_orders = {}
        for name, p in (("many_labels_first", by_count), ("few_labels_first", by_count[::-1])):
            r = evaluate(qc, Encoded("binary", dbc_data[p], n_bits), ql, dl[p], top_n=top, curves=False)
            sorted_orders[name] = (r.map_all, r.map_at[1000])
        rows.append({
            "bits": n_bits,
            "map_all_index": base.map_all,
            "map_all_tie_aware": tie.map_all,
            "map_all_perm_min": min(perm_all),
            "map_all_perm_max": max(perm_all),
            "map_1000_index": base.map_at[1000],
            "map_1000_tie_aware": tie.map_at[1000],
            "map_1000_perm_min": min(perm_at),
            "map_1000_perm_max": max(perm_at),
            "map_all_many_labels_first": sorted_orders["many_labels_first"][0],
            "map_all_few_labels_first": sorted_orders["few_labels_first"][0],
            "map_1000_many_labels_first": sorted_orders["many_labels_first"][1],
            "map_1000_few_labels_first": sorted_orders["few_labels_first"][1],
            "first_k_relevant_1000": base.map_variants["first_k_relevant"][1000],
            "min_denominator_1000": base.map_variants["min_denominator"][1000],
            "n_without_relevant": base.n_without_relevant,
        })
        print(json.dumps(rows[-1]), flush=True)
    result = {
        "provenance": prov,
        "split_sizes": split.sizes(),
        "teacher": None,
        "codes": "LSH (sign random projection) of synthetic label-prototype features, 256-d, noise 1.5",
        "seed": args.seed,
        "perms": args.perms,
        "wall_seconds": round(time.perf_counter() - t_start, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "note": "shared 2-core machine",
        "rows": rows,
    }
    lines = [
        "# Tie order and mAP (EmojiScenes labels, LSH codes, image->text)",
        "",
        f"split {split.hash}, {split.sizes()['query']} queries x {split.sizes()['retrieval']} items; "
        f"{args.perms} random database permutations; shared machine.",
        "",
        "| bits | mAP@all index | mAP@all tie-aware | mAP@all perm min..max | mAP@all sorted files (few..many labels first) "
        "| mAP@1000 index | mAP@1000 tie-aware | mAP@1000 perm min..max | mAP@1000 sorted files "
        "| first_k_relevant@1000 | min_denominator@1000 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['bits']} | {r['map_all_index']:.4f} | {r['map_all_tie_aware']:.4f} | "
            f"{r['map_all_perm_min']:.4f}..{r['map_all_perm_max']:.4f} | "
            f"{r['map_all_few_labels_first']:.4f}..{r['map_all_many_labels_first']:.4f} | {r['map_1000_index']:.4f} | "
            f"{r['map_1000_tie_aware']:.4f} | {r['map_1000_perm_min']:.4f}..{r['map_1000_perm_max']:.4f} | "
            f"{r['map_1000_few_labels_first']:.4f}..{r['map_1000_many_labels_first']:.4f} | "
            f"{r['first_k_relevant_1000']:.4f} | {r['min_denominator_1000']:.4f} |"
        )
    paths = write_results(BENCH, args.out_name, result, "\n".join(lines), plot=lambda path: _plot(rows, path), root=ROOT)
    print(paths["md"].read_text())


def _plot(rows: list[dict], path: Path) -> None:
    with figure(path, 1, 2, figsize=(10, 4), dpi=100, tight=False) as (fig, axes):
        bits = [r["bits"] for r in rows]
        for ax, key, title in ((axes[0], "map_all", "mAP@all"), (axes[1], "map_1000", "mAP@1000")):
            ax.plot(bits, [r[f"{key}_index"] for r in rows], "o-", label="ties by index (default)")
            ax.plot(bits, [r[f"{key}_tie_aware"] for r in rows], "s--", label="tie-aware (expected)")
            lo = [r[f"{key}_perm_min"] for r in rows]
            hi = [r[f"{key}_perm_max"] for r in rows]
            ax.fill_between(bits, lo, hi, alpha=0.3, label="range over random tie orders")
            ax.plot(bits, [r[f"{key}_many_labels_first"] for r in rows], "^:", label="file sorted: many labels first")
            ax.plot(bits, [r[f"{key}_few_labels_first"] for r in rows], "v:", label="file sorted: few labels first")
            if key == "map_1000":
                ax.plot(bits, [r["first_k_relevant_1000"] for r in rows], "x:", label="first_k_relevant@1000 (not mAP@1000)")
            ax.set_xscale("log", base=2)
            ax.set_xticks(bits, [str(b) for b in bits])
            ax.set_xlabel("bits")
            ax.set_title(title)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)


if __name__ == "__main__":
    main()
