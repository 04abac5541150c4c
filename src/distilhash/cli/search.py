"""``distilhash search INDEX_DIR --text ... | --image ...``: query an index through its model.

    distilhash search runs/ix --text "a photo of a cat face" --k 5
    distilhash search runs/ix --image query.png --json
    distilhash search runs/ix --text "red heart" --query-encoder teacher   # the teacher's text tower

Text queries go through the model's static text encoder when it has one (``MODEL/static-text``,
fitted by ``distilhash query-encoder fit``; numpy only, no transformer), else through the
teacher's text tower; images through the teacher's image tower. Then the trained model recorded
in the index manifest (override with ``--model`` / ``--teacher``) makes the query and the index
returns ids, distances and metadata. Everything heavy is imported inside the command, only when
used. The work is :func:`distilhash.pipeline.search.search_index`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from distilhash.cli.errors import EXIT_USAGE, fail
from distilhash.cli.names import index_path, run_path


def command(
    index_dir: Path = typer.Argument(..., help="Index directory (built with `distilhash index build`) or its name in `distilhash paths`.", callback=index_path),
    text: list[str] = typer.Option([], "--text", help="Text query (repeatable)."),
    image: list[Path] = typer.Option([], "--image", help="Image file query (repeatable)."),
    k: int = typer.Option(10, "--k", "-k", help="Results per query."),
    model: Path = typer.Option(None, "--model", help="Model directory or run name (default: the one the index records).", callback=run_path),
    teacher: str = typer.Option(None, "--teacher", help="Teacher spec (default: the model's)."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
    query_encoder: str = typer.Option("auto", "--query-encoder",
                                      help="Text queries through the 'static' encoder, the 'teacher' text tower, or "
                                           "'auto' (static when the model has one, else the teacher)."),
    static_dir: Path = typer.Option(None, "--static-dir", help="Static encoder folder (default: MODEL/static-text)."),
) -> None:
    """Search an index by text or image; prints captions, distances and ids (--json: everything, and the encoder of each query)."""
    from distilhash.pipeline.search import QUERY_ENCODER_KINDS, search_index

    if bool(text) == bool(image):
        fail("give --text or --image (one kind per call)", EXIT_USAGE)
    if query_encoder not in QUERY_ENCODER_KINDS:
        fail(f"--query-encoder {query_encoder!r}; expected one of {', '.join(QUERY_ENCODER_KINDS)}", EXIT_USAGE)
    found = search_index(index_dir, texts=text, images=image, k=k, model=model, teacher=teacher,
                         query_encoder=query_encoder, static_dir=static_dir)
    queries, results = found.queries, found.results
    encoders = found.encoders or [None] * len(queries)
    if as_json:
        payload = [
            {"query": qtext, "encoder": enc, "results": [{"id": i, "distance": float(d), "caption": _caption(m), "metadata": m}
                                                         for i, d, m in zip(r.ids, r.distances.tolist(), r.metadata)]}
            for qtext, enc, r in zip(queries, encoders, results)
        ]
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    print_results(queries, [list(zip(r.ids, r.distances.tolist(), r.metadata)) for r in results],
                  titles=[f"  (read by the {enc} encoder)" if enc else "" for enc in encoders])


#: what the distance column of ``distilhash search`` means
DISTANCE_CAPTION = ("distance: lower is closer. Binary codes: differing bits; PQ codes: the query's asymmetric "
                    "distance to the codes, minus the inner product for inner-product codebooks (so it can be negative). "
                    "--json prints every item's metadata")


def print_results(queries: list[str], rows: list[list[tuple[str, float, dict]]], score_name: str = "distance",
                  caption: str = DISTANCE_CAPTION, titles: list[str] | None = None, paths: bool = False) -> None:
    """One table per query: rank, ``score_name``, caption, labels, id (and the image file with ``paths``).

    ``rows[i]``: ``(id, score or distance, metadata)`` of query ``i``'s hits, best first."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for n, (qtext, hits) in enumerate(zip(queries, rows)):
        table = Table(title=f"query: {qtext}" + (titles[n] if titles else ""), caption=caption)
        table.add_column("#", justify="right")
        table.add_column(score_name, justify="right")
        table.add_column("caption", overflow="fold", ratio=3)
        table.add_column("labels", overflow="fold", ratio=2)
        table.add_column("id", overflow="fold", ratio=2)
        if paths:
            table.add_column("file", overflow="fold", ratio=2)
        for rank, (i, d, m) in enumerate(hits, 1):
            table.add_row(str(rank), f"{d:.4g}", _caption(m) or "", _labels(m), i,
                          *([_short_path(m.get("image"))] if paths else []))
        console.print(table)


def _short_path(path: str | None) -> str:
    """An image file as typed from here: relative to the current directory when under it, else as stored."""
    import os

    if not path:
        return ""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if rel.startswith("..") else rel


def _caption(metadata: dict) -> str | None:
    """What a person reads for an item: the cleaned display caption when stored, else the caption."""
    from distilhash.data.captions import shown_caption

    return shown_caption(metadata)


def _labels(metadata: dict) -> str:
    labels = metadata.get("labels")
    if isinstance(labels, list):
        return ", ".join(str(x).split(":", 1)[-1] for x in labels[:6]) + (" …" if len(labels) > 6 else "")
    return "" if labels is None else str(labels)
