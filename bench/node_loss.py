"""A node killed in the middle of a Ray extraction: does every run complete with the same cache?

    python bench/node_loss.py                      # 10 trials, toy teacher, 512 items, parts of 32
    python bench/node_loss.py --trials 3 --out-name node_loss_smoke

Each trial starts a fresh two-node cluster on this host (two raylets of 1 CPU each, ``ray start``,
token auth; :class:`distilhash.distributed.local_cluster.LocalCluster`), runs one extraction in a
driver process and, once ``--kill-after`` parts were written while node 1's worker was running, SIGKILLs every
process of node 1 (raylet, worker, agents) by PID
(:func:`distilhash.distributed.node_loss.run_trial`). A reference run on the same kind of
cluster is not interrupted; the single-process cache (``extract_features``) is the other
reference. A trial passes when the driver exits 0 and every cache file's sha256 equals the
uninterrupted run's. The toy teacher (deterministic features, ``--delay`` s per call) keeps a
trial to seconds of work; the figures measure the recovery machinery, not a teacher.
Writes ``bench/results/node_loss/<out-name>.{json,md}``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.trials import mean_std_text, run_trials

ROOT = Path(__file__).resolve().parents[1]
BENCH = "node_loss"


def markdown(result: dict) -> str:
    s, ref = result["settings"], result["reference"]
    trials = result["trials"]
    ok = [t for t in trials if t["completed"]]
    same = [t for t in ok if t["identical_to_uninterrupted"]]
    lines = [f"# Node killed mid-extraction ({result['provenance']['started_utc']})", "",
             f"Two-node Ray cluster on one host (2 raylets x 1 CPU, token auth), toy teacher ({s['delay']} s per call), "
             f"{s['items']} items in parts of {s['part_size']} rows; node 1 (raylet + worker + agents) SIGKILLed after "
             f"{s['kill_after']} part(s) were written while its worker was running. Shared 2-core machine (load per trial below).", "",
             f"**{len(ok)} of {len(trials)} runs completed; {len(same)} of {len(trials)} caches bit-identical to the "
             f"uninterrupted run** (which equals the single-process cache: {ref['identical_to_single_process']}).", "",
             f"Extraction wall time: uninterrupted {ref['wall_s']:.1f} s; with a node killed "
             f"{mean_std_text(t['wall_s'] for t in ok)} s (mean ± sample std).", "",
             "| trial | completed | identical | workers lost | parts redone | extraction s | cluster start s | load (1 min) |",
             "|---|---|---|---|---|---|---|---|"]
    for i, t in enumerate(trials):
        e = t.get("engine", {})
        lines.append(f"| {i} | {t['completed']} | {t.get('identical_to_uninterrupted')} | {e.get('workers_lost')} | "
                     f"{e.get('parts_retried')} | {t.get('wall_s', float('nan')):.1f} | {t['cluster_start_s']:.1f} | "
                     f"{t['load_before'][0]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from distilhash.distributed.node_loss import ToyTeacher, run_trial, toy_dataset
    from distilhash.teachers.cache import extract_features, load_features

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--items", type=int, default=512)
    ap.add_argument("--part-size", type=int, default=32)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--kill-after", type=int, default=1)
    ap.add_argument("--out-name", default=BENCH)
    args = ap.parse_args(argv)
    prov = collect_provenance(BENCH, args.out_name, seeds=[0], model_selection="none: nothing is selected", root=ROOT)
    result = {"provenance": prov, "settings": vars(args), "trials": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        d = toy_dataset(base / "toy", n=args.items)
        single = load_features(extract_features(d, ToyTeacher(0.0), base / "single", progress=False)).manifest["files"]
        ref = run_trial(base / "ref", kill=False, dataset=d, part_size=args.part_size, delay=args.delay)
        if not ref["completed"]:
            raise SystemExit(f"the uninterrupted reference run failed:\n{ref['stderr']}")
        ref["identical_to_single_process"] = ref["files"] == single
        result["reference"] = {k: v for k, v in ref.items() if k != "stderr"}

        def trial(i: int, work: Path) -> dict:
            t = run_trial(work, kill=True, dataset=d, part_size=args.part_size, delay=args.delay)
            t["identical_to_uninterrupted"] = t["completed"] and t.get("files") == ref["files"]
            if t["completed"]:
                t.pop("stderr")
            return t

        result["trials"] = run_trials(args.trials, trial, ("completed", "identical_to_uninterrupted", "wall_s"), base=base)
    paths = write_results(BENCH, args.out_name, result, markdown(result), root=ROOT)
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
