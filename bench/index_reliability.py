"""Index reliability: kill -9 during writes, damage to every file, readers racing compaction.

Three parts, run by :func:`distilhash.benchmark.reliability.run` (see :mod:`distilhash.benchmark.index_crash` and
:mod:`distilhash.benchmark.index_damage` for what each trial checks):

1. **kill -9**: ``--kill-trials`` SIGKILLs per writer mode (appends; deletes; adds and deletes
   with a compaction every third operation), each at a random moment within 0-300 ms of the
   writer starting; after each kill the index must open with full checksums, verify, and hold
   exactly the acknowledged items (the operation in flight: all or nothing).
2. **damage**: every file of a binary and of a PQ reference index (snapshot + log of adds and
   deletes) truncated, byte-flipped and byte-deleted at ``--positions`` positions each, and
   removed; the damage must be refused with an error naming the file, reported by verify, and
   left untouched by a writable open.
3. **race**: ``--race-seconds`` of opens and verifies against a writer compacting every other
   operation, with a second writer attempted meanwhile (after deleting any ``LOCK`` file).

Goal: 0 acknowledged items lost, 0 silent failures (damage not reported), 0 false alarms (a
healthy index reported damaged), 0 second writers admitted.

Writes ``bench/results/index_reliability/<out-name>.{json,md}`` (default ``index_reliability``). Usage::

    PYTHONPATH=src .venv/bin/python bench/index_reliability.py [--kill-trials 70] [--positions 200] [--race-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.reliability import markdown, run
from distilhash.benchmark.results import publish
from distilhash.threads import limit_threads

ROOT = Path(__file__).resolve().parents[1]
BENCH = "index_reliability"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kill-trials", type=int, default=70, help="SIGKILL trials per writer mode (3 modes)")
    ap.add_argument("--positions", type=int, default=200, help="damage positions per file and mode")
    ap.add_argument("--race-seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-name", default=BENCH, help="result name under bench/results/index_reliability/")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout whose bench/results/ receives the result")
    args = ap.parse_args(argv)

    limit_threads(1)
    prov = collect_provenance(BENCH, args.out_name, seeds=[args.seed], model_selection="none (no model is involved)",
                              root=ROOT)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="index-reliability-") as tmp:
        rec = run(args.kill_trials, args.positions, args.race_seconds, args.seed, Path(tmp))
    rec["seconds"] = round(time.perf_counter() - t0, 1)
    if argv is not None:
        prov["command"] = "main(" + " ".join(argv) + ")"
    rec = {"provenance": prov, **rec}
    publish(BENCH, args.out_name, markdown, result=rec, root=args.root, echo=False)
    print(json.dumps(rec["failures"], indent=2))
    return rec


if __name__ == "__main__":
    main()
