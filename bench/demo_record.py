"""Commit what a `make demo` run measured: its example-query table, open-vocabulary summary and step times.

    DISTILHASH_HOME=... python bench/demo_record.py [--out-name demo]

`make demo` writes its figures into ``$DISTILHASH_HOME`` (``demo-timings.json`` with the run's
provenance block, and ``demo-examples.json`` / ``demo-open-vocab.json`` in the image index). This
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

from distilhash.io_utils import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
BENCH = "demo_record"
INDEX = "indexes/demo-dcmq64-image"


def _read(path: Path, what: str) -> Any:
    if not path.is_file():
        raise SystemExit(f"demo_record: {path} is missing ({what}); run `make demo` with this DISTILHASH_HOME first")
    return json.loads(path.read_text())


def _markdown(rec: dict[str, Any]) -> str:
    prov, ex = rec["provenance"], rec["examples"]
    lines = [f"# `make demo`, commit {prov['commit'][:7]} ({prov['started_utc']}, load {prov['load_before'][0]} -> "
             f"{prov['load_after'][0]})", "",
             "Ten example queries written down before any search; top 10 of the DCMQ 64-bit image index of the "
             "retrieval drawings through the demo's text encoder, judged by the query's label and by the drawing's title.", "",
             "| query | label | P@10 by label | P@10 by title | encoder |", "|---|---|---|---|---|"]
    lines += [f"| {e['query']} | `{e['label_column']}` | {e['precision']:.1f} | {e['title_precision']:.1f} | {e['encoder']} |"
              for e in ex]
    n_ok = sum(e["precision"] >= 0.5 for e in ex)
    lines += ["", f"At least 0.5 by label: {n_ok} of {len(ex)}; mean by label "
              f"{sum(e['precision'] for e in ex) / len(ex):.2f}, by title {sum(e['title_precision'] for e in ex) / len(ex):.2f}.", ""]
    lines += _open_vocab_lines(rec["open_vocab"])
    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    t = rec["timings"]
    lines += ["| step | seconds | CPU seconds | reused |", "|---|---|---|---|"]
    lines += [f"| {s['step']}. {s['title']} | {sec(s['seconds'])} | {sec(s.get('cpu_seconds'))} | {s['reused']} |"
              for s in t["steps"]]
    lines += ["", f"Steps in all: {t['steps_seconds']:.1f} s ({sec(t.get('steps_cpu_seconds'))} s of CPU); "
              f"setup {sec(t['setup_seconds'])} s."]
    return "\n".join(lines) + "\n"


def _open_vocab_lines(summary: dict[str, Any]) -> list[str]:
    """The open-vocabulary summary the demo printed: P@10, R@50, mAP per domain, each ranking and random."""
    first = next(iter(summary.values()))
    k, n = first["options"]["precision_at"], first["options"]["recall_at"]
    domains = list(first["domains"])
    lines = [f"Open-vocabulary summary: {first['n_queries_listed']} noun queries, relevance = the title names the noun "
             f"(teacher `{first['teacher']}`; one seed of the model).", "",
             "| ranking | " + " | ".join(f"{d} P@{k} | {d} R@{n} | {d} mAP" for d in domains) + " |",
             "|---" * (1 + 3 * len(domains)) + "|"]
    rows = [(name, {d: block["domains"][d]["method"] for d in domains}) for name, block in summary.items()]
    rows.append(("random ranking", {d: first["domains"][d]["random"] for d in domains}))
    for name, by_domain in rows:
        lines.append(f"| {name} | " + " | ".join(f"{by_domain[d][m]:.3f}" for d in domains for m in ("p_at", "r_at", "map_all"))
                     + " |")
    lines += ["", "; ".join(f"{d}: {v['method']['n_queries']} queries with a relevant item among {v['method']['n_items']}"
                            for d, v in first["domains"].items()) + ".", ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-name", default="demo")
    args = ap.parse_args(argv)
    home = Path(os.environ.get("DISTILHASH_HOME", ROOT / "data"))
    timings = _read(home / "demo-timings.json", "the step times")
    rec = {"provenance": timings.pop("provenance"), "timings": timings,
           "examples": _read(home / INDEX / "demo-examples.json", "the example searches"),
           "open_vocab": _read(home / INDEX / "demo-open-vocab.json", "the open-vocabulary summary")}
    for e in rec["examples"]:  # the table needs no item lists; the ids stay for whoever checks by looking
        e.pop("texts", None)
    out = ROOT / "bench" / "results" / BENCH
    atomic_write_json(out / f"{args.out_name}.json", rec)
    (out / f"{args.out_name}.md").write_text(_markdown(rec))
    print(f"wrote {out / args.out_name}.json and .md")


if __name__ == "__main__":
    main()
