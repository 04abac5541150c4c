"""The DCMQ benchmark's report (``bench/dcmq.py``): goals, tables and plot of the cells over seeds.

Usage::

    cells = seed_cells(runs, ("map_all", "map_at_1000"), one_run_std=0.0, extra=cell_extra)
    g = goals(cells, [32, 64, 128]); text = markdown(cells, g, meta, prov, [32, 64, 128]); plot(path, cells, [32, 64, 128])

``cells[label][bits]`` as :func:`distilhash.benchmark.grid.seed_cells` gives them, with
``train_seconds`` (mean, max) and, for DCMQ runs, ``usage`` (codeword perplexity, dead codewords)
from :func:`cell_extra`. Labels: ``dcmq``, ``float-student``, the baselines and the ablations
(``dcmq/<option>=<value>``, all at 64 bits).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.grid import DIRECTIONS, bits_errorbars, bits_table

__all__ = ["BASELINES", "ABLATIONS", "cell_extra", "goals", "markdown", "plot"]

#: the methods DCMQ is compared with (float-teacher: one cell per seed, at any bit length)
BASELINES = ["float-teacher", "lsh", "itq", "pq", "dcmh"]
ORDER = ["dcmq", "float-student", *BASELINES]
#: the 64-bit ablations: label -> DCMQ options
ABLATIONS = {
    "dcmq": {},
    "dcmq/target=cosine": {"target": "cosine"},
    "dcmq/target=labels": {"target": "labels"},
    "dcmq/pq=soft": {"pq_mode": "soft"},
    "dcmq/pq=hard-st": {"pq_mode": "hard-st"},
}


def cell_extra(runs: list[dict]) -> dict:
    """Training seconds (mean / max) and, for DCMQ, codeword usage (mean perplexity, dead codewords) of a cell."""
    out = {"train_seconds": {"mean": float(np.mean([r["train_seconds"] for r in runs])),
                             "max": float(np.max([r["train_seconds"] for r in runs]))}}
    usage = [r["codeword_usage"] for r in runs if r.get("codeword_usage")]
    if usage:
        out["usage"] = {m: {"mean_perplexity": float(np.mean([u[m]["mean_perplexity"] for u in usage])),
                            "dead_codewords": float(np.mean([u[m]["total_dead"] for u in usage]))} for m in ("image", "text")}
    return out


def goals(summary: dict, bits_list: list[int]) -> dict:
    """DCMQ 64 / float student >= 0.97 in both directions, and DCMQ above every baseline at each bit length."""
    res: dict = {}
    fs_cell = next(iter(summary.get("float-student", {}).values()), None)
    if "dcmq" in summary and fs_cell and "64" in summary["dcmq"]:
        ratios = {d: summary["dcmq"]["64"]["map_all"][d]["mean"] / fs_cell["map_all"][d]["mean"] for d in ("i2t", "t2i")}
        res["dcmq64_over_float_student"] = {**ratios, "goal": 0.97, "met": all(v >= 0.97 for v in ratios.values())}
    beats = {}
    for b in bits_list:
        if "dcmq" not in summary or str(b) not in summary["dcmq"]:
            continue
        for base in BASELINES:
            cells = summary.get(base, {})
            cell = cells.get(str(b)) or (next(iter(cells.values())) if base == "float-teacher" and cells else None)
            if cell is None:
                continue
            for d in ("i2t", "t2i"):
                beats[f"{b}/{base}/{d}"] = summary["dcmq"][str(b)]["map_all"][d]["mean"] > cell["map_all"][d]["mean"]
    res["dcmq_beats_baselines"] = {"all": all(beats.values()) if beats else None, "cases": beats}
    return res


def markdown(summary: dict, goals_: dict, meta: dict, prov: dict, bits_list: list[int]) -> str:
    """mAP by method and bits, the goals, the ablations with codeword usage, training time, DCMQ's encoding speed."""
    lines = [f"# DCMQ benchmark ({meta['dataset']}, teacher features {Path(meta['features']).name})", "",
             f"Split {prov['split_hash']}, seeds {prov['seeds']}, threads {meta['threads']}; "
             "machine shared with other jobs (load averages per run and in the provenance).",
             "mAP@all on split.query vs split.retrieval, mean ± std over seeds; epochs selected on split.val only."
             + (f" DCMQ / float-student overrides: {' '.join(meta['dcmq_overrides'])}." if meta.get("dcmq_overrides") else ""), "",
             "## mAP@all by method and bits (i2t / t2i)", "",
             *bits_table(summary, ORDER, bits_list)]
    lines += ["", "## Goals", "", "```", json.dumps(goals_, indent=1), "```", "",
              "## Ablations (64 bits): mAP@all (i2t / t2i) and codeword usage on split.fit database codes", "",
              "| variant | mAP i2t | mAP t2i | perplexity img / txt (of 256) | dead codewords img / txt (of 256·M) | train s |",
              "|---|---|---|---|---|---|"]
    for label in ABLATIONS:
        cell = summary.get(label, {}).get("64")
        if cell is None:
            continue
        u = cell.get("usage", {})
        perp = f"{u['image']['mean_perplexity']:.1f} / {u['text']['mean_perplexity']:.1f}" if u else ""
        dead = f"{u['image']['dead_codewords']:.0f} / {u['text']['dead_codewords']:.0f}" if u else ""
        lines.append(f"| {label} | {cell['map_all']['i2t']['mean']:.4f}±{cell['map_all']['i2t']['std']:.4f} | "
                     f"{cell['map_all']['t2i']['mean']:.4f}±{cell['map_all']['t2i']['std']:.4f} | {perp} | {dead} | "
                     f"{cell['train_seconds']['mean']:.1f} |")
    lines += ["", "## Training time (seconds from cached features, mean / max over seeds)", "",
              "| method | " + " | ".join(f"{b} bits" for b in bits_list) + " |", "|---|" + "---|" * len(bits_list)]
    for label in ORDER:
        if label in summary:
            lines.append("| " + label + " | " + " | ".join(
                f"{summary[label][str(b)]['train_seconds']['mean']:.1f} / {summary[label][str(b)]['train_seconds']['max']:.1f}"
                if str(b) in summary[label] else "" for b in bits_list) + " |")
    if meta.get("encoding"):
        lines += ["", "## Encoding speed (DCMQ, from cached features, threads as above)", "", "```",
                  json.dumps(meta["encoding"], indent=1), "```"]
    return "\n".join(lines)


def plot(path: Path, summary: dict, bits_list: list[int]) -> None:
    """mAP@all against bits per method (both directions) and the 64-bit ablations as bars."""
    with figure(path, 1, 3, figsize=(16, 4.5)) as (fig, axes):
        for ax, d in zip(axes[:2], DIRECTIONS):
            bits_errorbars(ax, summary, ["dcmq", *BASELINES[1:]], bits_list, d,
                           flat=(("float-student", "--"), ("float-teacher", ":")))
            ax.set_title(f"{d} (query vs retrieval)")
            ax.legend(fontsize=7)
        ax = axes[2]
        labels = [lab for lab in ABLATIONS if "64" in summary.get(lab, {})]
        x = np.arange(len(labels))
        for off, d in ((-0.2, "i2t"), (0.2, "t2i")):
            ax.bar(x + off, [summary[lab]["64"]["map_all"][d]["mean"] for lab in labels], 0.4,
                   yerr=[summary[lab]["64"]["map_all"][d]["std"] for lab in labels], label=d, capsize=2)
        ax.set_xticks(x, [lab.replace("dcmq/", "") for lab in labels], rotation=20, fontsize=8)
        ax.set_title("DCMQ ablations at 64 bits")
        ax.set_ylabel("mAP@all")
        lo = min([summary[lab]["64"]["map_all"][d]["mean"] for lab in labels for d in ("i2t", "t2i")], default=0)
        ax.set_ylim(max(0, lo - 0.1), None)
        ax.legend(fontsize=7)
