"""The less leaky headline: label mAP with title + tags captions next to title + description, per method.

    python bench/less_leaky_table.py [--tags open-vocab] [--less-leaky openclipart-less-leaky] [--name headline]

Reads the stored runs of two suites that share methods and seeds but differ in the caption
(``bench/results/<suite>/*.json``), and the measured random ranking (method ``random``, whose
ranking ignores every feature, so one set of runs serves both columns), and writes
``bench/results/less_leaky/<name>.{json,md}``: mean ± sample std over seeds, and each mean over
the random ranking's mean.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from distilhash.benchmark.provenance import collect_provenance, finish_provenance
from distilhash.benchmark.suite import repo_root
from distilhash.io_utils import atomic_write_bytes, atomic_write_json

ORDER = ["float-teacher", "float-student", "dcmq", "soda", "dcmh", "lcdh", "pq", "itq", "lsh", "random"]


def _runs(suite: str) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for f in sorted((repo_root() / "bench" / "results" / suite).glob("*.json")):
        r = json.loads(f.read_text())
        if r.get("status") != "ok" or "metrics" not in r:
            continue
        key = r["spec"]["label"] + ("" if r["spec"]["bits"] is None else f" {r['spec']['bits']} bits")
        for d in ("i2t", "t2i"):
            out[key][d].append(r["metrics"][d]["map_all"])
        out[key]["_commit"].append(r["provenance"].get("commit"))
        out[key]["_load"].extend([r["provenance"].get("load_before", [0])[0], r["provenance"].get("load_after", [0])[0]])
    return out


def _cell(v: list[float]) -> str:
    return "—" if not v else f"{np.mean(v):.3f}" + (f" ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else "") + (f" ({len(v)})" if len(v) != 3 else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tags", default="open-vocab", help="suite with title + tags captions")
    ap.add_argument("--less-leaky", default="openclipart-less-leaky", help="suite with title + description captions")
    ap.add_argument("--name", default="headline")
    a = ap.parse_args()
    prov = collect_provenance("less_leaky", a.name, seeds=[0, 1, 2], model_selection="split.val only (each run's own)",
                              dataset="openclipart", threads=1, root=repo_root())
    tags, leaky = _runs(a.tags), _runs(a.less_leaky)
    rnd = leaky.get("random") or tags.get("random")
    chance = {d: float(np.mean(rnd[d])) for d in ("i2t", "t2i")} if rnd else None
    keys = sorted(set(tags) | set(leaky), key=lambda k: (ORDER.index(k.split()[0]) if k.split()[0] in ORDER else 99, k))
    rows, table = [], []
    for k in keys:
        row = {"method": k}
        cells = [k]
        for name, runs in (("title+tags", tags), ("title+description", leaky)):
            for d in ("i2t", "t2i"):
                v = runs.get(k, {}).get(d, [])
                row[f"{name} {d}"] = v
                ratio = f" ({np.mean(v) / chance[d]:.1f}x)" if v and chance else ""
                cells.append(_cell(v) + ratio)
        rows.append(row)
        table.append(cells)
    md = [f"# Less leaky headline: title + tags vs title + description captions (`{a.tags}` vs `{a.less_leaky}`)", "",
          "mAP@all, 1,000 openclipart queries vs 2,861 database items, relevance = share a label; mean ± sample std over "
          "seeds (count in brackets when not 3); in brackets after it, the mean over the measured random ranking's "
          + (f"(i2t {chance['i2t']:.3f}, t2i {chance['t2i']:.3f}; method `random`, 3 seeds)." if chance else "(not measured)."), "",
          "| method | title + tags i2t | title + tags t2i | title + description i2t | title + description t2i |",
          "|---|---|---|---|---|"] + ["| " + " | ".join(c) + " |" for c in table] + [""]
    out = repo_root() / "bench" / "results" / "less_leaky"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / f"{a.name}.md", "\n".join(md).encode())
    atomic_write_json(out / f"{a.name}.json", {"suites": {"title+tags": a.tags, "title+description": a.less_leaky},
                                               "chance": chance, "rows": rows, "provenance": finish_provenance(prov)})
    print("\n".join(md))


if __name__ == "__main__":
    main()
