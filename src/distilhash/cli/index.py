"""``distilhash index build|add|delete|verify|info|compact``: manage code indexes on disk.

    distilhash index build runs/ix --model runs/dcmq64 --dataset emoji-scenes --part retrieval --modality image
    distilhash index build runs/ix --codes retrieval.npz --modality image --dataset emoji-scenes
    distilhash index add runs/ix --codes more.npz --modality image [--metadata more.jsonl]
    distilhash index delete runs/ix ID [ID ...]
    distilhash index verify runs/ix
    distilhash index info runs/ix [--json]

``--codes`` reads an ``.npz`` written by ``distilhash encode``; ``--metadata`` a JSON-lines file
of objects with an ``"id"`` key (other keys become the item's metadata). With ``--dataset`` each
item's metadata is its caption, label names, image path (file-backed datasets) and dataset row.
Building and adding: :mod:`distilhash.pipeline.index`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from distilhash.cli.errors import Typer
from distilhash.cli.names import index_path, run_path

app = Typer(no_args_is_help=True)



@app.command()
def build(
    index_dir: Path = typer.Argument(..., help="New index directory."),
    codes: Path = typer.Option(None, "--codes", help="Encoded .npz from `distilhash encode` (role database)."),
    model: Path = typer.Option(None, "--model", help="Model directory (to encode cached features, and for queries).", callback=run_path),
    dataset: str = typer.Option(None, "--dataset", help="Prepared dataset (features to encode; item metadata)."),
    part: str = typer.Option(None, "--part", help="Dataset part to index when encoding with --model: all, retrieval, "
                             "query, train, val, fit (default: retrieval for a benchmark preset split, else all)."),
    modality: str = typer.Option("image", "--modality", help="Which modality the index stores: image or text."),
    teacher: str = typer.Option(None, "--teacher", help="Teacher whose feature cache to read (default: the one the model was trained on)."),
    features: Path = typer.Option(None, "--features", help="Feature cache directory (default: the teacher's)."),
    metadata: Path = typer.Option(None, "--metadata", help="JSON-lines metadata file with an 'id' per line."),
    shards: int = typer.Option(1, "--shards", help="Build a sharded index of this many shards (items routed by id "
                               "hash; searched by fan-out, same results as one index; see docs/distributed.md)."),
    engine: str = typer.Option("local", "--engine", help="Where --model encodes the features: local (this process) or "
                               "ray (model-holding Ray actors reading the feature cache themselves; the same codes; "
                               "with --shards > 1 the actors also write the shards). See docs/distributed.md."),
    ray_address: str = typer.Option(None, "--ray-address", help="With --engine ray: the cluster's GCS address "
                                    "(HEAD_IP:6379, or auto on a cluster node; default $RAY_ADDRESS, else a local cluster on this machine's CPUs "
                                    "for the command's duration)."),
    workers: int = typer.Option(None, "--workers", help="With --engine ray: encoding actors (default: one per cluster CPU)."),
) -> None:
    """Create an index from encoded codes (or by encoding a dataset part with a model).

    The index is built in a hidden sibling directory and renamed into place when complete, so a
    failure leaves no half-built index behind (and an existing index is never touched).
    """
    from distilhash.pipeline.index import build_index

    done = build_index(index_dir, codes=codes, model=model, dataset=dataset, part=part, modality=modality,
                       teacher=teacher, features=features, metadata=metadata, shards=shards, engine=engine,
                       engine_options={"address": ray_address, "workers": workers} if engine == "ray" else None)
    _print_info(done["info"])
    prov, n, seconds = done["provenance"], done["items"], done["seconds"]
    total = prov.get("dataset_items")
    what = (f"{n} of the dataset's {total} items (part {prov['part']}"
            + ("" if prov["part"] == "all" else "; --part all indexes every item") + ")") if total else f"{n} items"
    typer.echo(f"built {index_dir}: {what} in {seconds:.2f} s ({n / max(seconds, 1e-9):,.0f} items/s)")
    typer.echo(f"next: distilhash search {_short_name(index_dir)} --text \"...\"   or   distilhash serve {_short_name(index_dir)}")


def _short_name(index_dir: Path) -> str:
    """How to name an index on the command line: its name when it lies in $DISTILHASH_HOME/indexes, else its path."""
    from distilhash.paths import resolve_named

    name = Path(index_dir).name
    return name if resolve_named(name, "indexes").resolve() == Path(index_dir).resolve() else str(index_dir)


@app.command()
def add(
    index_dir: Path = typer.Argument(..., help="Existing index directory.", callback=index_path),
    codes: Path = typer.Option(None, "--codes", help="Encoded .npz from `distilhash encode`."),
    model: Path = typer.Option(None, "--model", help="Model directory (default: the index's).", callback=run_path),
    dataset: str = typer.Option(None, "--dataset", help="Prepared dataset (features to encode; item metadata)."),
    part: str = typer.Option(None, "--part", help="Dataset part when encoding with --model/--dataset (default as for build)."),
    modality: str = typer.Option(None, "--modality", help="image or text (default: the index's)."),
    teacher: str = typer.Option(None, "--teacher", help="Teacher whose feature cache to read (default: the one the model was trained on)."),
    features: Path = typer.Option(None, "--features", help="Feature cache directory."),
    metadata: Path = typer.Option(None, "--metadata", help="JSON-lines metadata file with an 'id' per line."),
) -> None:
    """Add items (durable when the command returns); ids already in the index are refused."""
    from distilhash.pipeline.index import add_items

    items, total = add_items(index_dir, codes=codes, model=model, dataset=dataset, part=part, modality=modality,
                             teacher=teacher, features=features, metadata=metadata)
    source = f" (part {items.provenance['part']})" if items.provenance.get("part") else ""
    typer.echo(f"added {len(items.ids)} items{source}; the index holds {total}")


@app.command()
def delete(
    index_dir: Path = typer.Argument(..., help="Existing index directory.", callback=index_path),
    ids: list[str] = typer.Argument(..., help="Ids to delete."),
    missing_ok: bool = typer.Option(False, "--missing-ok", help="Ignore ids that are not in the index."),
) -> None:
    """Delete items by id (durable when the command returns)."""
    from distilhash.index import open_index  # a sharded index too

    with open_index(index_dir, writable=True) as idx:
        n = idx.delete(ids, missing_ok=missing_ok)
        typer.echo(f"deleted {n} items; the index holds {len(idx)}")


@app.command()
def compact(index_dir: Path = typer.Argument(..., help="Existing index directory.", callback=index_path)) -> None:
    """Rewrite the snapshot without deleted items and empty the append log."""
    from distilhash.index import open_index  # a sharded index too

    with open_index(index_dir, writable=True) as idx:
        idx.compact()
        typer.echo(f"compacted: generation {idx.info()['generation']}, {len(idx)} items")


@app.command()
def verify(index_dir: Path = typer.Argument(..., help="Index directory.", callback=index_path)) -> None:
    """Check every file (manifest seal, sha256, acknowledged log length and record checksums, SQLite integrity); exit 1 on damage."""
    from distilhash.index import verify_index  # a sharded index too

    rep = verify_index(index_dir)
    for note in rep.notes:
        typer.echo(f"note: {note}")
    for p in rep.problems:
        typer.secho(f"problem: {p}", fg="red", err=True)
    if not rep.ok:
        raise typer.Exit(1)
    typer.echo(f"ok: {len(rep.files_checked)} files verified")


@app.command()
def info(
    index_dir: Path = typer.Argument(..., help="Index directory.", callback=index_path),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show kind, bits, item count, model/teacher, files and bytes per item."""
    from distilhash.index import open_index  # a sharded index too

    with open_index(index_dir) as idx:
        data = idx.info()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_info(data)


def _print_info(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"index {data['directory']}", show_header=False)
    for key in ("kind", "n_bits", "code_size", "pq", "count", "deleted_pending", "generation", "log_records",
                "model_dir", "teacher", "backend", "disk_bytes", "disk_bytes_per_item", "code_bytes_per_item",
                *(k for k in ("n_shards", "shard_counts") if k in data)):
        value = data.get(key)
        table.add_row(key, f"{value:.1f}" if isinstance(value, float) else str(value))
    for key, value in (data.get("extra") or {}).items():
        table.add_row(f"extra.{key}", str(value))
    Console().print(table)
