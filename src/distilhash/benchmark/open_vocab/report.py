"""The open-vocabulary section of a suite report: per method, each domain's P@k, R@k and mAP.

Cells are mean ± sample std over seeds (bracketed count when fewer than the suite asks); the
random ranking's figures (the chance level) close the table, and a ratio column gives the
method's mAP over the random ranking's. A bar plot of P@k per method and domain is drawn
beside the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["open_vocab_lines", "summary_rows"]


def _fmt(values: list[float], digits: int = 3) -> str:
    if not values:
        return "—"
    s = f"{np.mean(values):.{digits}f}"
    if len(values) > 1:
        s += f" ± {np.std(values, ddof=1):.{digits}f}"
    return s


def summary_rows(records: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    """``{"domains": [...], "rows": {label: {domain: {metric: [values]}}}, "random": {domain: {metric: value}}, "meta": {...}}``."""
    ok = [r for r in records if r.get("status") == "ok" and r.get("open_vocab")]
    domains = list(dict.fromkeys(d for r in ok for d in r["open_vocab"]["domains"]))
    rows: dict[str, dict[str, dict[str, list[float]]]] = {}
    random: dict[str, dict[str, float]] = {}
    meta: dict[str, Any] = {}
    for label in labels:
        for r in ok:
            if r["spec"]["label"] != label:
                continue
            bits = r["spec"]["bits"]
            key = label if bits is None else f"{label} ({bits} bits)"
            for d, v in r["open_vocab"]["domains"].items():
                cell = rows.setdefault(key, {}).setdefault(d, {"p_at": [], "r_at": [], "map_all": []})
                for m in cell:
                    cell[m].append(v["method"][m])
                random.setdefault(d, v["random"])
                meta.setdefault(d, {k: v["method"][k] for k in ("n_queries", "n_queries_without_relevant", "n_items",
                                                                 "mean_relevant_per_query")})
            meta.setdefault("options", r["open_vocab"]["options"])
            meta.setdefault("n_queries_listed", r["open_vocab"]["n_queries_listed"])
            meta.setdefault("teacher", r["open_vocab"]["teacher"])
    return {"domains": domains, "rows": rows, "random": random, "meta": meta}


def _plot(summary: dict[str, Any], path: Path, k: int) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    names = list(summary["rows"])
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(names)), 3.6))
    width = 0.8 / max(1, len(summary["domains"]))
    for j, d in enumerate(summary["domains"]):
        means = [np.mean(summary["rows"][n].get(d, {}).get("p_at", [np.nan])) for n in names]
        stds = [np.std(v, ddof=1) if len(v := summary["rows"][n].get(d, {}).get("p_at", [])) > 1 else 0 for n in names]
        ax.bar(np.arange(len(names)) + j * width, means, width, yerr=stds, label=d)
        ax.axhline(summary["random"][d]["p_at"], ls=":", lw=1, color=f"C{j}")
    ax.set_xticks(np.arange(len(names)) + width * (len(summary["domains"]) - 1) / 2, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"P@{k} (title match)")
    ax.set_title("open-vocabulary noun queries (dotted: random ranking)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def open_vocab_lines(records: list[dict[str, Any]], labels: list[str], plot_dir: Path | None = None,
                     md_dir: Path | None = None) -> list[str]:
    """Markdown lines of the section (empty when no record has an ``open_vocab`` block)."""
    s = summary_rows(records, labels)
    if not s["rows"]:
        return []
    k, n = s["meta"]["options"]["precision_at"], s["meta"]["options"]["recall_at"]
    header = ["method"]
    for d in s["domains"]:
        header += [f"{d} P@{k}", f"{d} R@{n}", f"{d} mAP", f"{d} mAP / random"]
    table = []
    for name, cells in s["rows"].items():
        row = [name]
        for d in s["domains"]:
            c = cells.get(d, {"p_at": [], "r_at": [], "map_all": []})
            ratio = np.mean(c["map_all"]) / s["random"][d]["map_all"] if c["map_all"] else float("nan")
            row += [_fmt(c["p_at"]), _fmt(c["r_at"]), _fmt(c["map_all"]), f"{ratio:.1f}x"]
        table.append(row)
    rnd = ["random ranking (mean of 3 seeds)"]
    for d in s["domains"]:
        rnd += [f"{s['random'][d]['p_at']:.4f}", f"{s['random'][d]['r_at']:.4f}", f"{s['random'][d]['map_all']:.4f}", "1x"]
    table.append(rnd)
    lines = ["### Open-vocabulary noun queries (relevance = the title names the noun)", "",
             f"{s['meta']['n_queries_listed']} committed noun queries (docs/open-vocabulary.md), text = the bare noun "
             f"through the teacher `{s['meta']['teacher']}` and the method; an item is relevant when its title (never its "
             "tags) contains the noun, its plural or a listed synonym. Queries without a relevant item in a domain are left "
             "out of that domain: " + "; ".join(
                 f"{d}: {s['meta'][d]['n_queries']} queries over {s['meta'][d]['n_items']} items "
                 f"({s['meta'][d]['n_queries_without_relevant']} without a relevant item), "
                 f"{s['meta'][d]['mean_relevant_per_query']:.2f} relevant items per query" for d in s["domains"])
             + ". Ties in the scores are counted in expectation over random order. Cells: mean ± sample std over seeds.", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in table]
    lines.append("")
    if plot_dir is not None:
        p = _plot(s, Path(plot_dir) / "open_vocab_p_at.png", k)
        if p is not None:
            rel = p.relative_to(md_dir).as_posix() if md_dir is not None else p.as_posix()
            lines += [f"![open-vocabulary P@{k}]({rel})", ""]
    return lines
