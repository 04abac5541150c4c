"""The demo's open-vocabulary summary: the float teacher and the demo's model on the committed noun queries.

    distilhash demo open-vocab MODEL_DIR [--json OUT]

Scores the float teacher and the model in MODEL_DIR (its teacher and dataset as recorded at
training time) on the open-vocabulary benchmark (docs/open-vocabulary.md): 176 noun queries
against the openclipart ``split.query`` drawings and the held-out emoji glyphs, relevance = the
title names the noun. One seed of the model; the committed table with every method and 3 seeds
is ``bench/results/open-vocab/report.md``. The teacher features of the queries and of the
emoji are cached after the first run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["summarize", "print_summary", "save_summary"]

#: Column names of the domains (short enough for an 80-column terminal).
SHORT = {"openclipart": "drawings", "emoji": "emoji"}


def summarize(model_dir: str | Path) -> dict[str, Any]:
    """``{"float teacher": block, "<method> <bits> bits (this model)": block}`` (``run_open_vocab`` blocks)."""
    from distilhash.benchmark.open_vocab.scoring import OpenVocabOptions, run_open_vocab
    from distilhash.methods.base import create_method, load_method
    from distilhash.pipeline.inputs import dataset_for_model, load_features_and_split, teacher_for_model

    dataset = dataset_for_model(model_dir)
    teacher = teacher_for_model(model_dir)
    _, split, feats, _ = load_features_and_split(dataset, teacher)
    model = load_method(model_dir)
    options = OpenVocabOptions()
    teacher_method = create_method("float-teacher").fit(feats, split)
    return {
        "float teacher": run_open_vocab(teacher_method, options, feats.teacher, feats, split),
        f"{model.name} {model.n_bits} bits (this model)": run_open_vocab(model, options, feats.teacher, feats, split),
    }


def print_summary(summary: dict[str, Any]) -> None:
    """The summary as a table (recall, precision, mAP per domain), and where the full table is."""
    from rich.console import Console
    from rich.table import Table

    first = next(iter(summary.values()))
    k, n = first["options"]["precision_at"], first["options"]["recall_at"]
    table = Table(title=f"open-vocabulary benchmark: {first['n_queries_listed']} noun queries, relevance = the title "
                        f"names the noun (teacher {first['teacher']})", title_justify="left")
    table.add_column("ranking")
    for d in first["domains"]:
        for m in (f"P@{k}", f"R@{n}", "mAP"):
            table.add_column(f"{SHORT.get(d, d)} {m}", justify="right")
    for name, block in summary.items():
        table.add_row(name, *[f"{block['domains'][d]['method'][m]:.3f}" for d in first["domains"]
                              for m in ("p_at", "r_at", "map_all")])
    table.add_row("random ranking", *[f"{first['domains'][d]['random'][m]:.3f}" for d in first["domains"]
                                      for m in ("p_at", "r_at", "map_all")])
    console = Console()
    console.print(table)
    console.print("; ".join(f"{d}: {v['method']['n_queries']} queries with a relevant item among {v['method']['n_items']}"
                            for d, v in first["domains"].items())
                  + ". Every method, 3 seeds: bench/results/open-vocab/report.md (docs/open-vocabulary.md).")


def save_summary(summary: dict[str, Any], path: str | Path) -> Path:
    """Write the figures of :func:`summarize` as JSON to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return path
