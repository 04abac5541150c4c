"""Report lines that say what a figure rests on: budgets and stop flags, chance, what the spread covers.

* :func:`budget_cell` — the training budget of a (method, bits) cell over its seeds, from the
  ``budget`` of each run record (:func:`distilhash.epochs.budget_info`): cap, epochs run,
  kept epoch and how many runs stopped on their own;
* :func:`chance_line` — chance as the expected mAP@all of a random ranking (exact), with the mean
  share of relevant items beside it for older records that only have that;
* :func:`spread_scope` — what the ± covers: method seeds, and whether teacher fits (fingerprints)
  and splits (hashes) varied too.
"""

from __future__ import annotations

from typing import Any

__all__ = ["budget_cell", "chance_line", "spread_scope", "bytes_cell"]


def _span(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}–{hi}"


def _one_budget(budgets: list[dict[str, Any]]) -> str:
    if any(b.get("unit") == "none" for b in budgets):
        return "not trained by epochs"
    flags = [b.get("stopped_early") for b in budgets]
    if all(f is None for f in flags):
        stop = "no early stopping"
    else:
        stop = f"stopped early {sum(bool(f) for f in flags)}/{len(flags)}"
    warm = [b.get("warmup_epochs", 0) for b in budgets]
    text = (f"cap {_span([b['cap'] for b in budgets])}, ran {_span([b['epochs_run'] for b in budgets])}, "
            f"kept {_span([b['kept_epoch'] for b in budgets])}")
    if any(warm):
        text += f" (+{_span(warm)} warm-up)"
    return f"{text}; {stop}"


def budget_cell(records: list[dict[str, Any]]) -> str:
    """``"cap 200, ran 31–47, kept 23–39; stopped early 3/3"`` for the runs of one cell (stages listed)."""
    budgets = [r.get("budget") for r in records]
    if not budgets or any(b is None for b in budgets):
        return "not recorded (older run)"
    stages = budgets[0].get("stages")
    if stages:
        return "; ".join(f"{name}: {_one_budget([b['stages'][name] for b in budgets])}" for name in stages)
    return _one_budget(budgets)


def chance_line(records: list[dict[str, Any]]) -> str | None:
    """The chance sentence of a dataset section, or None when no record says."""
    for r in records:
        ch = r.get("chance")
        if ch and ch.get("map_all_random_ranking") is not None:
            return (f"Chance (expected mAP@all of a random ranking, exact; `distilhash.eval.chance`): "
                    f"{ch['map_all_random_ranking']:.4f} in both directions (the mean share of relevant database "
                    f"items, {ch['relevant_share']:.4f}, is lower and is not a mAP).")
    return None


def spread_scope(records: list[dict[str, Any]]) -> str:
    """What ``±`` covers across these records: seeds, teacher fits, splits."""
    seeds = sorted({r["spec"]["seed"] for r in records})
    fps = {(r.get("teacher_identity") or {}).get("fingerprint") for r in records}
    splits = {r["dataset"]["split_hash"] for r in records}
    parts = [f"method seeds {seeds}"]
    parts.append(f"{len(fps)} teacher fits" if len(fps) > 1 else
                 "one teacher fit" + (f" (fingerprint `{next(iter(fps))}`)" if None not in fps else " (fingerprint not recorded)"))
    parts.append(f"{len(splits)} splits" if len(splits) > 1 else f"one split (`{next(iter(splits))}`)")
    return "Spreads (±, sample std, ddof = 1) cover " + ", ".join(parts) + "."


def bytes_cell(record: dict[str, Any]) -> str:
    """Bytes per database item with the shared codebooks spread over this database: ``"8 + 91.6 = 99.6"``."""
    c = record["codes"]["i2t"]
    per, shared = c["database_bytes_per_item"], c.get("shared_bytes", 0)
    n = c.get("n_database") or record["dataset"]["split_sizes"]["retrieval"]
    if not shared:
        return f"{per:g}"
    return f"{per:g} + {shared / n:.1f} = {per + shared / n:.1f}"
