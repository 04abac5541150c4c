"""Does the ordering of methods change with the teacher? Two suites that differ only in the teacher, cell by cell.

    python bench/teacher_rerun.py --base openclipart-grouped --new openclipart-grouped-224 --name grouped_224

Reads the stored runs of both suites (``bench/results/<suite>/*.json``: same split, captions, caps and
seeds; only the teacher differs) and writes ``bench/results/teacher_rerun/<name>.{json,md,png}``:
per method and bit length the label mAP@all of each suite (mean ± sample std over seeds) and the
change; the order of the methods at each bit length and direction under each teacher; and, from
the new suite's open-vocabulary scores, P@10 on the drawings and the emoji glyphs with each
method's share of the float teacher's (:mod:`distilhash.benchmark.teacher_rerun_report`).
"""

from __future__ import annotations

import argparse

from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results
from distilhash.benchmark.suite_cells import runs_by_cell
from distilhash.benchmark.teacher_rerun_report import cells, markdown, method_orders, plot, teacher_p10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="openclipart-grouped", help="suite on the old teacher")
    ap.add_argument("--new", default="openclipart-grouped-224", help="suite on the new teacher (with open-vocabulary scores)")
    ap.add_argument("--name", default="grouped_224")
    a = ap.parse_args()
    base, new = runs_by_cell(a.base, nested=True), runs_by_cell(a.new, nested=True)  # labels with a "/" sit in subfolders
    some = next(r for recs in new.values() for r in recs)
    prov = collect_provenance("teacher_rerun", a.name, seeds=[0, 1, 2], model_selection="split.val only (each run's own early stopping)",
                              dataset="openclipart", dataset_hash=some["dataset"].get("dataset_hash"),
                              split_hash=some["dataset"]["split_hash"])
    rows = cells(base, new)
    p10, orders = teacher_p10(rows), method_orders(rows)
    teachers = {side: sorted({r["teacher"] for recs in s.values() for r in recs}) for side, s in (("base", base), ("new", new))}
    result = {"provenance": prov, "suites": {"base": a.base, "new": a.new}, "teachers": teachers, "rows": rows,
              "orders": orders, "teacher_p10": p10}
    paths = write_results("teacher_rerun", a.name, result, markdown(a.base, a.new, rows, orders, p10), plot(rows))
    print(paths["md"])


if __name__ == "__main__":
    main()
