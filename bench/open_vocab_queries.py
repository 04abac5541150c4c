"""Draw the open-vocabulary query list by the rule of ``distilhash.benchmark.open_vocab.vocab``.

    python bench/open_vocab_queries.py            # writes src/distilhash/benchmark/open_vocab/queries.json

Reads the prepared openclipart dataset's ``split.train`` ids ($DISTILHASH_HOME), their titles from
the SVG metadata, and WordNet 3.0 (Debian ``wordnet-base``). No model is loaded.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from distilhash.benchmark.open_vocab.domains import openclipart_titles
from distilhash.benchmark.open_vocab.vocab import QUERIES_FILE, build_query_list
from distilhash.benchmark.open_vocab.wordnet import WordNet
from distilhash.data.store import open_prepared


def main(argv: list[str] | None = None) -> None:
    # no options: parsed so that --help prints this and stops (a bare run rewrites a committed package file)
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_args(argv)
    ds, split = open_prepared("openclipart")
    ids = [ds.ids[i] for i in np.asarray(split.train)]
    titles = openclipart_titles(ids)
    qlist = build_query_list(titles, WordNet(), source=(
        f"titles of openclipart split.train ({len(ids)} items; dataset {split.dataset_hash}, split {split.hash}); "
        "WordNet 3.0 (wordnet-base); `python bench/open_vocab_queries.py`"))
    QUERIES_FILE.write_text(json.dumps(qlist.to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"{len(qlist)} queries (min_titles {qlist.rule['min_titles_used']}) -> {QUERIES_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()
