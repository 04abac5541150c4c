"""EmojiScenes statistics and sample figures (the numbers quoted in docs/dataset.md).

Usage::

    DISTILHASH_HOME=data .venv/bin/python bench/emoji_scenes_stats.py [--dataset emoji-scenes]

Reads the prepared dataset (``distilhash data prepare emoji-scenes`` first) and writes
``bench/results/emoji_scenes_stats/<out-name>.{json,md}``, the label-frequency plot
``bench/results/emoji_scenes_stats/<out-name>.png`` and the sample figures ``emoji_scenes_grid.png``
(48 scenes, pixels doubled) and ``emoji_scenes_samples.png`` (scenes with caption and labels) in
``--docs-dir`` (default ``docs/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from distilhash.benchmark.emoji_scenes_stats import figures, markdown, stats
from distilhash.benchmark.provenance import collect_provenance
from distilhash.benchmark.results import write_results

ROOT = Path(__file__).resolve().parent.parent
BENCH = "emoji_scenes_stats"
DOCS = ROOT / "docs"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="emoji-scenes")
    p.add_argument("--out-name", default=BENCH, help="result name under bench/results/emoji_scenes_stats/")
    p.add_argument("--docs-dir", type=Path, default=DOCS, help="where the sample figures go")
    args = p.parse_args(argv)
    from distilhash.data.store import open_prepared

    ds, split = open_prepared(args.dataset)
    prov = collect_provenance(BENCH, args.out_name, seeds=[0], model_selection="none: dataset statistics",
                              dataset=ds.name, split=split, root=ROOT)
    out = {"provenance": prov, **stats(ds, split)}
    text = markdown(out, ds.name, args.out_name)
    args.docs_dir.mkdir(parents=True, exist_ok=True)
    paths = write_results(BENCH, args.out_name, out, text, root=ROOT, plot=lambda path: figures(
        ds, args.docs_dir / "emoji_scenes_grid.png", args.docs_dir / "emoji_scenes_samples.png", path))
    print(paths["md"].read_text())


if __name__ == "__main__":
    main()
