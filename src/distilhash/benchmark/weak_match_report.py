"""The weak-match note's benchmark (``bench/weak_match.py``): the combined rule's fit and the report.

Usage::

    w, b = logistic(x, y)                         # x [n, d] signals, y [n] 0/1: weights [d], bias
    text = markdown(result, seeds=[1, 2, 3]); plot(signals, thresholds, path)

``result["rules"][rule]`` holds the threshold, the false-alarm rates on split.val and split.query,
the flagged shares of each nonsense kind (mean and sample std over the seeds) and the hand-typed
queries' verdicts; ``signals[group][rule]`` the scores per query group (``query``,
``scrambled/<seed>``, ``random/<seed>``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure

__all__ = ["logistic", "markdown", "plot"]


def logistic(x: np.ndarray, y: np.ndarray, steps: int = 50) -> tuple[np.ndarray, float]:
    """Weights and bias of a logistic regression (Newton steps, tiny L2)."""
    a = np.c_[x, np.ones(len(x))]
    w = np.zeros(a.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30, 30)))
        w -= np.linalg.solve((a * (p * (1 - p))[:, None]).T @ a + 1e-3 * np.eye(len(w)), a.T @ (p - y) + 1e-3 * w)
    return w[:-1], float(w[-1])


def markdown(result: dict, seeds: list[int]) -> str:
    """Per rule: threshold, false alarms (val, query), nonsense flagged (mean ± sample std over seeds); goals; hand scores."""
    n = result["n"]
    lines = ["# Weak-match note: false alarms on real captions, nonsense flagged", "",
             f"Real captions (display captions, distinct): split.val {n['val']} (calibration), split.query {n['query']} (held out). "
             f"Nonsense per seed ({', '.join(map(str, seeds))}; calibration used seed 0): {n.get(f'scrambled/{seeds[0]}')} "
             f"scrambled query captions, {n.get(f'random/{seeds[0]}')} random letter strings. Thresholds chosen on split.val only "
             "(4 % quantile) except the old fixed contrast 2.0. Flagged shares: mean ± sample std over the seeds.", "",
             "| rule | threshold | false alarms val | **false alarms query** | scrambled flagged | random flagged | 'a butterfly' weak | 'qwxz blorf' weak |",
             "|---|---:|---:|---:|---:|---:|:-:|:-:|"]
    for rule, r in result["rules"].items():
        def pm(kind: str) -> str:
            std = r[f"flagged_{kind}_std"]
            return f"{r[f'flagged_{kind}_mean']:.1%}" + (f" ± {std:.1%}" if std is not None else "")
        lines.append(f"| {rule} | {r['threshold']:.3f} | {r['false_alarm_val']:.1%} | {r['false_alarm_query']:.1%} | {pm('scrambled')} | "
                     f"{pm('random')} | {'yes' if r['hand_weak']['a butterfly'] else 'no'} | {'yes' if r['hand_weak']['qwxz blorf'] else 'no'} |")
    g = result["goals"]
    lines += ["", f"Goals (service rule `caption-letters`): false alarms on split.query <= 5 %: **{'met' if g['false_alarm_query_le_5pct'] else 'not met'}**; "
                  f">= 80 % of nonsense flagged (both kinds): **{'met' if g['nonsense_flagged_ge_80pct'] else 'not met'}**.", "",
              "Scores of hand-typed queries (higher = more like a caption; contrast in standard deviations):", "",
              "| query | caption-letters | nearest-caption | both | contrast |", "|---|---:|---:|---:|---:|"]
    for q, s in result["hand_scores"].items():
        lines.append(f"| {q} | {s['caption-letters']:.2f} | {s['nearest-caption']:.3f} | {s['both']:.2f} | {s['contrast']:.2f} |")
    return "\n".join(lines)


def plot(signals: dict, rules: dict, path: Path) -> None:
    """Score histograms of real, scrambled and random queries for the service's rule and the old contrast, thresholds drawn."""
    with figure(path, 1, 2, figsize=(11, 3.8)) as (fig, axes):
        for ax, key in zip(axes, ("caption-letters", "contrast")):
            groups = {"real: split.query": signals["query"][key],
                      "scrambled (all seeds)": np.concatenate([v[key] for k, v in signals.items() if k.startswith("scrambled/")]),
                      "random (all seeds)": np.concatenate([v[key] for k, v in signals.items() if k.startswith("random/")])}
            lo = min(float(v.min()) for v in groups.values())
            hi = max(float(v.max()) for v in groups.values())
            bins = np.linspace(lo, hi, 50)
            for label, v in groups.items():
                ax.hist(v, bins=bins, alpha=0.5, density=True, label=label)
            ax.axvline(rules[key], color="k", ls="--", lw=1, label=f"threshold (val 4 %) {rules[key]:.2f}")
            if key == "contrast":
                ax.axvline(2.0, color="r", ls=":", lw=1, label="old fixed 2.0")
            ax.set_title(f"{key}: below the threshold = weak match")
            ax.set_xlabel("score")
            ax.legend(fontsize=7)
