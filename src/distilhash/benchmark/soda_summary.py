"""The SODA benchmark's summary of a suite's stored runs: per (method, bits) mAP over seeds, SODA's stages,
templated vs bare prompts. ``bench/soda.py`` runs the ``soda`` suite, then writes this summary beside the runs.

Usage::

    records = borrow(load_records(suite, results), load_suite("full"), results)   # optional: fill missing labels
    summary = summarise(records)       # {"table": {label: {bits or "float": {...}}}, "ablation_templated_vs_bare": ...}
    text = markdown({"suite": "soda", **summary}); write_plot(summary, path)

``summary["table"][label][bits][direction]["map_all"]`` holds mean, sample std, n and the per-seed
values; SODA rows add per-stage training seconds, kept epochs and epochs run; the ablation pairs the
templated and bare-prompt runs seed by seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.report import load_records
from distilhash.eval.spread import mean_std

__all__ = ["borrow", "summarise", "markdown", "write_plot"]

SODA_LABELS = ("soda", "soda-bare")
DIRECTIONS = ("i2t", "t2i")


def borrow(records: list[dict[str, Any]], other, results: Path) -> list[dict[str, Any]]:
    """Add ``other`` suite's ok runs for labels with no ok run in ``records`` (same split and teacher)."""
    ok = [r for r in records if r.get("status") == "ok"]
    have = {r["method"]["label"] for r in ok}
    keys = {(r["dataset"]["split_hash"], r["teacher"]) for r in ok}
    borrowed = [r for r in load_records(other, results)
                if r.get("status") == "ok" and r["method"]["label"] not in have
                and (not keys or (r["dataset"]["split_hash"], r["teacher"]) in keys)]
    filled = {r["method"]["label"] for r in borrowed}
    return [r for r in records if r.get("status") == "ok" or r["run_id"].split("__")[1] not in filled] + borrowed


def _stats(values: list[float]) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    return {**mean_std(arr), "values": [float(v) for v in arr]}


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate run records into the tables described in the module docstring."""
    ok = [r for r in records if r.get("status") == "ok"]
    failed = [{"run_id": r["run_id"], "error": r.get("error", "?")} for r in records if r.get("status") != "ok"]
    table: dict[str, dict[str, dict[str, Any]]] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in ok:
        bits = r["method"]["bits"]
        groups.setdefault((r["method"]["label"], "float" if bits is None else str(bits)), []).append(r)
    for (label, bits), runs in sorted(groups.items()):
        entry: dict[str, Any] = {"seeds": sorted(r["seed"] for r in runs)}
        for d in DIRECTIONS:
            entry[d] = {
                "map_all": _stats([r["metrics"][d]["map_all"] for r in runs]),
                "map_at_1000": _stats([r["metrics"][d]["map_at"].get("1000", np.nan) for r in runs]),
            }
        entry["fit_seconds"] = _stats([r["timing"]["fit_seconds"] for r in runs])
        if label in SODA_LABELS:
            fi = [r["epoch_policy"] for r in runs]
            entry["stage_seconds"] = {s: _stats([f["train_seconds"][s] for f in fi]) for s in ("stage1", "stage2")}
            entry["kept_epochs"] = {s: [f[s]["kept_epoch"] for f in fi] for s in ("stage1", "stage2")}
            entry["epochs_run"] = {s: [f[s]["epochs_run"] for f in fi] for s in ("stage1", "stage2")}
            entry["prompts"] = fi[0].get("prompts", {})
        entry["suite"] = sorted({r["suite"] for r in runs})
        table.setdefault(label, {})[bits] = entry

    ablation: dict[str, Any] = {}
    for bits, templ in table.get("soda", {}).items():
        bare = table.get("soda-bare", {}).get(bits)
        if bare is None:
            continue
        row = {}
        for d in DIRECTIONS:
            a = dict(zip(templ["seeds"], templ[d]["map_all"]["values"]))
            b = dict(zip(bare["seeds"], bare[d]["map_all"]["values"]))
            common = sorted(set(a) & set(b))
            diffs = [a[s] - b[s] for s in common]
            row[d] = {"templated": templ[d]["map_all"]["mean"], "bare": bare[d]["map_all"]["mean"],
                      "diff_per_seed": diffs, "diff_mean": float(np.mean(diffs)) if diffs else None,
                      "templated_wins": int(sum(x > 0 for x in diffs)), "n_seeds": len(diffs)}
        ablation[bits] = row

    first = ok[0] if ok else {}
    loads = [r["provenance"]["load_before"] for r in ok]
    return {
        "run_commits": sorted({r["provenance"].get("commit") or "?" for r in ok}),
        "dataset": first.get("dataset", {}),
        "teacher": first.get("teacher"),
        "epoch_policy": "each SODA stage keeps the epoch with the best mAP@all on split.val queries vs split.fit "
                        "(stage 1: image->image on image codes; stage 2: mean of i2t and t2i); others: see their run JSONs",
        "metric": "mAP@all on split.query vs split.retrieval, relevance y_q . y_x > 0, ties by database index",
        "load_before_runs": {"min": min(map(min, loads)) if loads else None, "max": max(map(max, loads)) if loads else None},
        "peak_rss_mib_max": max((r["memory"]["peak_rss_mib"] for r in ok), default=None),
        "n_runs_ok": len(ok),
        "failed_runs": failed,
        "table": table,
        "ablation_templated_vs_bare": ablation,
    }


def _fmt(s: dict[str, Any] | None) -> str:
    if not s:
        return "—"
    return f"{s['mean']:.4f} ± {s['std']:.4f}" if s["n"] > 1 else f"{s['mean']:.4f}"


def markdown(summary: dict[str, Any]) -> str:
    table = summary["table"]
    bits_cols = sorted({b for t in table.values() for b in t if b != "float"}, key=int)
    lines = [f"# SODA benchmark ({summary['dataset'].get('name')})", "",
             f"Runs at commits {', '.join(c[:10] for c in summary['run_commits'])}.",
             f"Dataset `{summary['dataset'].get('name')}`, split hash `{summary['dataset'].get('split_hash')}`, "
             f"split sizes {summary['dataset'].get('split_sizes')}; teacher `{summary['teacher']}`.",
             f"Metric: {summary['metric']}. Mean ± sample std over seeds.",
             f"Epoch policy: {summary['epoch_policy']}.",
             f"Machine shared with other jobs; load average at run starts {summary['load_before_runs']}.", ""]
    for d, title in (("i2t", "image → text"), ("t2i", "text → image")):
        lines += [f"## mAP@all, {title}", "", "| method | " + " | ".join(f"{b} bits" for b in bits_cols) + " |",
                  "|---|" + "---|" * len(bits_cols)]
        for label, per_bits in table.items():
            if "float" in per_bits:
                cells = [_fmt(per_bits["float"][d]["map_all"]) + " (float)"] * len(bits_cols)
            else:
                cells = [_fmt(per_bits.get(b, {}).get(d, {}).get("map_all")) for b in bits_cols]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Ablation: templated prompts ('a photo of …') vs bare label names", "",
              "| bits | direction | templated | bare | diff (templated − bare), per seed | templated better in |",
              "|---|---|---|---|---|---|"]
    for bits, row in sorted(summary["ablation_templated_vs_bare"].items(), key=lambda kv: int(kv[0])):
        for d in DIRECTIONS:
            r = row[d]
            diffs = ", ".join(f"{x:+.4f}" for x in r["diff_per_seed"])
            lines.append(f"| {bits} | {d} | {r['templated']:.4f} | {r['bare']:.4f} | {diffs} (mean {r['diff_mean']:+.4f}) | "
                         f"{r['templated_wins']}/{r['n_seeds']} seeds |")
    lines += ["", "## SODA training time per stage (seconds, 1 thread, shared machine) and kept epochs", "",
              "| variant | bits | stage 1 s | stage 2 s | stage 1 kept / run | stage 2 kept / run |", "|---|---|---|---|---|---|"]
    for label in SODA_LABELS:
        for b in bits_cols:
            e = table.get(label, {}).get(b)
            if not e:
                continue
            k1 = ", ".join(f"{k}/{n}" for k, n in zip(e["kept_epochs"]["stage1"], e["epochs_run"]["stage1"]))
            k2 = ", ".join(f"{k}/{n}" for k, n in zip(e["kept_epochs"]["stage2"], e["epochs_run"]["stage2"]))
            lines.append(f"| {label} | {b} | {_fmt(e['stage_seconds']['stage1'])} | {_fmt(e['stage_seconds']['stage2'])} | {k1} | {k2} |")
    lines += ["", "## Fit time per method (seconds, mean over seeds)", "", "| method | " + " | ".join(f"{b} bits" for b in bits_cols) + " |",
              "|---|" + "---|" * len(bits_cols)]
    for label, per_bits in table.items():
        cells = [f"{per_bits[b]['fit_seconds']['mean']:.1f}" if b in per_bits else
                 (f"{per_bits['float']['fit_seconds']['mean']:.1f}" if "float" in per_bits else "—") for b in bits_cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    sources = {label: sorted({s for e in per_bits.values() for s in e["suite"]}) for label, per_bits in table.items()}
    foreign = {k: v for k, v in sources.items() if v != [summary.get("suite", "soda")]}
    if foreign:
        lines += ["", "Runs taken from other suites' stored results (same split and teacher): "
                  + "; ".join(f"{k}: {', '.join(v)}" for k, v in foreign.items()) + "."]
    if summary["failed_runs"]:
        lines += ["", "## Failed / missing runs", ""] + [f"- `{f['run_id']}`: {f['error']}" for f in summary["failed_runs"]]
    return "\n".join(lines)


def write_plot(summary: dict[str, Any], path: Path) -> None:
    with figure(path, 1, 2, figsize=(11, 4.2), sharey=True, dpi=120) as (fig, axes):
        for ax, d, title in zip(axes, DIRECTIONS, ("image → text", "text → image")):
            for label, per_bits in summary["table"].items():
                if "float" in per_bits:
                    ax.axhline(per_bits["float"][d]["map_all"]["mean"], ls=":", color="gray", label=f"{label} (float)")
                    continue
                bits = sorted(per_bits, key=int)
                m = [per_bits[b][d]["map_all"]["mean"] for b in bits]
                s = [per_bits[b][d]["map_all"]["std"] or 0.0 for b in bits]
                style = "-o" if label.startswith("soda") else "--s"
                ax.errorbar([int(b) for b in bits], m, yerr=s, fmt=style, capsize=3, label=label, lw=2 if label == "soda" else 1.2)
            ax.set_xscale("log", base=2)
            ax.set_xticks([16, 32, 64, 128], labels=["16", "32", "64", "128"])
            ax.set_xlabel("bits")
            ax.set_title(f"{summary['dataset'].get('name')}, {title}")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("mAP@all (mean ± std over seeds)")
        axes[1].legend(fontsize=8, loc="lower right")
