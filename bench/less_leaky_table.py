"""The less leaky headline: label mAP with title + tags captions next to title + description, per method.

    python bench/less_leaky_table.py [--tags open-vocab] [--less-leaky openclipart-less-leaky] [--name headline]
    python bench/less_leaky_table.py --tags openclipart-grouped --less-leaky openclipart-grouped-less-leaky \\
        --name headline_grouped      # the grouped split (issue 23), every bit length

Reads the stored runs of two suites that share methods and seeds but differ in the caption
(``bench/results/<suite>/*.json``) and writes ``bench/results/less_leaky/<name>.{json,md,png}``: per
method and bit length, mean ± sample std over seeds, each mean over the measured random ranking's
mean, and the training budget of each column's runs; the plot shows both captions side by side.
With ``--splits`` / ``--tags-splits`` (the suites of other grouped splits) it adds the cells run on
every split. The tables: :mod:`distilhash.benchmark.less_leaky_report`.
"""

from __future__ import annotations

import argparse

from distilhash.benchmark.less_leaky_report import first_runs, headline
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tags", default="open-vocab", help="suite with title + tags captions")
    ap.add_argument("--less-leaky", default="openclipart-less-leaky", help="suite with title + description captions")
    ap.add_argument("--name", default="headline")
    ap.add_argument("--captions", default=None, help="caption statistics (bench/results/less_leaky/<stem>.json, "
                                                       "from less_leaky_features.py) to state which labels are tags")
    ap.add_argument("--splits", nargs="*", default=[], help="suites with the float teacher and random ranking of the less "
                                                            "leaky text on other splits: the teacher's ratio over splits, "
                                                            "and every cell run on all splits")
    ap.add_argument("--tags-splits", nargs="*", default=[], help="the title + tags suites of the same other splits, same order")
    a = ap.parse_args()
    firsts = [r["dataset"] for r in first_runs([a.less_leaky, *a.splits])]
    prov = collect_provenance("less_leaky", a.name, seeds=[0, 1, 2], model_selection="split.val only (each run's own)",
                              dataset="openclipart", dataset_hash=firsts[0].get("dataset_hash"),
                              split_hash=",".join(dict.fromkeys(d["split_hash"] for d in firsts)), threads=1)
    result, md, draw = headline(a.tags, a.less_leaky, splits=a.splits, tags_splits=a.tags_splits, captions=a.captions)
    write_results("less_leaky", a.name, {**result, "provenance": prov}, md, draw)
    print(md)


if __name__ == "__main__":
    main()
