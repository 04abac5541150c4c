"""Paired over seeds: two model-selection rules of the same DCMQ runs, pooled over several result files.

Usage (each NAME a result of ``bench/open_vocab_dcmq_targets.py`` whose first row is the baseline and whose second
row is the candidate, trained with the same seeds and options but another ``val_criterion``)::

    DISTILHASH_HOME=... python bench/open_vocab_dcmq_paired.py --name NAME --result short224-select64 \\
        --result short224-select64-fit0 ...

Two runs of one seed and one feature cache follow the same training path (validation draws no random numbers); only
the epoch kept (and where patience stops) differs. Per pair: the candidate minus the baseline in held-out drawings and
emoji P@10 as a share of the float teacher's, emoji mAP share, label mAP (split.query, title + tags) and the label-free
val score (``val_teacher_top10``); pooled: mean, sample std, standard error and wins. Also the Spearman correlation,
over every run of both rows, of each validation score (val teacher top-10; val label mAP) with the held-out shares:
how well each would predict the benchmark. Reads only committed results; writes
``bench/results/open_vocab_dcmq_paired/NAME.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "open_vocab_dcmq_targets"
#: what each pair compares: name -> value of one run
MEASURES = {
    "drawings P@10 share": lambda r: r["openclipart"]["p_at"] / r["openclipart"]["teacher_p_at"],
    "emoji P@10 share": lambda r: r["emoji"]["p_at"] / r["emoji"]["teacher_p_at"],
    "emoji mAP share": lambda r: r["emoji"]["map_all"] / r["emoji"]["teacher_map_all"],
    "label mAP i2t": lambda r: r["label_map"]["query"]["i2t"],
    "label mAP t2i": lambda r: r["label_map"]["query"]["t2i"],
    "val teacher top-10": lambda r: r["val_teacher_top10"]["mean"],
}
VAL_SCORES = {"val teacher top-10": MEASURES["val teacher top-10"],
              "val label mAP": lambda r: 0.5 * (r["label_map"]["val"]["i2t"] + r["label_map"]["val"]["t2i"])}
HELD_OUT = ("drawings P@10 share", "emoji P@10 share")


def pairs_of(name: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The two row labels of result ``name`` and one pair per seed ``{"set", "seed", "baseline", "candidate"}``."""
    rows = json.loads((RESULTS / f"{name}.json").read_text())["rows"]
    labels = list(rows)[:2]
    if len(labels) < 2:
        raise SystemExit(f"{name}: needs two rows (baseline, candidate), found {len(labels)}")
    base = {r["seed"]: r for r in rows[labels[0]]["runs"]}
    cand = {r["seed"]: r for r in rows[labels[1]]["runs"]}
    return labels, [{"set": name, "seed": s, "baseline": base[s], "candidate": cand[s]} for s in sorted(base) if s in cand]


def pooled(pairs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per measure: mean, sample std, standard error and wins of candidate - baseline over the pairs."""
    out = {}
    for m, f in MEASURES.items():
        d = np.array([f(p["candidate"]) - f(p["baseline"]) for p in pairs])
        sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
        out[m] = {"mean": float(d.mean()), "std": sd, "se": sd / np.sqrt(len(d)), "wins": int((d > 1e-9).sum()),
                  "ties": int((abs(d) <= 1e-9).sum()), "n": len(d)}
    return out


def predictiveness(pairs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Spearman rho (and p) of each validation score with each held-out share over every run of both rows."""
    from scipy.stats import spearmanr

    runs = [p[k] for p in pairs for k in ("baseline", "candidate")]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for v, fv in VAL_SCORES.items():
        out[v] = {}
        for h in HELD_OUT:
            rho, pval = spearmanr([fv(r) for r in runs], [MEASURES[h](r) for r in runs])
            out[v][h] = {"rho": float(rho), "p": float(pval), "n": len(runs)}
    return out


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# Two selection rules of the same DCMQ runs, paired by seed ({r['n_pairs']} pairs)", "",
             "Candidate minus baseline, per seed and feature cache, from these results (baseline row vs candidate row):", "",
             *[f"* `{n}`: {b} vs {c}" for n, b, c in zip(r["results"], r["baselines"], r["candidates"])], "",
             "| result (feature cache) | seed | kept epoch base / cand | " + " | ".join(f"d {m}" for m in MEASURES) + " |",
             "|---" * (3 + len(MEASURES)) + "|"]
    for p in r["pairs"]:
        lines.append(f"| {p['set']} | {p['seed']} | {p['baseline']['kept_epoch']} / {p['candidate']['kept_epoch']} | "
                     + " | ".join(f"{f(p['candidate']) - f(p['baseline']):+.3f}" for f in MEASURES.values()) + " |")
    lines += ["", "Pooled (mean +- sample std, standard error, candidate wins / ties of n):", "",
              "| measure | mean difference | std | se | wins | ties | n |", "|---|---|---|---|---|---|---|"]
    for m, s in r["pooled"].items():
        lines.append(f"| {m} | {s['mean']:+.3f} | {s['std']:.3f} | {s['se']:.3f} | {s['wins']} | {s['ties']} | {s['n']} |")
    lines += ["", "How well each validation score ranks the held-out shares (Spearman over every run of both rows; the "
              "feature caches differ, so this mixes within- and between-cache spread):", "",
              "| validation score | " + " | ".join(HELD_OUT) + " |", "|---" * (1 + len(HELD_OUT)) + "|"]
    for v, row in r["predictiveness"].items():
        lines.append(f"| {v} | " + " | ".join(f"rho {row[h]['rho']:+.2f} (p {row[h]['p']:.2f}, n {row[h]['n']})"
                                             for h in HELD_OUT) + " |")
    return "\n".join(lines) + "\n"


def _plot(r: dict[str, Any], path: Path) -> None:
    from distilhash.benchmark.figures import figure

    sets = sorted({p["set"] for p in r["pairs"]})
    with figure(path, figsize=(7, 3.6)) as (fig, ax):
        for i, h in enumerate(HELD_OUT):
            f = MEASURES[h]
            xs = [sets.index(p["set"]) + 0.15 * (2 * i - 1) for p in r["pairs"]]
            ax.scatter(xs, [f(p["candidate"]) - f(p["baseline"]) for p in r["pairs"]], s=18, label=f"d {h}")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(range(len(sets)), sets, rotation=20, fontsize=7, ha="right")
        ax.set_ylabel("candidate - baseline (x teacher)", fontsize=8)
        ax.legend(fontsize=7)
        ax.set_title("Selection rule: held-out P@10 share, candidate minus baseline, per seed", fontsize=9)


def main(argv: list[str] | None = None) -> None:
    from distilhash.benchmark.provenance import collect_provenance
    from distilhash.benchmark.results import write_results
    from distilhash.data.store import open_prepared

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--result", action="append", required=True, help="a result NAME of open_vocab_dcmq_targets")
    p.add_argument("--name", default="paired")
    a = p.parse_args(argv)
    labels, pairs = zip(*(pairs_of(n) for n in a.result))
    every = [q for ps in pairs for q in ps]
    _, split = open_prepared("openclipart")
    prov = collect_provenance("open_vocab_dcmq_paired", a.name, split=split, dataset="openclipart",
                              seeds=sorted({q["seed"] for q in every}),
                              model_selection="none here: reads runs selected by their own val_criterion on split.val "
                                              "(see the open_vocab_dcmq_targets results it reads)")
    result = {"provenance": prov, "results": list(a.result), "baselines": [x[0] for x in labels],
              "candidates": [x[1] for x in labels], "n_pairs": len(every), "pairs": every, "pooled": pooled(every),
              "predictiveness": predictiveness(every)}
    write_results("open_vocab_dcmq_paired", a.name, result, markdown(result), plot=lambda path: _plot(result, path))
    print(json.dumps({m: round(s["mean"], 3) for m, s in result["pooled"].items()}))


if __name__ == "__main__":
    main()
