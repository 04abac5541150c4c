"""Mean and sample std of repeated ``bench/serve_writes.py`` runs, per setting (``--workers``, ``--writer-nice``).

    python bench/serve_writes_summary.py bench/results/serve_writes/serve_writes_pq1m_ivf16_w*_loaded_r*.json \
        --out-name serve_writes_pq1m_ivf16_loaded_summary

Reads the runs' result files (each with its own provenance), groups them by the number of server
processes and the writer's nice (and with ``--by-commit`` by the commit each run measured: an A/B of
two versions of the code run interleaved), and writes ``<out-name>.{json,md,png}``: per setting the runs' client-side p50 / p99
(all requests, searches, adds), throughput, errors and the read-your-writes and verification
counts summed, as mean ± sample std over the runs, with each run's load average.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import figure
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parents[1]
BENCH = "serve_writes"

#: (label, run field, key) of the figures averaged over the runs
FIGURES = [("all p50 ms", "all", "p50_ms"), ("all p99 ms", "all", "p99_ms"), ("req/s", "all", "throughput_rps"),
           ("search p50 ms", "search", "p50_ms"), ("search p99 ms", "search", "p99_ms"),
           ("add p50 ms", "add_ms", "p50_ms"), ("add p99 ms", "add_ms", "p99_ms"), ("adds", "add_ms", "count")]


def _mean_std(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs, dtype=float)
    return {"mean": round(float(a.mean()), 1), "std": round(float(a.std(ddof=1)), 1) if len(a) > 1 else None, "n": len(a)}


def summarise(paths: list[Path], by_commit: bool = False) -> dict:
    """Per setting (server processes, writer nice, the commit with ``by_commit``): the figures as
    mean ± std, each run's search p99, the checks summed, the runs listed."""
    groups: dict[tuple[int, int, str], list[tuple[Path, dict]]] = {}
    for p in paths:
        res = json.loads(p.read_text())
        commit = str(res["provenance"].get("commit", "?"))[:7] if by_commit else ""
        for run in res["runs"]:
            key = (int(run.get("workers", 1)), int(run.get("writer_nice", 0)), commit)
            groups.setdefault(key, []).append((p, run | {"_load": res["provenance"]["load_before"]}))
    out = {}
    for (workers, nice, commit), runs in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        figs = {label: _mean_std([r[field][key] for _, r in runs]) for label, field, key in FIGURES}
        checks = {"errors": sum(r["all"]["errors"] for _, r in runs),
                  "read_back_checked": sum(r.get("read_back", {}).get("checked", 0) for _, r in runs),
                  "read_back_stale": sum(r.get("read_back", {}).get("stale", 0) for _, r in runs),
                  "adds_missing": sum(r["verify_service"]["adds_checked"] - r["verify_service"]["adds_fetched"]
                                      + len(r["verify_disk"]["of_those_missing"]) for _, r in runs),
                  "deletes_not_gone": sum(r["verify_service"]["deletes_checked"] - r["verify_service"]["deletes_gone"] for _, r in runs),
                  "disk_deletes_present": sum(r["verify_disk"]["deletes_present"] for _, r in runs)}
        label = f"{workers}" + (f", writer nice +{nice}" if nice else "") + (f", commit {commit}" if commit else "")
        out[label] = {"figures": figs, "checks": checks, "search_p99_each_run": [r["search"]["p99_ms"] for _, r in runs],
                      "runs": [{"file": p.name, "load_before": r["_load"]} for p, r in runs]}
    return out


def markdown(result: dict) -> str:
    lines = ["# Writes under load, repeated: one writable process vs several server processes + the writer", "",
             f"{result['note']}  ", "Each cell: mean ± sample std over the runs (client side). Source runs and their load averages below.", "",
             "| server processes | runs | " + " | ".join(label for label, _, _ in FIGURES) + " | search p99 ms, each run | errors | read-back checked / stale | adds missing | deletes not gone |",
             "|---|---|" + "---|" * (len(FIGURES) + 5)]
    for workers, g in result["settings"].items():
        cells = [f"{g['figures'][label]['mean']} ± {g['figures'][label]['std'] if g['figures'][label]['std'] is not None else '-'}"
                 for label, _, _ in FIGURES]
        c = g["checks"]
        each = ", ".join(f"{x:.1f}" for x in g.get("search_p99_each_run", []))
        lines.append(f"| {workers} | {len(g['runs'])} | " + " | ".join(cells) + f" | {each} | {c['errors']} | {c['read_back_checked']:,} / "
                     f"{c['read_back_stale']} | {c['adds_missing']} | {c['deletes_not_gone'] + c['disk_deletes_present']} |")
    lines += ["", "## Runs", "", "| server processes | file | load average at start |", "|---|---|---|"]
    for workers, g in result["settings"].items():
        lines += [f"| {workers} | `{r['file'][:-5]}.md` | {r['load_before']} |" for r in g["runs"]]
    return "\n".join(lines + [""])


def plot(result: dict, path: Path) -> None:
    labels = ["search p50 ms", "search p99 ms", "all p99 ms", "add p99 ms"]
    with figure(path, figsize=(7, 4)) as (fig, ax):
        settings = list(result["settings"].items())
        pos = np.arange(len(labels))
        width = 0.8 / max(1, len(settings))
        for i, (workers, g) in enumerate(settings):
            ax.bar(pos + i * width, [g["figures"][x]["mean"] for x in labels], width,
                   yerr=[g["figures"][x]["std"] or 0 for x in labels], label=f"{workers} server process(es)")
        ax.axhline(100, color="red", lw=1, ls="--", label="goal p99 100 ms (quiet machine)")
        ax.set_xticks(pos + width * (len(settings) - 1) / 2, labels)
        ax.set_yscale("log")
        ax.set_ylabel("client latency (ms), mean ± std over runs")
        ax.legend(fontsize=8)
        fig.suptitle(f"{path.stem}: {result['note'][:110]}", fontsize=7)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, nargs="+", help="serve_writes result JSON files")
    p.add_argument("--out-name", default="serve_writes_summary")
    p.add_argument("--note", default="loaded machine: the runs alternated between the settings")
    p.add_argument("--by-commit", action="store_true", help="also group by the commit each run measured (an A/B of two versions)")
    args = p.parse_args(argv)
    prov = collect_provenance(BENCH, args.out_name, model_selection="none: timing runs are summarised", root=ROOT)
    result = {"provenance": prov, "note": args.note, "sources": [x.name for x in args.results], "settings": summarise(args.results, args.by_commit),
              "by_commit": args.by_commit}
    paths = write_results(BENCH, args.out_name, result, markdown(result), plot=lambda path: plot(result, path), root=ROOT)
    print(f"wrote {paths['json']}, .md, .png")


if __name__ == "__main__":
    main()
