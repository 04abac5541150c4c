"""Rename old provenance keys in result JSON files to the one spelling, and give every file the block.

    python scripts/migrate_bench_results.py bench/results            # rewrite in place, print what moved
    python scripts/migrate_bench_results.py --check bench/results    # list files that would change

For results written before ``distilhash.benchmark.provenance`` held the one provenance block
(issue 15): ``git_commit`` -> ``commit``, ``git: {commit, dirty_src}`` -> ``commit`` / ``dirty``,
``loadavg_before`` / ``load_avg_before`` / ``load_average_start`` ... -> ``load_before``, the ``*_after``
/ ``*_end`` forms -> ``load_after``, ``cpu_count`` -> ``cores``, ``date`` / ``started_at`` ->
``started_utc``; a string ``machine`` note becomes ``machine: {"note": ...}``; suite run records
get the runner's ``provenance`` block from their ``machine_start`` / ``machine_end`` / ``git`` /
``command`` fields. Keys are renamed or moved, never a measured value changed: a load reading
stored twice (rounded and unrounded) is kept once, unrounded. A bare ``loadavg`` /
``load_average`` is the reading the scripts took when they wrote the record, hence ``load_after``.
A ``machine.loadavg`` equal to neither recorded load becomes ``load_before`` when the record has
none, else ``load_after``.

A result file with no ``provenance`` block at all gets one built from what the file itself says
(:func:`migrated_provenance`), marked ``"migrated": true``, its fields copied (the file's own
fields stay where they are): ``benchmark`` / ``name`` from the folder and file name; ``command``
from the file or from the ``command:`` line of its markdown table (same stem); ``commit`` the
commit the file records, else the commit that added the file (``git log --diff-filter=A``), which
is also kept as ``added_in_commit``; ``seeds`` the seeds named anywhere in the file; the other keys
copied from the file's top level (``machine_note`` as ``machine: {"note": ...}``; a record with an
``epoch_policy`` and no ``model_selection`` points to it). Anything the
file does not state is ``"not recorded"``: no value is guessed. A block that lacks some keys gets
them the same way, named in ``migrated_keys``. Running it twice changes nothing.
Delete this script once no result written by the old scripts is left to move.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

RENAME = {
    "git_commit": "commit", "dirty_src": "dirty", "date": "started_utc",
    "loadavg_before": "load_before", "load_avg_before": "load_before", "load_average_before": "load_before",
    "loadavg_start": "load_before", "load_average_start": "load_before",
    "loadavg_after": "load_after", "load_avg_after": "load_after", "load_average_after": "load_after",
    "loadavg_end": "load_after", "load_end": "load_after",
    "cpu_count": "cores", "cpus": "cores", "shared_machine": "shared",
    "started_at": "started_utc", "finished_at": "finished_utc",
    "load_average_per_round": "load_per_round", "loadavg_before_image_tower": "load_before_image_tower",
}
END_SNAPSHOT = {"load_average", "loadavg"}
SUITE_SCHEMA = "distilhash.bench.run/1"
SUITE_MODEL_SELECTION = "split.val only: the method's fit_info_ (recorded as epoch_policy) says which epoch it kept and why"


NOT_RECORDED = "not recorded"
#: keys of the provenance block (distilhash.benchmark.provenance.PROVENANCE_KEYS) copied from a file's top level.
COPIED = ("dirty", "dataset", "dataset_hash", "split_hash", "model_selection", "load_before", "load_after",
          "started_utc", "finished_utc")
COMMAND_LINE = re.compile(r"^\W*command:\s*`(.+)`\s*$", re.IGNORECASE | re.MULTILINE)
SHA = re.compile(r"^[0-9a-f]{40}$")


def added_in_commit(path: Path) -> str | None:
    """The commit that added ``path`` to git (the latest addition if it was added more than once)."""
    try:
        out = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "--", path.name], cwd=path.parent,
                             capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out[0] if out else None


def _values_of(obj: Any, keys: tuple[str, ...]) -> list[Any]:
    """Every value stored under one of ``keys`` anywhere in ``obj`` (depth first)."""
    found: list[Any] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in keys:
                found.append(v)
            found += _values_of(v, keys)
    elif isinstance(obj, list):
        for v in obj:
            found += _values_of(v, keys)
    return found


def seeds_in(rec: Any) -> list[int] | str:
    """Sorted distinct integer seeds named anywhere in ``rec`` (``seed`` / ``seeds``), else "not recorded"."""
    seeds: set[int] = set()
    for v in _values_of(rec, ("seed", "seeds")):
        for x in v if isinstance(v, list) else [v]:
            if isinstance(x, int) and not isinstance(x, bool):
                seeds.add(x)
    return sorted(seeds) if seeds else NOT_RECORDED


def command_of(rec: dict[str, Any], path: Path) -> str:
    """The command the file, or the markdown table written with it, states; else "not recorded"."""
    if isinstance(rec.get("command"), str) and rec["command"]:
        return rec["command"]
    md = path.with_suffix(".md")
    found = COMMAND_LINE.search(md.read_text(encoding="utf-8")) if md.is_file() else None
    return found.group(1) if found else NOT_RECORDED


def migrated_provenance(rec: dict[str, Any], path: Path, root: Path) -> dict[str, Any]:
    """A provenance block for an old result file, from what the file states (see module docstring)."""
    added = added_in_commit(path)
    recorded = rec.get("commit")
    machine = rec.get("machine") if isinstance(rec.get("machine"), dict) else (
        {"note": rec["machine_note"]} if rec.get("machine_note") else {"note": NOT_RECORDED})
    prov: dict[str, Any] = {
        "benchmark": path.relative_to(root).parts[0], "name": path.stem, "command": command_of(rec, path),
        "commit": recorded if isinstance(recorded, str) and recorded else (added or NOT_RECORDED),
    }
    for key in COPIED:
        prov[key] = rec[key] if rec.get(key) is not None else NOT_RECORDED
    if prov["model_selection"] == NOT_RECORDED and "epoch_policy" in rec:
        prov["model_selection"] = "see this record's epoch_policy"
    prov["seeds"] = seeds_in(rec)
    prov["machine"] = machine
    prov["migrated"] = True
    prov["added_in_commit"] = added or NOT_RECORDED
    order = ("benchmark", "name", "command", "commit", "dirty", "dataset", "dataset_hash", "split_hash", "seeds",
             "model_selection", "load_before", "load_after", "machine", "started_utc", "finished_utc", "migrated",
             "added_in_commit")
    return {k: prov[k] for k in order}


def completed_provenance(prov: dict[str, Any], rec: dict[str, Any], path: Path, root: Path) -> dict[str, Any]:
    """A block missing some keys, with them filled as :func:`migrated_provenance` would (listed in ``migrated_keys``)."""
    full = migrated_provenance(rec, path, root)
    added = [k for k in full if k not in prov and k not in ("migrated", "migrated_keys", "added_in_commit")]
    if not added:
        return prov
    return {**prov, **{k: full[k] for k in added}, "migrated": True, "migrated_keys": added,
            "added_in_commit": full["added_in_commit"]}


class Conflict(Exception):
    """Two spellings of one key hold different values: the file needs a person."""


def _put(d: dict[str, Any], key: str, value: Any, where: str) -> None:
    if key in d and d[key] != value:
        raise Conflict(f"{where}: {key} is {d[key]!r} and would become {value!r}")
    d[key] = value


def _rounded(x: Any) -> Any:
    return [round(v, 2) for v in x] if isinstance(x, list) and all(isinstance(v, (int, float)) for v in x) else x


def migrate(obj: Any, where: str = "") -> Any:
    """``obj`` with every old key spelling renamed (recursively); values untouched."""
    if isinstance(obj, list):
        return [migrate(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    machine_load = None
    for key, value in obj.items():
        if key == "machine" and isinstance(value, dict):
            value = dict(value)
            machine_load = value.pop("loadavg", None)
            if "loadavg_at_run_start" in value:
                _put(out, "load_before", value.pop("loadavg_at_run_start"), where)
        value = migrate(value, f"{where}.{key}")
        if key == "git" and isinstance(value, dict):
            for k, v in value.items():
                _put(out, k, v, where)
        elif key == "machine" and isinstance(value, str):
            _put(out, "machine", {"note": value}, where)
        elif key in END_SNAPSHOT:
            _put(out, "load_after", value, where)
        else:
            _put(out, RENAME.get(key, key), value, where)
    if machine_load is not None:
        for slot in ("load_before", "load_after"):
            if out.get(slot) is not None and _rounded(out[slot]) == _rounded(machine_load):
                out[slot] = machine_load  # the same reading: keep the unrounded copy
                break
        else:
            _put(out, "load_before" if "load_before" not in out else "load_after", machine_load, where)
    return out


def migrate_suite_run(rec: dict[str, Any], where: str) -> dict[str, Any]:
    """A suite run record: its scattered provenance fields become the runner's ``provenance`` block."""
    if "provenance" in rec:
        return rec
    start, end = rec.pop("machine_start", None) or {}, rec.pop("machine_end", None) or {}
    git = rec.pop("git", None) or {}
    load_before, load_after = start.pop("loadavg", None), end.pop("loadavg", None)
    machine: dict[str, Any] = {}
    for src in (end, start):
        for k, v in src.items():
            _put(machine, RENAME.get(k, k), v, f"{where}.machine")
    machine.setdefault("cpu_model", None)
    machine.setdefault("ram_gib", None)
    ds = rec.get("dataset") or {}
    prov = {
        "benchmark": rec["suite"], "name": rec["run_id"], "command": rec.pop("command", None),
        "commit": git.get("commit"), "dirty": git.get("dirty_src"), "dataset": rec["spec"]["dataset"]["name"],
        "dataset_hash": ds.get("dataset_hash"), "split_hash": ds.get("split_hash"), "seeds": [rec["spec"]["seed"]],
        "model_selection": SUITE_MODEL_SELECTION, "load_before": load_before, "load_after": load_after, "machine": machine,
        "started_utc": rec.pop("started_at", None), "finished_utc": rec.pop("finished_at", None),
    }
    out: dict[str, Any] = {}
    for k, v in rec.items():
        out[k] = v
        if k == "spec":
            out["provenance"] = prov
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--check", action="store_true", help="only list the files that would change")
    args = ap.parse_args(argv)
    changed, conflicts = [], []
    for path in sorted(args.folder.rglob("*.json")):
        text = path.read_text()
        rec = json.loads(text)
        where = str(path.relative_to(args.folder))
        try:
            new = migrate_suite_run(dict(rec), where) if isinstance(rec, dict) and rec.get("schema") == SUITE_SCHEMA \
                else migrate(rec, where)
        except Conflict as exc:
            conflicts.append(str(exc))
            continue
        if isinstance(new, dict) and "provenance" not in new:
            new = {**new, "provenance": migrated_provenance(new, path, args.folder)}
        elif isinstance(new, dict) and isinstance(new["provenance"], dict) and "schema" not in new:
            new = {**new, "provenance": completed_provenance(new["provenance"], new, path, args.folder)}
        if new != rec:
            changed.append(where)
            if not args.check:
                indent = 1 if text.startswith('{\n "') else 2
                path.write_text(json.dumps(new, indent=indent, ensure_ascii=False) + ("\n" if text.endswith("\n") else ""))
    print("\n".join(f"{'would change' if args.check else 'renamed keys in'} {w}" for w in changed) or "nothing to rename")
    for c in conflicts:
        print(f"CONFLICT (left as it is) {c}", file=sys.stderr)
    return 1 if conflicts or (args.check and changed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
