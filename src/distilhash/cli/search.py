"""``distilhash search INDEX_DIR --text ... | --image ...``: query an index through its model.

    distilhash search runs/ix --text "a photo of a cat face" --k 5
    distilhash search runs/ix --image query.png --json
    distilhash search runs/ix --text "red heart" --query-encoder light   # n-gram encoder, no transformer

The text or image goes through the teacher and the trained model recorded in the index manifest
(override with ``--model`` / ``--teacher``), then the index returns ids, distances and metadata.
With ``--query-encoder light`` text queries go through the light n-gram encoder stored with the
model (``MODEL/light-text``, or ``--light-dir``); the teacher answers only queries with too many
unknown words. Everything heavy is imported inside the command, only when used. The work is
:func:`distilhash.pipeline.search.search_index`.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def command(
    index_dir: Path = typer.Argument(..., help="Index directory (built with `distilhash index build`)."),
    text: list[str] = typer.Option([], "--text", help="Text query (repeatable)."),
    image: list[Path] = typer.Option([], "--image", help="Image file query (repeatable)."),
    k: int = typer.Option(10, "--k", "-k", help="Results per query."),
    model: Path = typer.Option(None, "--model", help="Model directory (default: the one the index records)."),
    teacher: str = typer.Option(None, "--teacher", help="Teacher spec (default: the model's)."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
    query_encoder: str = typer.Option("teacher", "--query-encoder",
                                      help="Text queries through the 'teacher' or the 'light' n-gram encoder."),
    light_dir: Path = typer.Option(None, "--light-dir", help="Light encoder directory (default: MODEL/light-text)."),
) -> None:
    """Search an index by text or image; prints ids, distances and metadata."""
    from distilhash.errors import DistilhashError
    from distilhash.pipeline.search import search_index

    if bool(text) == bool(image):
        typer.secho("error: give --text or --image (one kind per call)", fg="red", err=True)
        raise typer.Exit(2)
    if query_encoder not in ("teacher", "light"):
        typer.secho(f"error: --query-encoder {query_encoder!r}; expected 'teacher' or 'light'", fg="red", err=True)
        raise typer.Exit(2)
    try:
        found = search_index(index_dir, texts=text, images=image, k=k, model=model, teacher=teacher,
                             query_encoder=query_encoder, light_dir=light_dir)
    except DistilhashError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    if found.fallbacks:
        typer.secho(f"note: {found.fallbacks} query(ies) had too many unknown words for the light encoder; "
                    "the teacher encoded them", fg="yellow", err=True)
    queries, results = found.queries, found.results
    if as_json:
        payload = [
            {"query": qtext, "results": [{"id": i, "distance": float(d), "metadata": m}
                                         for i, d, m in zip(r.ids, r.distances.tolist(), r.metadata)]}
            for qtext, r in zip(queries, results)
        ]
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for qtext, r in zip(queries, results):
        table = Table(title=f"query: {qtext}", caption="distance: lower is closer. Binary codes: differing bits; PQ codes: "
                      "the query's asymmetric distance to the codes, minus the inner product for inner-product "
                      "codebooks (so it can be negative)")
        table.add_column("#", justify="right")
        table.add_column("id", overflow="fold")
        table.add_column("distance", justify="right")
        table.add_column("metadata")
        for rank, (i, d, m) in enumerate(zip(r.ids, r.distances.tolist(), r.metadata), 1):
            table.add_row(str(rank), i, f"{d:g}", json.dumps(m, ensure_ascii=False)[:120])
        console.print(table)
