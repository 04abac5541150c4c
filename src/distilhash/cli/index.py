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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(no_args_is_help=True)


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg="red", err=True)
    raise typer.Exit(1) from exc


def _dataset_metadata(dataset: str, rows: list[int]) -> list[dict[str, Any]]:
    from distilhash.data.store import open_prepared

    ds, _ = open_prepared(dataset)
    out = []
    for i in rows:
        md: dict[str, Any] = {"dataset": ds.name, "row": int(i)}
        if ds.texts:
            md["caption"] = ds.texts[i]
        if ds.num_labels:
            md["labels"] = [ds.label_names[j] for j in ds.labels[i].nonzero()[0]]
        path_of = getattr(ds.images, "path", None)
        if callable(path_of):
            md["image"] = str(path_of(i))
        out.append(md)
    return out


def _metadata_file(path: Path, ids: list[str]) -> list[dict[str, Any]]:
    from distilhash.errors import DataError

    from distilhash.io_utils import read_utf8_text

    by_id: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(read_utf8_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{n}: not JSON ({exc})") from None
        if not isinstance(obj, dict) or "id" not in obj:
            raise DataError(f"{path}:{n}: expected a JSON object with an 'id' key")
        by_id[str(obj.pop("id"))] = obj
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DataError(f"{path} has no metadata for {len(missing)} ids, e.g. {missing[:5]}")
    return [by_id[i] for i in ids]


def _load_items(codes: Path | None, model: Path | None, dataset: str | None, part: str, modality: str,
                teacher: str, features: Path | None, metadata: Path | None, engine: str = "local",
                engine_options: dict[str, Any] | None = None):
    """(ids, Encoded, metadata, provenance) from an encoded file or by encoding cached features.

    ``engine``: how cached features are encoded (:data:`distilhash.distributed.encode.ENCODE_ENGINES`).
    """
    from distilhash.errors import ConfigError, DataError

    if modality not in ("image", "text"):
        raise DataError(f"--modality {modality!r}; expected image or text")
    prov: dict[str, Any] = {"modality": modality}
    if codes is not None:
        from distilhash.cli.encode import load_encoded

        if engine != "local":
            raise ConfigError(f"--engine {engine} encodes cached features (--model with --dataset); --codes are "
                              "already encoded")
        encoded, info = load_encoded(codes)
        if modality not in encoded:
            raise DataError(f"{codes} holds no {modality} codes (has: {', '.join(encoded)})")
        if info["role"] != "database":
            raise DataError(f"{codes} holds role={info['role']!r} codes; an index stores role='database' codes")
        enc, ids, rows = encoded[modality], info["ids"], info["indices"].tolist()
        prov.update(codes_file=str(codes), part=info["part"])
    elif model is not None and dataset is not None:
        from distilhash.cli.encode import part_indices
        from distilhash.cli.train import load_features_and_split
        from distilhash.methods.base import load_method
        from distilhash.threads import set_threads

        set_threads(2)
        method = load_method(model)
        _, split, feats, _ = load_features_and_split(dataset, teacher, features)
        part = part or default_part(split)
        idx = part_indices(split, part, len(feats))
        from distilhash.distributed.encode import encode_with_engine

        enc = encode_with_engine(engine, model, getattr(feats, modality)[idx], modality, "database", method=method,
                                 **(engine_options or {}))
        ids, rows = [feats.ids[i] for i in idx], idx.tolist()
        prov.update(part=part, teacher=feats.teacher, dataset_items=len(feats), engine=engine)
    else:
        raise ConfigError("give --codes FILE, or --model DIR with --dataset NAME")
    if metadata is not None:
        md = _metadata_file(metadata, ids)
    elif dataset is not None:
        md = _dataset_metadata(dataset, rows)
    else:
        md = [{} for _ in ids]
    return ids, enc, md, prov


def default_part(split) -> str:
    """``retrieval`` for a benchmark split (queries are held out of the database), else ``all``.

    An own collection is indexed whole: its split only serves training and evaluation.
    """
    return "retrieval" if split.spec.origin.startswith("preset:") or not split.spec.origin else "all"


def _staging_dir(index_dir: Path) -> Path:
    """A fresh sibling directory to build ``index_dir`` in (renamed into place on success)."""
    import os
    import time

    return index_dir.parent / f".{index_dir.name}.building-{os.getpid()}-{time.time_ns()}"


def _move_into_place(staging: Path, index_dir: Path) -> None:
    """Rename the finished index onto ``index_dir`` (which may exist only as an empty directory)."""
    import os

    from distilhash.errors import ConfigError

    if index_dir.exists():
        if not index_dir.is_dir() or any(index_dir.iterdir()):
            raise ConfigError(f"{index_dir} appeared while the index was built and is not empty; the new index is "
                              f"left in {staging}")
        index_dir.rmdir()
    os.replace(staging, index_dir)


@app.command()
def build(
    index_dir: Path = typer.Argument(..., help="New index directory."),
    codes: Path = typer.Option(None, "--codes", help="Encoded .npz from `distilhash encode` (role database)."),
    model: Path = typer.Option(None, "--model", help="Model directory (to encode cached features, and for queries)."),
    dataset: str = typer.Option(None, "--dataset", help="Prepared dataset (features to encode; item metadata)."),
    part: str = typer.Option(None, "--part", help="Dataset part to index when encoding with --model: all, retrieval, "
                             "query, train, val, fit (default: retrieval for a benchmark preset split, else all)."),
    modality: str = typer.Option("image", "--modality", help="Which modality the index stores: image or text."),
    teacher: str = typer.Option("minilm-lit", "--teacher", help="Teacher spec (feature cache; query encoding)."),
    features: Path = typer.Option(None, "--features", help="Feature cache directory (default: the teacher's)."),
    metadata: Path = typer.Option(None, "--metadata", help="JSON-lines metadata file with an 'id' per line."),
    shards: int = typer.Option(1, "--shards", help="Build a sharded index of this many shards (items routed by id "
                               "hash; searched by fan-out, same results as one index; see docs/distributed.md)."),
    engine: str = typer.Option("local", "--engine", help="Where --model encodes the features: local (this process) or "
                               "ray (model-holding Ray actors; same codes). See docs/distributed.md."),
    ray_address: str = typer.Option(None, "--ray-address", help="With --engine ray: a cluster address (ray://head:10001, "
                                    "head:6379, auto; default $RAY_ADDRESS, else a local cluster on this machine's CPUs "
                                    "for the command's duration)."),
    workers: int = typer.Option(None, "--workers", help="With --engine ray: encoding actors (default: one per cluster CPU)."),
) -> None:
    """Create an index from encoded codes (or by encoding a dataset part with a model).

    The index is built in a hidden sibling directory and renamed into place when complete, so a
    failure leaves no half-built index behind (and an existing index is never touched).
    """
    import shutil
    import time

    from distilhash.errors import ConfigError, DataError, DistilhashError
    from distilhash.distributed.sharded_index import open_any_index as open_index  # a sharded index too
    from distilhash.index import create_index

    index_dir = Path(index_dir)
    staging = None
    try:
        from distilhash.distributed.encode import ENCODE_ENGINES

        if engine not in ENCODE_ENGINES:
            raise ConfigError(f"--engine {engine!r}; expected one of {', '.join(ENCODE_ENGINES)}")
        if (index_dir / "manifest.json").exists():
            raise ConfigError(f"{index_dir} already holds an index; add items with `distilhash index add`, or choose "
                              "another directory")
        if index_dir.exists() and (not index_dir.is_dir() or any(index_dir.iterdir())):
            raise ConfigError(f"{index_dir} exists and is not an empty directory; choose another directory")
        ids, enc, md, prov = _load_items(codes, model, dataset, part, modality, teacher, features, metadata, engine,
                                         {"address": ray_address, "workers": workers} if engine == "ray" else {})
        model_dir = str(Path(model).resolve()) if model is not None else None
        if model is not None and (Path(model) / "method.json").is_file():
            teacher = json.loads((Path(model) / "method.json").read_text()).get("teacher") or teacher
        t0 = time.perf_counter()
        if enc.kind not in ("binary", "pq"):
            raise DataError(f"an index stores binary or pq codes; this model gives {enc.kind!r} database codes")
        index_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = _staging_dir(index_dir)
        make = create_index
        if shards > 1:
            from functools import partial

            from distilhash.distributed.sharded_index import create_sharded_index

            make = partial(create_sharded_index, n_shards=shards)
        idx = make(staging, kind=enc.kind, n_bits=enc.n_bits if enc.kind == "binary" else None,
                   codebooks=enc.codebooks, metric=enc.metric, model_dir=model_dir, teacher=teacher,
                   extra={**prov, "dataset": dataset})
        with idx:
            idx.add(ids, enc, md, snapshot=True)  # one checksummed snapshot, not one huge log record
        _move_into_place(staging, index_dir)
        staging = None
        seconds = time.perf_counter() - t0
        with open_index(index_dir) as done:
            _print_info(done.info())
        total = prov.get("dataset_items")
        what = (f"{len(ids)} of the dataset's {total} items (part {prov['part']}"
                + ("" if prov["part"] == "all" else "; --part all indexes every item") + ")") if total else f"{len(ids)} items"
        typer.echo(f"built {index_dir}: {what} in {seconds:.2f} s ({len(ids) / max(seconds, 1e-9):,.0f} items/s)")
    except DistilhashError as exc:
        _fail(exc)
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)  # only ever the hidden directory this command created


@app.command()
def add(
    index_dir: Path = typer.Argument(..., help="Existing index directory."),
    codes: Path = typer.Option(None, "--codes", help="Encoded .npz from `distilhash encode`."),
    model: Path = typer.Option(None, "--model", help="Model directory (default: the index's)."),
    dataset: str = typer.Option(None, "--dataset", help="Prepared dataset (features to encode; item metadata)."),
    part: str = typer.Option(None, "--part", help="Dataset part when encoding with --model/--dataset (default as for build)."),
    modality: str = typer.Option(None, "--modality", help="image or text (default: the index's)."),
    teacher: str = typer.Option("minilm-lit", "--teacher", help="Teacher whose feature cache to read."),
    features: Path = typer.Option(None, "--features", help="Feature cache directory."),
    metadata: Path = typer.Option(None, "--metadata", help="JSON-lines metadata file with an 'id' per line."),
) -> None:
    """Add items (durable when the command returns); ids already in the index are refused."""
    from distilhash.errors import DistilhashError
    from distilhash.distributed.sharded_index import open_any_index as open_index  # a sharded index too

    try:
        with open_index(index_dir, writable=True) as idx:
            mod = modality or idx.manifest.get("extra", {}).get("modality", "image")
            mdl = model or (Path(idx.manifest["model_dir"]) if idx.manifest.get("model_dir") and dataset and not codes else None)
            ids, enc, md, prov = _load_items(codes, mdl, dataset, part, mod, teacher, features, metadata)
            idx.add(ids, enc, md)
            source = f" (part {prov['part']})" if prov.get("part") else ""
            typer.echo(f"added {len(ids)} items{source}; the index holds {len(idx)}")
    except DistilhashError as exc:
        _fail(exc)


@app.command()
def delete(
    index_dir: Path = typer.Argument(..., help="Existing index directory."),
    ids: list[str] = typer.Argument(..., help="Ids to delete."),
    missing_ok: bool = typer.Option(False, "--missing-ok", help="Ignore ids that are not in the index."),
) -> None:
    """Delete items by id (durable when the command returns)."""
    from distilhash.errors import DistilhashError
    from distilhash.distributed.sharded_index import open_any_index as open_index  # a sharded index too

    try:
        with open_index(index_dir, writable=True) as idx:
            n = idx.delete(ids, missing_ok=missing_ok)
            typer.echo(f"deleted {n} items; the index holds {len(idx)}")
    except DistilhashError as exc:
        _fail(exc)


@app.command()
def compact(index_dir: Path = typer.Argument(..., help="Existing index directory.")) -> None:
    """Rewrite the snapshot without deleted items and empty the append log."""
    from distilhash.errors import DistilhashError
    from distilhash.distributed.sharded_index import open_any_index as open_index  # a sharded index too

    try:
        with open_index(index_dir, writable=True) as idx:
            idx.compact()
            typer.echo(f"compacted: generation {idx.info()['generation']}, {len(idx)} items")
    except DistilhashError as exc:
        _fail(exc)


@app.command()
def verify(index_dir: Path = typer.Argument(..., help="Index directory.")) -> None:
    """Check every file (manifest seal, sha256, acknowledged log length and record checksums, SQLite integrity); exit 1 on damage."""
    from distilhash.distributed.sharded_index import verify_any_index as verify_index  # a sharded index too

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
    index_dir: Path = typer.Argument(..., help="Index directory."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show kind, bits, item count, model/teacher, files and bytes per item."""
    from distilhash.errors import DistilhashError
    from distilhash.distributed.sharded_index import open_any_index as open_index  # a sharded index too

    try:
        with open_index(index_dir) as idx:
            data = idx.info()
    except DistilhashError as exc:
        _fail(exc)
        return
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
