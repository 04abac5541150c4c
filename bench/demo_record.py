"""Commit what a `make demo` run measured: its example-query table, open-vocabulary summary and step times.

    DISTILHASH_HOME=... python bench/demo_record.py [--out-name demo]

`make demo` writes its figures into ``$DISTILHASH_HOME`` (``demo-timings.json`` with the run's
provenance block, ``demo-teacher.json``: which copy of the teacher answered and its fingerprint, and
``demo-examples.json`` / ``demo-open-vocab.json`` in the image index). This
script copies them, unchanged, into ``bench/results/demo_record/<name>.{json,md}`` so that the
README's demo figures have a result file behind them. It measures nothing itself; the provenance is
the demo run's own (command, commit, load before/after, machine).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from distilhash.benchmark.demo_report import markdown
from distilhash.demo.freshness import model_options
from distilhash.demo.steps import DCMQ_PRESET
from distilhash.methods.presets import preset_options
from distilhash.io_utils import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
BENCH = "demo_record"
INDEX = "indexes/demo-dcmq64-image"
MODEL = "runs/demo-dcmq64"


def _read(path: Path, what: str) -> Any:
    if not path.is_file():
        raise SystemExit(f"demo_record: {path} is missing ({what}); run `make demo` with this DISTILHASH_HOME first")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-name", default="demo")
    args = ap.parse_args(argv)
    home = Path(os.environ.get("DISTILHASH_HOME", ROOT / "data"))
    timings = _read(home / "demo-timings.json", "the step times")
    teacher = home / "demo-teacher.json"  # which copy of the teacher answered (demos before it was recorded: absent)
    rec = {"provenance": timings.pop("provenance"), "timings": timings,
           **({"teacher": {k: v for k, v in _read(teacher, "the teacher check").items() if k != "card"}}
              if teacher.is_file() else {}),
           "examples": _read(home / INDEX / "demo-examples.json", "the example searches"),
           "open_vocab": _read(home / INDEX / "demo-open-vocab.json", "the open-vocabulary summary"),
           "model_options": model_options(home / MODEL, preset_options("dcmq", DCMQ_PRESET))}
    for e in rec["examples"]:  # the table needs no item lists; the ids stay for whoever checks by looking
        e.pop("texts", None)
    out = ROOT / "bench" / "results" / BENCH
    atomic_write_json(out / f"{args.out_name}.json", rec)
    (out / f"{args.out_name}.md").write_text(markdown(rec))
    print(f"wrote {out / args.out_name}.json and .md")


if __name__ == "__main__":
    main()
