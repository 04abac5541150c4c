"""This demo run's figures beside the committed record of a fresh-clone run (``bench/results/demo_record/demo.json``).

The demo ends by printing, for the example searches (mean precision@10 by label and by title) and the
open-vocabulary summary (P@10 per domain of the float teacher and the model), this run's value and the record's,
and whether the record was made with the same teacher copy (spec and fingerprint). Figures of the same teacher, split
and seed should match; a different teacher copy or DCMQ run explains a difference. Without the record (an install
without the repository's ``bench/``) it says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["compare_lines", "figures"]


def figures(examples: list[dict[str, Any]], open_vocab: dict[str, Any]) -> dict[str, float]:
    """``{"examples by label": mean, "examples by title": mean, "<ranking> <domain> P@10": value, ...}``."""
    out = ({"examples by label": sum(e["precision"] for e in examples) / len(examples),
            "examples by title": sum(e["title_precision"] for e in examples) / len(examples)} if examples else {})
    for name, block in sorted(open_vocab.items(), key=lambda kv: "float" not in kv[0]):  # the teacher first
        who = "float teacher" if "float" in name else "model"
        for d, v in block["domains"].items():
            out[f"{who} {d} P@10"] = v["method"]["p_at"]
    return out


def compare_lines(run: dict[str, Any], record_path: Path) -> list[str]:
    """Lines comparing ``run`` (``{"examples", "open_vocab", "teacher", "model_options"}``, this run's files) with the
    record; ``model_options`` (the demo model's preset options as trained) explain a difference when they differ."""
    if not record_path.is_file():
        return [f"(no committed demo record at {record_path} to compare with)"]
    rec = json.loads(record_path.read_text())
    mine, theirs = figures(run["examples"], run["open_vocab"]), figures(rec["examples"], rec["open_vocab"])
    t, rt = run.get("teacher") or {}, rec.get("teacher") or {}
    same = t.get("spec") == rt.get("spec") and t.get("fingerprint") == rt.get("fingerprint")
    commit = rec.get("provenance", {}).get("commit", "?")[:7]
    lines = [f"This run beside the committed record ({record_path.name}, make demo at commit {commit}, teacher "
             f"{rt.get('spec', '?')}, " + ("the same copy" if same else
                                          f"another copy or teacher: fingerprint {rt.get('fingerprint')}") + "):"]
    width = max(map(len, mine), default=0)
    for key, value in mine.items():
        other = theirs.get(key)
        lines.append(f"  {key:<{width}}  {value:.3f}  (record {'-' if other is None else f'{other:.3f}'})")
    teacher_same = all(abs(v - theirs.get(k, v)) < 5e-4 for k, v in mine.items() if k.startswith("float teacher"))
    model_moved = any(abs(v - theirs.get(k, v)) >= 5e-4 for k, v in mine.items() if not k.startswith("float teacher"))
    options, rec_options = run.get("model_options"), rec.get("model_options")
    differ = {k: (v, rec_options.get(k)) for k, v in (options or {}).items()
              if rec_options is not None and rec_options.get(k) != v}
    if differ:
        lines.append("  (the model was trained with other options than the record's: "
                     + ", ".join(f"{k}={v!r} (record {r!r})" for k, (v, r) in differ.items()) + ")")
    elif same and teacher_same and model_moved:
        lines.append("  (the teacher's figures match and the model's do not: the features differ in the last digits when "
                     "the extraction ran on another number of threads, and training carries that into another model; "
                     "DISTILHASH_THREADS=1 repeats a 1-thread run)")
    return lines
