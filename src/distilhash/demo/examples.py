"""The demo's example queries and how well the index answers them.

The ten queries below were written down before any search result on the real drawings was seen
(they are what a person might type, each with the category a person typing it means). Their
figure is **precision@10 by label**: the share of the top-10 items that carry the query's label.
Three first choices ("a tree" -> trees, "an old telephone" -> telephone, "a dinosaur" ->
dinosaurs) named folders that the dataset's label vocabulary drops (fewer than 20 items); they
were replaced, still before any search ran, by the tag ``tree`` and two other categories.

    python -m distilhash.demo.examples INDEX_DIR [--encoder teacher|static] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import ConfigError

__all__ = ["ExampleQuery", "EXAMPLE_QUERIES", "ExampleResult", "resolve_label", "run_examples", "main"]


@dataclass(frozen=True)
class ExampleQuery:
    """A query text and the label (a category of the dataset) that a person typing it means."""

    text: str
    label: str


EXAMPLE_QUERIES: tuple[ExampleQuery, ...] = (
    ExampleQuery("a red apple", "fruit"),
    ExampleQuery("a bird with wings", "birds"),
    ExampleQuery("a car on the road", "vehicles"),
    ExampleQuery("the flag of a country", "flags"),
    ExampleQuery("a guitar", "music"),
    ExampleQuery("a tree", "tree"),
    ExampleQuery("a bunch of flowers", "flowers"),
    ExampleQuery("a cup of coffee", "beverages"),
    ExampleQuery("an alarm clock", "clocks"),
    ExampleQuery("a sailing boat", "boating"),
)


@dataclass
class ExampleResult:
    """One query's answer: the hits' ids, texts and whether each carries the query's label."""

    query: str
    label: str
    label_column: str
    ids: list[str]
    texts: list[str]
    relevant: list[bool]
    encoder: str

    @property
    def precision(self) -> float:
        return float(np.mean(self.relevant)) if self.relevant else 0.0


def resolve_label(key: str, label_names: Sequence[str]) -> int:
    """The column of ``key`` among ``label_names``, a category preferred over a tag of the same word.

    Tried in order, the first rule with exactly one match wins: the exact name; a folder-like name
    whose last ``/`` part is ``key`` (``"fruit"`` -> ``"folder2:food/fruit"``); a name whose part
    after ``:`` is ``key`` (``"tag:fruit"``). Several matches in one rule, or none at all, raise
    ConfigError naming the candidates.
    """
    rules = (
        lambda n: n == key,
        lambda n: "/" in n and n.rsplit("/", 1)[1] == key,
        lambda n: ":" in n and n.split(":", 1)[1] == key,
    )
    for rule in rules:
        hits = [i for i, n in enumerate(label_names) if rule(n)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ConfigError(f"example label {key!r} matches {len(hits)} of the dataset's labels "
                              f"({[label_names[i] for i in hits][:5]}); expected exactly one")
    raise ConfigError(f"example label {key!r} matches none of the dataset's {len(label_names)} labels "
                      f"(e.g. {list(label_names)[:5]})")


def run_examples(index_dir: str | Path, queries: Sequence[ExampleQuery] = EXAMPLE_QUERIES, k: int = 10,
                 encoder: str = "teacher") -> list[ExampleResult]:
    """Search ``index_dir`` (an image index built from a prepared dataset) with every example query.

    ``encoder``: ``teacher`` (the model's teacher text tower) or ``static`` (the model's static
    text encoder, as ``distilhash search`` and the demo service by default).
    """
    from distilhash.data.store import open_prepared
    from distilhash.index import open_index
    from distilhash.query_encoders.query_encoder import query_encoder_for

    if encoder not in ("teacher", "static"):
        raise ConfigError(f"encoder={encoder!r}; expected 'teacher' or 'static'")
    texts = [q.text for q in queries]
    with open_index(index_dir) as idx:
        results = idx.search(query_encoder_for(idx, text_encoder=encoder).encode_texts(texts), k)
    datasets: dict[str, Any] = {}
    out = []
    for q, r in zip(queries, results):
        names = {m.get("dataset") for m in r.metadata} - {None}
        if len(names) != 1:
            raise ConfigError(f"{index_dir}: hits must come from one prepared dataset (metadata 'dataset'), got {names}")
        name = names.pop()
        if name not in datasets:
            datasets[name] = open_prepared(name)[0]
        ds = datasets[name]
        col = resolve_label(q.label, ds.label_names)
        rows = [int(m["row"]) for m in r.metadata]
        out.append(ExampleResult(q.text, q.label, ds.label_names[col], list(r.ids),
                                 [ds.texts[i] if ds.texts else "" for i in rows],
                                 [bool(ds.labels[i, col]) for i in rows], encoder))
    return out


def _print(results: list[ExampleResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for r in results:
        table = Table(title=f"{r.query!r}  (label {r.label_column}: {sum(r.relevant)}/{len(r.relevant)} of the top "
                            f"{len(r.relevant)}; {r.encoder} encoder)", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("label", justify="center")
        table.add_column("id")
        table.add_column("text")
        for rank, (i, t, rel) in enumerate(zip(r.ids, r.texts, r.relevant), 1):
            table.add_row(str(rank), "yes" if rel else "-", i, t[:90])
        console.print(table)
    good = sum(r.precision >= 0.5 for r in results)
    console.print(f"precision@10 by label: {', '.join(f'{r.precision:.1f}' for r in results)}; "
                  f"{good} of {len(results)} queries at >= 0.5; mean {np.mean([r.precision for r in results]):.2f}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Search an image index with the demo's example queries (module docstring).")
    p.add_argument("index_dir", type=Path)
    p.add_argument("--encoder", choices=("teacher", "static"), default="teacher")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    a = p.parse_args(argv)
    results = run_examples(a.index_dir, k=a.k, encoder=a.encoder)
    _print(results)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps([{**asdict(r), "precision": r.precision} for r in results], indent=1) + "\n")


if __name__ == "__main__":
    main()
