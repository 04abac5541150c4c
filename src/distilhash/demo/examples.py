"""The demo's example queries and how well the index answers them.

The ten queries below were written down before any search result on the real drawings was seen
(they are what a person might type, each with the category a person typing it means). Their
figure is **precision@10 by label**: the share of the top-10 items that carry the query's label.
Three first choices ("a tree" -> trees, "an old telephone" -> telephone, "a dinosaur" ->
dinosaurs) named folders that the dataset's label vocabulary drops (fewer than 20 items); they
were replaced, still before any search ran, by the tag ``tree`` and two other categories.

A second figure, **precision@10 by title**, judges the same top 10 by the drawing's title (never
its tags): a hit counts when its title names the thing the query asks for (``nouns``, with their
plurals; written down with the open-vocabulary benchmark, before these columns were computed).

    distilhash demo examples INDEX_DIR [--encoder teacher|static] [--json OUT]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import ConfigError

__all__ = ["ExampleQuery", "EXAMPLE_QUERIES", "ExampleResult", "resolve_label", "run_examples", "print_examples",
           "save_examples"]


@dataclass(frozen=True)
class ExampleQuery:
    """A query text, the label (a category of the dataset) that a person typing it means, and the
    nouns a title must contain (or their plurals) for a hit to count by title."""

    text: str
    label: str
    nouns: tuple[str, ...] = ()


EXAMPLE_QUERIES: tuple[ExampleQuery, ...] = (
    ExampleQuery("a red apple", "fruit", ("apple",)),
    ExampleQuery("a bird with wings", "birds", ("bird",)),
    ExampleQuery("a car on the road", "vehicles", ("car", "automobile")),
    ExampleQuery("the flag of a country", "flags", ("flag",)),
    ExampleQuery("a guitar", "music", ("guitar",)),
    ExampleQuery("a tree", "tree", ("tree",)),
    ExampleQuery("a bunch of flowers", "flowers", ("flower", "bouquet")),
    ExampleQuery("a cup of coffee", "beverages", ("coffee",)),
    ExampleQuery("an alarm clock", "clocks", ("alarm clock",)),
    ExampleQuery("a sailing boat", "boating", ("sailboat", "sailing boat", "sailing ship")),
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
    titles: list[str] = field(default_factory=list)
    title_relevant: list[bool] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return float(np.mean(self.relevant)) if self.relevant else 0.0

    @property
    def title_precision(self) -> float:
        """Share of the top k whose title names one of the query's nouns."""
        return float(np.mean(self.title_relevant)) if self.title_relevant else 0.0


def item_titles(ds, rows: Sequence[int]) -> list[str]:
    """Titles of dataset rows: an openclipart drawing's SVG title, else the item's text up to its first ``". "``."""
    ids = [ds.ids[i] for i in rows]
    if ds.meta.get("source") == "openclipart":
        from distilhash.benchmark.open_vocab.domains import openclipart_titles

        return openclipart_titles(ids, ds.meta.get("config", {}).get("root"), ds.meta.get("config", {}).get("id_prefix", "oc"))
    return [(ds.texts[i] if ds.texts else "").split(". ", 1)[0] for i in rows]


def _names(title: str, nouns: Sequence[str]) -> bool:
    from distilhash.benchmark.open_vocab.words import matches, plural, title_tokens

    return matches(title_tokens(title), [f for n in nouns for f in (n, plural(n))])


#: query text -> the nouns its title judgment looks for (for printing).
EXAMPLE_NOUNS: dict[str, tuple[str, ...]] = {q.text: q.nouns for q in EXAMPLE_QUERIES}


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
    from distilhash.data.captions import shown_caption
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
        titles = item_titles(ds, rows)
        out.append(ExampleResult(q.text, q.label, ds.label_names[col], list(r.ids),
                                 [shown_caption(m) or "" for m in r.metadata],  # the display caption, else the text
                                 [bool(ds.labels[i, col]) for i in rows], encoder, titles,
                                 [_names(t, q.nouns) for t in titles]))
    return out


def print_examples(results: list[ExampleResult]) -> None:
    """One table per query (rank, relevant by label / title, id, title) and the precision lines."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for r in results:
        table = Table(title=f"{r.query!r}  (label {r.label_column}: {sum(r.relevant)}/{len(r.relevant)} of the top "
                            f"{len(r.relevant)}; title names {'/'.join(EXAMPLE_NOUNS.get(r.query, ()))}: "
                            f"{sum(r.title_relevant)}/{len(r.title_relevant)}; {r.encoder} encoder)", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("label", justify="center")
        table.add_column("title", justify="center")
        table.add_column("id")
        table.add_column("text")
        for rank, (i, t, rel, trel) in enumerate(zip(r.ids, r.texts, r.relevant, r.title_relevant), 1):
            table.add_row(str(rank), "yes" if rel else "-", "yes" if trel else "-", i, t[:90])
        console.print(table)
    for name, values in (("label", [r.precision for r in results]), ("title", [r.title_precision for r in results])):
        console.print(f"precision@10 by {name}: {', '.join(f'{v:.1f}' for v in values)}; "
                      f"{sum(v >= 0.5 for v in values)} of {len(values)} queries at >= 0.5; mean {np.mean(values):.2f}")


def save_examples(results: list[ExampleResult], path: str | Path) -> Path:
    """Write ``results`` (with their precision by label and by title) as JSON to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{**asdict(r), "precision": r.precision, "title_precision": r.title_precision}
                                for r in results], indent=1) + "\n")
    return path
