"""Cold ``distilhash search --text``: a fresh process per query, wall and CPU time, and what it imports.

    python bench/search_cold.py --case pq=INDEX_DIR[:MODEL_DIR] --case binary=INDEX_DIR[:MODEL_DIR] \
        [--text "a red apple"] [--repeat 5] [--out-name NAME]

Each case runs ``python -m distilhash.cli.main search INDEX --text TEXT --json -k 10`` (with
``--model MODEL_DIR`` when given) ``--repeat`` times after one untimed run that fills the OS
cache; reported: wall seconds (mean, sample std, min) and the child's CPU seconds of each run,
which text encoder answered (the shipped default: the model's static encoder when it has one),
whether torch / transformers / faiss were imported, and the costliest top-level imports
(``-X importtime``, one extra run). Writes ``bench/results/search_cold/<out-name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from distilhash.benchmark.provenance import collect_provenance, load_average
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "search_cold"
HEAVY = ("torch", "transformers", "faiss", "model2vec")


def _case(spec: str) -> tuple[str, Path, Path | None]:
    name, _, rest = spec.partition("=")
    index, _, model = rest.partition(":")
    if not name or not index:
        raise SystemExit(f"--case {spec!r}: expected NAME=INDEX_DIR[:MODEL_DIR]")
    return name, Path(index), Path(model) if model else None


def run_case(name: str, index: Path, model: Path | None, text: str, repeat: int) -> dict:
    from distilhash.index import open_index
    from distilhash.query_encoders.query_encoder import query_encoder_for

    cmd = [sys.executable, "-m", "distilhash.cli.main", "search", str(index), "--text", text, "--json", "-k", "10"]
    if model is not None:
        cmd += ["--model", str(model)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with open_index(index) as idx:
        info = {"count": len(idx), "kind": idx.kind, "bits": int(idx.n_bits), "backend": idx.backend}
        encoder = query_encoder_for(idx, model).capabilities.text.name
    load_before = load_average()
    runs = []
    for i in range(repeat + 1):  # the first run fills the OS cache and is not counted
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        wall = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if res.returncode != 0:
            raise SystemExit(f"{name}: search failed: {res.stderr[-2000:]}")
        if i:
            runs.append({"wall_s": round(wall, 4), "cpu_s": round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 4)})
    hits = json.loads(res.stdout)[0]["results"]
    res = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=env, timeout=300)
    imports = [line.split("|") for line in res.stderr.splitlines() if line.startswith("import time:") and "|" in line]
    names = [p[2].strip() for p in imports[1:]]
    top = sorted(((int(p[1]), p[2].strip()) for p in imports[1:] if not p[2].startswith("  ")), reverse=True)[:8]
    walls = [r["wall_s"] for r in runs]
    return {"case": name, "index": str(index), "model": str(model) if model else None, "index_info": info,
            "text_encoder": encoder, "command": " ".join(["python", *cmd[1:]]), "runs": runs,
            "wall_s_mean": round(float(np.mean(walls)), 4), "wall_s_std": round(float(np.std(walls, ddof=1)), 4) if len(walls) > 1 else 0.0,
            "wall_s_min": min(walls), "cpu_s_mean": round(float(np.mean([r["cpu_s"] for r in runs])), 4),
            "imported": {m: any(x == m or x.startswith(m + ".") for x in names) for m in HEAVY},
            "top_level_imports_us": [{"module": n, "cumulative_us": us} for us, n in top],
            "first_hit": hits[0]["id"] if hits else None, "load_before": load_before, "load_after": load_average()}


def markdown(res: dict) -> str:
    lines = ["# Cold `distilhash search --text` (a fresh process per query)", "",
             f"Query `{res['text']}`, k=10, {res['repeat']} timed runs per case after one untimed run (OS cache warm). "
             "**Shared 2-core machine**: loads per case below and in the provenance; a quiet machine gives lower figures.", "",
             "| case | index | text encoder | wall s (mean ± std, min) | CPU s | torch | transformers | faiss | model2vec | load before→after |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for c in res["cases"]:
        i = c["index_info"]
        imp = c["imported"]
        lines.append(f"| {c['case']} | {i['count']:,} {i['bits']}-bit {i['kind']} ({i['backend']}) | {c['text_encoder']} | "
                     f"**{c['wall_s_mean']:.3f}** ± {c['wall_s_std']:.3f} ({c['wall_s_min']:.3f}) | {c['cpu_s_mean']:.3f} | "
                     f"{imp['torch']} | {imp['transformers']} | {imp['faiss']} | {imp['model2vec']} | "
                     f"{c['load_before'][0]:.1f}→{c['load_after'][0]:.1f} |")
    lines += ["", "Costliest top-level imports (cumulative, `-X importtime`, one run):", ""]
    for c in res["cases"]:
        lines.append(f"- {c['case']}: " + ", ".join(f"{x['module']} {x['cumulative_us'] / 1000:.0f} ms" for x in c["top_level_imports_us"][:6]))
    lines += ["", "Commands:", ""] + [f"- `{c['command']}`" for c in res["cases"]] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", action="append", required=True, help="NAME=INDEX_DIR[:MODEL_DIR] (repeatable)")
    p.add_argument("--text", default="a red apple")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out-name", default=BENCH)
    args = p.parse_args(argv)
    prov = collect_provenance(BENCH, args.out_name, root=ROOT,
                              model_selection="none: trained models are queried; nothing is selected")
    cases = []
    for spec in args.case:
        c = run_case(*_case(spec), args.text, args.repeat)
        print(f"{c['case']}: {c['wall_s_mean']:.3f} s wall (min {c['wall_s_min']:.3f}), {c['cpu_s_mean']:.3f} s CPU, "
              f"encoder {c['text_encoder']}, imported {c['imported']}", flush=True)
        cases.append(c)
    res = {"provenance": prov, "text": args.text, "repeat": args.repeat, "cases": cases}
    write_results(BENCH, args.out_name, res, markdown(res), root=ROOT)


if __name__ == "__main__":
    main()
