"""Other methods beside a bench script's own: reuse suite run records of the same split and teacher, else fit here.

Usage::

    found = suite_runs(results_root, split.hash, feats.teacher)        # {(label, bits, seed): record}
    cells = compare_at(feats, split, bits=64, seed=0, found=found, names=("lsh", "itq", "dcmq"))
    cells["itq"]   # {"i2t": 0.41, "t2i": 0.39, "source": ".../quick/itq__64__s0.json"}

A suite record (``bench/results/<suite>/<run_id>.json``, status ``ok``) counts when its split hash
and teacher are the ones given; a float method (``float-teacher``) is found at any bit length.
What no record holds is asked of ``fallback(name, bits)`` (e.g. :func:`committed_summary`), then fitted
here with :func:`~distilhash.benchmark.fit_score.fit_and_score` (same protocol as the harness); a
fit that raises is recorded as ``{"error": ...}`` and the others go on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["suite_runs", "compare_at", "committed_summary"]

DIRECTIONS = ("i2t", "t2i")


def suite_runs(results_root: Path, split_hash: str, teacher: str) -> dict[tuple[str, int, int], dict[str, Any]]:
    """``(method label, bits, seed) -> record`` (with ``"_path"``) of the ok suite runs under ``results_root``
    (``<root>/<suite>/<run_id>.json``) on split ``split_hash`` with teacher ``teacher``; the first found wins."""
    found: dict[tuple[str, int, int], dict[str, Any]] = {}
    for path in sorted(Path(results_root).glob("*/*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(rec, dict) or rec.get("status") != "ok" or rec.get("teacher") != teacher \
                or rec.get("dataset", {}).get("split_hash") != split_hash:
            continue
        m = rec.get("method", {})
        key = (m.get("label") or m.get("name"), int(m.get("bits") or m.get("n_bits")), int(rec.get("seed", 0)))
        found.setdefault(key, {**rec, "_path": str(path)})
    return found


def compare_at(features, split, bits: int, seed: int, found: dict[tuple[str, int, int], dict[str, Any]],
               names: Sequence[str], fallback: Callable[[str, int], dict[str, Any] | None] | None = None,
               log: Callable[[str], Any] | None = None) -> dict[str, dict[str, Any]]:
    """``{name: {"i2t", "t2i", "source"[, "seconds"]} or {"error"}}`` of each method at ``bits`` / ``seed``."""
    from distilhash.benchmark.fit_score import fit_and_score
    from distilhash.methods.base import create_method

    out: dict[str, dict[str, Any]] = {}
    for name in names:
        rec = found.get((name, bits, seed))
        if rec is None and name == "float-teacher":  # float codes: one record whatever the bit budget
            rec = next((r for (n, _, s), r in found.items() if n == name and s == seed), None)
        if rec is not None:
            out[name] = {d: rec["metrics"][d]["map_all"] for d in DIRECTIONS} | {"source": rec["_path"]}
            continue
        if fallback is not None and (given := fallback(name, bits)) is not None:
            out[name] = given
            continue
        t = time.perf_counter()
        try:
            res = fit_and_score(create_method(name, n_bits=bits, seed=seed), features, split, curves=False).map_all()
            out[name] = res | {"source": "run here (same protocol as the harness)", "seconds": time.perf_counter() - t}
        except Exception as exc:  # noqa: BLE001 - recorded, the benchmark goes on
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        (log or (lambda s: print(s, flush=True)))(f"  [{bits} bits] {name}: {out[name]}")
    return out


def committed_summary(path: Path, name: str, bits: int, split_hash: str, teacher: str) -> dict[str, Any] | None:
    """``{"i2t", "t2i", "source"}`` of method ``name`` at ``bits`` from a committed ``bench/dcmq.py`` summary at ``path``
    (``summary[name][bits]["map_all"]``: the mean over its seeds), or None when absent, not recorded on ``split_hash``
    (its provenance block, or ``meta`` in a record without one, must name that split) or not on ``teacher`` (its
    ``meta["teacher"]``, the feature cache's teacher, must be the same)."""
    try:
        rec = json.loads(Path(path).read_text())
        cell = rec["summary"][name][str(bits)]["map_all"] if name == "dcmq" else None
    except (OSError, KeyError, json.JSONDecodeError):
        return None
    recorded = (rec.get("provenance") or rec.get("meta") or {}).get("split_hash")
    if cell is None or recorded != split_hash:  # a record that names no split is not taken as this one
        return None
    if (rec.get("meta") or {}).get("teacher") != teacher:  # nor one whose codes distil another teacher
        return None
    return {d: float(cell[d]["mean"]) for d in DIRECTIONS} | {"source": f"{path} (committed; mean over {cell['i2t'].get('n')} seeds)"}
