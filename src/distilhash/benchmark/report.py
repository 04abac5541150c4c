"""Aggregate a suite's run records into ``bench/results/<suite>/report.md`` with plots.

Tables (mean ± sample std over seeds, number of seeds in brackets when it is not the suite's):

* mAP@all, methods x bits, image->text and text->image (the headline);
* details per (method, bits): mAP@N, precision@N, recall@N for every N of the suite;
* training budget per (method, bits): cap, epochs run, kept epoch, runs that stopped on their own;
* model selection: which epoch each run kept and why (``fit_info_`` of the method);
* cost: fit time, encode throughput, peak memory, bytes per database item (with the codebooks
  spread over the benchmark's database).

Plots (matplotlib, Agg) under ``bench/results/<suite>/plots/``, linked from the markdown:
mAP@all vs bits, PR curves and precision@N curves per bit budget (first seed of each method).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.open_vocab.report import open_vocab_lines
from distilhash.benchmark.report_budget import budget_cell, bytes_cell, chance_line, spread_scope
from distilhash.eval.spread import sample_std

__all__ = ["write_report", "report_path", "load_records", "aggregate"]

DIRS = {"i2t": "image → text", "t2i": "text → image"}


def load_records(suite, results_root: Path, only: list[str] | None = None) -> list[dict[str, Any]]:
    """The stored records of ``suite``'s runs (missing runs are skipped)."""
    from distilhash.benchmark.suite import result_path

    out = []
    for spec in suite.runs(only):
        path = result_path(results_root, spec)
        if path.is_file():
            out.append(json.loads(path.read_text()))
    return out


def _bits_key(rec: dict[str, Any]) -> int | None:
    return rec["spec"]["bits"]


def aggregate(records: list[dict[str, Any]], value) -> dict[tuple[str, str, int | None], list[float]]:
    """Group ``value(record)`` by (dataset, method label, bits) over the ok records."""
    groups: dict[tuple[str, str, int | None], list[float]] = defaultdict(list)
    for r in records:
        if r.get("status") != "ok":
            continue
        v = value(r)
        if v is not None:
            groups[r["spec"]["dataset"]["name"], r["spec"]["label"], _bits_key(r)].append(float(v))
    return groups


def _fmt(values: list[float] | None, n_expected: int | None = None, digits: int = 4) -> str:
    if not values:
        return "—"
    mean = float(np.mean(values))
    s = f"{mean:.{digits}f}"
    if len(values) > 1:
        s += f" ± {sample_std(values):.{digits}f}"
    if n_expected is not None and len(values) != n_expected:
        s += f" ({len(values)})"
    return s


def _cell(groups, ds: str, label: str, bits: int | None) -> list[float] | None:
    return groups.get((ds, label, bits)) or groups.get((ds, label, None))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _labels(suite, records) -> list[str]:
    seen = [m.key for m in suite.methods]
    extra = sorted({r["spec"]["label"] for r in records} - set(seen))
    return [l for l in seen if any(r["spec"]["label"] == l for r in records)] + extra


def _method_note(records, ds: str, label: str) -> str:
    for r in records:
        if r.get("status") == "ok" and r["spec"]["label"] == label and r["spec"]["dataset"]["name"] == ds and r["spec"]["bits"] is None:
            return f"{label} (float, {r['codes']['i2t']['database_bytes_per_item'] * 8} bits)"
    return label


def _chance(records: list[dict[str, Any]]) -> dict[str, float]:
    """Precision at the full depth (N = database size) = mean R / n_database: a random ranking's mAP."""
    out: dict[str, float] = {}
    for d in DIRS:
        for r in records:
            curve = r["metrics"][d].get("precision_curve")
            nd = r["metrics"][d].get("n_database")
            if curve and len(curve[0]) and nd and int(curve[0][-1]) == int(nd):
                out[d] = float(curve[1][-1])
                break
    return out


# ----------------------------------------------------------------------------------- plots
def _plot(records, ds: str, labels: list[str], bits_list: list[int], plot_dir: Path, stem: str) -> list[tuple[str, Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    ok = [r for r in records if r.get("status") == "ok" and r["spec"]["dataset"]["name"] == ds]
    colors = {l: plt.cm.tab10(i % 10) for i, l in enumerate(labels)}
    out: list[tuple[str, Path]] = []

    # mAP@all vs bits
    groups = {d: aggregate(ok, lambda r, d=d: r["metrics"][d]["map_all"]) for d in DIRS}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, d in zip(axes, DIRS):
        for label in labels:
            if (ds, label, None) in groups[d]:
                ax.axhline(np.mean(groups[d][ds, label, None]), ls="--", color=colors[label], label=f"{label} (float)")
                continue
            xs = [b for b in bits_list if (ds, label, b) in groups[d]]
            if xs:
                means = [np.mean(groups[d][ds, label, b]) for b in xs]
                stds = [sample_std(groups[d][ds, label, b]) or 0.0 for b in xs]
                ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, color=colors[label], label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(bits_list, [str(b) for b in bits_list])
        ax.set_xlabel("bits")
        ax.set_title(f"{ds}: mAP@all, {DIRS[d]}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mAP@all")
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    path = plot_dir / f"{stem}map_vs_bits.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    out.append(("mAP@all vs bits", path))

    def first_seed(label: str, bits: int) -> dict[str, Any] | None:
        cands = [r for r in ok if r["spec"]["label"] == label and r["spec"]["bits"] in (bits, None)]
        return min(cands, key=lambda r: r["spec"]["seed"]) if cands else None

    for bits in bits_list:
        for kind, title in (("pr", "precision-recall"), ("pn", "precision@N")):
            fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
            drawn = False
            for ax, d in zip(axes, DIRS):
                for label in labels:
                    r = first_seed(label, bits)
                    if r is None:
                        continue
                    m = r["metrics"][d]
                    curve = m.get("pr_curve") if kind == "pr" else m.get("precision_curve")
                    if not curve:
                        continue
                    style = "--" if r["spec"]["bits"] is None else "-"
                    if kind == "pr":
                        prec, rec = np.asarray(curve[0], float), np.asarray(curve[1], float)
                        ax.plot(rec, prec, style, color=colors[label], label=label, marker="." if len(rec) < 40 else None)
                        ax.set_xlabel("recall")
                    else:
                        n, prec = np.asarray(curve[0], float), np.asarray(curve[1], float)
                        ax.plot(n, prec, style, color=colors[label], label=label)
                        ax.set_xscale("log")
                        ax.set_xlabel("N (retrieved items)")
                    drawn = True
                ax.set_title(f"{DIRS[d]}, {bits} bits")
                ax.grid(alpha=0.3)
            axes[0].set_ylabel("precision")
            axes[1].legend(fontsize=8, loc="best")
            fig.suptitle(f"{ds}: {title} (seed of lowest number; binary codes: over Hamming radius)" if kind == "pr" else f"{ds}: {title}", fontsize=9)
            fig.tight_layout()
            path = plot_dir / f"{stem}{kind}_{bits}b.png"
            if drawn:
                fig.savefig(path, dpi=110)
                out.append((f"{title}, {bits} bits", path))
            plt.close(fig)
    return out


# ----------------------------------------------------------------------------------- markdown
def _code_vs_code_section(ds_ok, ds: str, labels: list[str], bits_list: list[int]) -> list[str]:
    """PQ methods: asymmetric (float query vs codes, the main tables) beside code-vs-code (both quantized)."""
    pq = [label for label in labels if any(r["spec"]["label"] == label and r.get("metrics_code_vs_code") for r in ds_ok)]
    if not pq:
        return []
    rows = []
    for label in pq:
        for d in DIRS:
            asym = aggregate(ds_ok, lambda r, d=d: r["metrics"][d]["map_all"])
            sym = aggregate(ds_ok, lambda r, d=d: (r.get("metrics_code_vs_code") or {}).get(d, {}).get("map_all"))
            rows.append([label, DIRS[d]] + [f"{_fmt(_cell(asym, ds, label, b))} / {_fmt(_cell(sym, ds, label, b))}"
                                            for b in bits_list])
    return ["### PQ codes: asymmetric vs code-vs-code", "",
            "Binary methods compare a query's code with the database codes. PQ methods (DCMQ, PQ) keep the query "
            "continuous and score it against the database codes by asymmetric distance (the main tables); here the "
            "query is quantized too (symmetric distance), which is what a code-only comparison with the binary "
            "methods looks like. Cells: mAP@all asymmetric / code-vs-code.", ""] + _table(
        ["method", "direction"] + [f"{b} bits" for b in bits_list], rows) + [""]


def report_path(results_root: str | Path, suite_name: str) -> Path:
    """``<results_root>/<suite>/report.md``: the report sits in the suite's folder, beside its runs."""
    return Path(results_root) / suite_name / "report.md"


def write_report(
    suite, results_root: str | Path, records: list[dict[str, Any]] | None = None, suite_seconds: float | None = None, plots: bool = True
) -> Path:
    """Write ``<results_root>/<suite>/report.md`` and (unless ``plots=False``) its plots; return the markdown path."""
    from distilhash.io_utils import atomic_write_bytes

    results_root = Path(results_root)
    if records is None:
        records = load_records(suite, results_root)
    md_path = report_path(results_root, suite.name)
    plot_root = md_path.parent / "plots"
    ok = [r for r in records if r.get("status") == "ok"]
    failed = [r for r in records if r.get("status") != "ok"]
    n_seeds = len(suite.seeds)
    top_n = sorted(suite.eval.top_n)
    lines: list[str] = [f"# Benchmark suite `{suite.name}`", ""]
    if suite.description:
        lines += [suite.description, ""]
    provs = [r["provenance"] for r in ok]
    commits = sorted({p.get("commit") or "unknown" for p in provs})
    dirty = any(p.get("dirty") for p in provs)
    loads = [p[k][0] for p in provs for k in ("load_before", "load_after") if p.get(k)]
    compute = sum(r["timing"]["total_seconds"] for r in ok)
    commands = sorted({p.get("command") or "" for p in provs})
    machine = provs[0]["machine"] if provs else {}
    lines += [
        f"- generated: {datetime.now(timezone.utc).isoformat(timespec='seconds')} from {len(ok)} runs"
        + (f", {len(failed)} failed" if failed else ""),
        f"- command: `{'`, `'.join(commands) or 'distilhash bench ' + suite.name}`",
        f"- git commit(s) of the runs: {', '.join(c[:12] for c in commits)}" + (" (with uncommitted changes under src/ or bench/)" if dirty else ""),
        f"- compute: {compute / 60:.1f} min summed over runs"
        + (f"; this invocation took {suite_seconds / 60:.1f} min" if suite_seconds is not None else "")
        + (f"; expected for the whole suite: about {suite.expected_minutes} min" if suite.expected_minutes else ""),
        f"- machine: {machine.get('cores', '?')} cores"
        + (f" ({machine['cpu_model']}, {machine['ram_gib']} GiB RAM)" if machine.get("cpu_model") and machine.get("ram_gib") else "")
        + f" **shared with other jobs**, {machine.get('threads', '?')} threads per run, "
        f"up to {max((p['machine'].get('concurrent_runs', 1) for p in provs), default=1)} runs at once; 1-min load average during runs "
        + (f"{min(loads):.2f}–{max(loads):.2f}" if loads else "n/a")
        + ". Timings are indicative only.",
        f"- cells: mean ± sample std over seeds {suite.seeds} (a number in brackets = seeds actually run); "
        "relevance = at least one shared label; ties broken by database index"
        + (" (tie-aware expectation)" if suite.eval.tie_aware else "") + ".",
        "- model selection uses `split.val` only (see the model-selection table); queries = `split.query`, database = `split.retrieval`.",
        "",
    ]
    datasets = list(dict.fromkeys(r["spec"]["dataset"]["name"] for r in records))
    for ds in datasets:
        ds_ok = [r for r in ok if r["spec"]["dataset"]["name"] == ds]
        if not ds_ok:
            lines += [f"## {ds}", "", "No successful run.", ""]
            continue
        d0 = ds_ok[0]["dataset"]
        labels = _labels(suite, [r for r in records if r["spec"]["dataset"]["name"] == ds])
        bits_list = sorted({r["spec"]["bits"] for r in ds_ok if r["spec"]["bits"] is not None}) or sorted(suite.bits)
        lines += [
            f"## {ds}",
            "",
            f"teacher `{ds_ok[0]['teacher']}` (width {ds_ok[0]['feature_width']}), dataset hash `{d0['dataset_hash']}`, "
            f"split hash `{d0['split_hash']}`; sizes {d0['split_sizes']}"
            + (f"; features `{d0['features_dir']}`" if d0.get("features_dir") else "") + ".",
            "",
        ]
        lines += [f"teacher fingerprint(s): "
                  + ", ".join(f"`{f}`" for f in sorted({str((r.get('teacher_identity') or {}).get('fingerprint'))
                                                        for r in ds_ok})) + ". " + spread_scope(ds_ok), ""]
        chance, exact = _chance(ds_ok), chance_line(ds_ok)
        if exact:
            lines += [exact, ""]
        elif chance:
            lines += [
                "Mean share of relevant database items per query (older records; a random ranking's mAP is a little "
                "higher, see `distilhash.eval.chance`): " + ", ".join(f"{DIRS[d]} {v:.4f}" for d, v in chance.items()) + ".",
                "",
            ]
        for d, title in DIRS.items():
            groups = aggregate(ds_ok, lambda r, d=d: r["metrics"][d]["map_all"])
            rows = []
            for label in labels:
                n_exp = len(next((m.seeds for m in suite.methods if m.key == label and m.seeds is not None), suite.seeds))
                rows.append([_method_note(ds_ok, ds, label)] + [_fmt(_cell(groups, ds, label, b), n_exp) for b in bits_list])
            lines += [f"### mAP@all, {title}", ""] + _table(["method"] + [f"{b} bits" for b in bits_list], rows) + [""]
        rows = []
        for label in labels:
            for b in [None] if any(r["spec"]["label"] == label and r["spec"]["bits"] is None for r in ds_ok) else bits_list:
                sel = [r for r in ds_ok if r["spec"]["label"] == label and r["spec"]["bits"] == b]
                if sel:
                    rows.append([label, "float" if b is None else str(b), str(len(sel)), budget_cell(sel)])
        lines += ["### Training budget per cell", "",
                  "Cap = most epochs allowed; ran / kept = epochs run and the epoch restored (ranges over seeds); "
                  "stopped early = runs that stopped on their own (patience on `split.val`) before the cap. A run that "
                  "hit the cap is not known to have converged.", ""]
        lines += _table(["method", "bits", "runs", "budget"], rows) + [""]
        lines += ["Float-teacher rows do not depend on the bit budget (the same value in every column).", ""]
        lines += _code_vs_code_section(ds_ok, ds, labels, bits_list)
        lines += open_vocab_lines(ds_ok, labels, plot_root if plots else None, md_path.parent)

        stem = "" if len(datasets) == 1 else f"{ds}_"
        plots = _plot(records, ds, labels, bits_list, plot_root, stem) if plots else []
        lines += ["### Plots", ""] if plots else []
        lines += [f"- [{title}]({p.relative_to(md_path.parent).as_posix()})" for title, p in plots]
        lines += [""]
        for title, p in plots:
            if title.startswith("mAP@all") or title.endswith(f"{bits_list[len(bits_list) // 2]} bits"):
                lines += [f"![{title}]({p.relative_to(md_path.parent).as_posix()})", ""]
        if not plots:
            lines += ["(plots not drawn)", ""]

        header = ["method", "bits"]
        for d in DIRS:
            for n in top_n:
                header += [f"{d} mAP@{n}", f"{d} P@{n}", f"{d} R@{n}"]
        rows = []
        for label in labels:
            for b in [None] if any(r["spec"]["label"] == label and r["spec"]["bits"] is None for r in ds_ok) else bits_list:
                row = [label, "float" if b is None else str(b)]
                for d in DIRS:
                    for n in top_n:
                        for key in ("map_at", "precision_at", "recall_at"):
                            g = aggregate(ds_ok, lambda r, d=d, key=key, n=n: r["metrics"][d][key].get(str(n)))
                            row.append(_fmt(g.get((ds, label, b)), digits=3))
                rows.append(row)
        lines += ["### Top-N figures (mean ± std over seeds)", ""] + _table(header, rows) + [""]

        rows = []
        for r in sorted(ds_ok, key=lambda r: (labels.index(r["spec"]["label"]) if r["spec"]["label"] in labels else 99, r["spec"]["bits"] or 0, r["spec"]["seed"])):
            e = r.get("epoch_policy", {})
            why = e.get("reason") or e.get("kept") or ""
            rows.append([r["spec"]["label"], str(r["spec"]["bits"] or "float"), str(r["spec"]["seed"]), str(e.get("epoch_policy", "?")),
                         str(e.get("kept_epoch", "—")), str(e.get("epochs_run", "—")), why.replace("|", "/")])
        lines += ["### Model selection (validation split only)", ""]
        lines += _table(["method", "bits", "seed", "policy", "kept epoch", "epochs run", "why"], rows) + [""]

        rows = []
        for label in labels:
            for b in [None] if any(r["spec"]["label"] == label and r["spec"]["bits"] is None for r in ds_ok) else bits_list:
                sel = [r for r in ds_ok if r["spec"]["label"] == label and r["spec"]["bits"] == b]
                if not sel:
                    continue
                rows.append([
                    label, "float" if b is None else str(b),
                    _fmt([r["timing"]["fit_seconds"] for r in sel], digits=2),
                    _fmt([r["timing"]["encode_items_per_second"] for r in sel], digits=0),
                    _fmt([r["timing"]["eval_seconds"] for r in sel], digits=2),
                    _fmt([r["memory"]["peak_rss_mib"] for r in sel], digits=0),
                    str(sel[0]["codes"]["i2t"]["database_bytes_per_item"]),
                    str(sel[0]["codes"]["i2t"].get("shared_bytes", "?")),
                    bytes_cell(sel[0]),
                ])
        lines += ["### Cost (shared machine; indicative)", ""]
        lines += _table(["method", "bits", "fit s", "encode items/s", "eval s (both directions)", "peak RSS MiB",
                         "database bytes/item", "shared bytes (codebooks)", "bytes/item at this database size"], rows)
        lines += ["", "Storage of N items = N x bytes/item + the shared bytes (PQ codebooks, stored once per index); the "
                  "last column spreads the shared bytes over this benchmark's database.", ""]
        scope = ds_ok[0]["memory"]["scope"]
        lines += ["", f"Peak RSS: {scope}. Encode throughput: teacher features -> codes, all four encodes (image/text x query/database).", ""]

    if failed:
        lines += ["## Failed runs", ""]
        lines += [f"- `{r['run_id']}`: {r.get('error', '?')}" for r in failed] + [""]
    lines += ["Per-run records: `<run_id>.json` next to this file (figures, curves, config, provenance).", ""]
    atomic_write_bytes(md_path, "\n".join(lines).encode())
    return md_path
