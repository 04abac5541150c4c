"""Build and extend code indexes from encoded files or a trained model (``distilhash index build|add``).

    summary = build_index("ix/photos", model="runs/dcmq64", dataset="emoji-scenes", modality="image")
    add_items("ix/photos", codes="more.npz", modality="image", metadata="more.jsonl")

Items come either from an encoded file (:mod:`distilhash.codes_file`, role ``database``) or by
encoding a part of a prepared dataset's cached features with a model. Each item's metadata comes
from a JSON-lines file (``{"id": ..., other keys}``) or the dataset (caption, label names, image
path, row). A new index is built in a hidden sibling directory and renamed into place when
complete: a failure leaves no half-built index (and never touches an existing one).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distilhash.codes import Encoded
from distilhash.errors import ConfigError, DataError

if TYPE_CHECKING:
    from distilhash.data.dataset import CrossModalDataset

__all__ = ["IndexItems", "load_items", "dataset_metadata", "metadata_from_file", "default_part", "build_index",
           "add_items", "INDEX_MODALITIES"]

INDEX_MODALITIES = ("image", "text")


@dataclass
class IndexItems:
    """Items to store: ``ids[i]`` has database code row ``i`` of ``codes`` and metadata ``metadata[i]``."""

    ids: list[str]
    codes: Encoded
    metadata: list[dict[str, Any]]
    provenance: dict[str, Any] = field(default_factory=dict)  # modality, part, codes_file / teacher, dataset_items


def dataset_metadata(dataset: str | CrossModalDataset, rows: list[int]) -> list[dict[str, Any]]:
    """Per row: ``{"dataset", "row", "caption"?, "display_caption"?, "labels"?, "image"?}`` (image path of
    file-backed datasets; ``display_caption``: the cleaned caption shown to people, when the dataset has one).

    ``dataset``: a prepared dataset's name or directory, or an open dataset."""
    if isinstance(dataset, str):
        from distilhash.data.store import open_prepared

        ds, _ = open_prepared(dataset)
    else:
        ds = dataset
    out = []
    for i in rows:
        md: dict[str, Any] = {"dataset": ds.name, "row": int(i)}
        if ds.texts:
            md["caption"] = ds.texts[i]
        if ds.display_texts is not None and ds.display_texts[i]:
            md["display_caption"] = ds.display_texts[i]
        if ds.num_labels:
            md["labels"] = [ds.label_names[j] for j in ds.labels[i].nonzero()[0]]
        image_file = ds.images.path(int(i))
        if image_file is not None:
            md["image"] = str(image_file)
        out.append(md)
    return out


def metadata_from_file(path: str | Path, ids: list[str]) -> list[dict[str, Any]]:
    """Metadata of ``ids`` from a JSON-lines file of objects with an ``"id"`` key (every id must be there)."""
    from distilhash.io_utils import read_json_lines

    by_id: dict[str, dict[str, Any]] = {}
    for n, obj in read_json_lines(path):
        if "id" not in obj:
            raise DataError(f"{path}:{n}: expected a JSON object with an 'id' key")
        by_id[str(obj.pop("id"))] = obj
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DataError(f"{path} has no metadata for {len(missing)} ids, e.g. {missing[:5]}")
    return [by_id[i] for i in ids]


def default_part(split) -> str:
    """``retrieval`` for a benchmark split (queries are held out of the database), else ``all``.

    An own collection is indexed whole: its split only serves training and evaluation.
    """
    return "retrieval" if split.spec.origin.startswith("preset:") or not split.spec.origin else "all"


def load_items(codes: str | Path | None = None, model: str | Path | None = None, dataset: str | None = None,
               part: str | None = None, modality: str = "image", teacher: str | None = None,
               features: str | Path | None = None, metadata: str | Path | None = None, engine: str = "local",
               engine_options: dict[str, Any] | None = None) -> IndexItems:
    """Items from an encoded file (``codes``), or by encoding ``part`` of ``dataset``'s features with ``model``.

    ``teacher`` (whose feature cache is encoded) defaults to the one ``model`` was trained on.
    ``engine`` encodes: ``local`` (this process) or ``ray`` (actors on a Ray cluster, ``engine_options``
    ``address``, ``workers``, ``num_cpus``; see :data:`distilhash.pipeline.encode_engines.ENCODE_ENGINES`).
    """
    from distilhash.pipeline.encode_engines import ENCODE_ENGINES

    if engine not in ENCODE_ENGINES:
        raise ConfigError(f"encoding engine {engine!r}; expected one of {', '.join(ENCODE_ENGINES.declared())}")
    if modality not in INDEX_MODALITIES:
        raise DataError(f"--modality {modality!r}; expected image or text")
    prov: dict[str, Any] = {"modality": modality}
    if codes is not None:
        from distilhash.codes_file import load_encoded

        if engine != "local":
            raise ConfigError(f"the {engine} engine encodes cached features (a model with a dataset); the codes in "
                              f"{codes} are already encoded")
        encoded, info = load_encoded(codes)
        if modality not in encoded:
            raise DataError(f"{codes} holds no {modality} codes (has: {', '.join(encoded)})")
        if info["role"] != "database":
            raise DataError(f"{codes} holds role={info['role']!r} codes; an index stores role='database' codes")
        enc, ids, rows = encoded[modality], info["ids"], info["indices"].tolist()
        prov.update(codes_file=str(codes), part=info["part"])
    elif model is not None and dataset is not None:
        from distilhash.pipeline.encode_engines import encode_with_engine
        from distilhash.methods.base import load_method
        from distilhash.pipeline.encode import part_indices
        from distilhash.pipeline.inputs import load_features_and_split, teacher_for_model
        from distilhash.threads import set_threads

        set_threads(2)
        method = load_method(model)
        ds, split, feats, _ = load_features_and_split(dataset, teacher_for_model(model, teacher), features)
        part = part or default_part(split)
        idx = part_indices(split, part, len(feats))
        enc = encode_with_engine(engine, model, feats, idx, modality, "database", method=method, dataset=ds,
                                 **(engine_options or {}))
        ids, rows = [feats.ids[i] for i in idx], idx.tolist()
        prov.update(part=part, teacher=feats.teacher, dataset_items=len(feats), engine=engine)
    else:
        raise ConfigError("give --codes FILE, or --model DIR with --dataset NAME")
    if metadata is not None:
        md = metadata_from_file(metadata, ids)
    elif dataset is not None:
        md = dataset_metadata(dataset, rows)
    else:
        md = [{} for _ in ids]
    return IndexItems(ids, enc, md, prov)


def _staging_dir(index_dir: Path) -> Path:
    """A fresh sibling directory to build ``index_dir`` in (renamed into place on success)."""
    return index_dir.parent / f".{index_dir.name}.building-{os.getpid()}-{time.time_ns()}"


def _move_into_place(staging: Path, index_dir: Path) -> None:
    """Rename the finished index onto ``index_dir`` (which may exist only as an empty directory)."""
    if index_dir.exists():
        if not index_dir.is_dir() or any(index_dir.iterdir()):
            raise ConfigError(f"{index_dir} appeared while the index was built and is not empty; the new index is "
                              f"left in {staging}")
        index_dir.rmdir()
    os.replace(staging, index_dir)


@contextmanager
def _staged(index_dir: Path) -> Iterator[Path]:
    """A fresh hidden staging directory to build ``index_dir`` in, renamed into place when the block succeeds
    (removed when it fails; kept, and named by the error, when ``index_dir`` appeared meanwhile)."""
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    staging: Path | None = _staging_dir(index_dir)
    try:
        yield staging
        try:
            _move_into_place(staging, index_dir)
        except ConfigError:
            staging = None  # the message points the user at the finished index: keep it
            raise
        staging = None
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)  # only ever the hidden directory this call created


def build_index(index_dir: str | Path, *, codes: str | Path | None = None, model: str | Path | None = None,
                dataset: str | None = None, part: str | None = None, modality: str = "image",
                teacher: str | None = None, features: str | Path | None = None, metadata: str | Path | None = None,
                shards: int = 1, engine: str = "local", engine_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create a new index at ``index_dir`` (absent or empty) holding the items of :func:`load_items`.

    ``shards > 1`` builds a sharded index (items routed by id hash). ``engine``/``engine_options``:
    how a model encodes the features (:func:`load_items`; ``ray``: the same codes, encoded by Ray
    actors). Returns ``{"info": the index's info(), "items": count, "seconds", "provenance"}``.
    """
    from distilhash.index import create_index, create_sharded_index, open_index

    index_dir = Path(index_dir)
    if (index_dir / "manifest.json").exists():
        raise ConfigError(f"{index_dir} already holds an index; add items with `distilhash index add`, or choose "
                          "another directory")
    if index_dir.exists() and (not index_dir.is_dir() or any(index_dir.iterdir())):
        raise ConfigError(f"{index_dir} exists and is not an empty directory; choose another directory")
    from distilhash.pipeline.encode_engines import SHARD_WRITERS

    if shards > 1 and engine in SHARD_WRITERS and codes is None and metadata is None and model is not None \
            and dataset is not None:  # the engine's workers write the shards; nothing passes through this process
        return _build_on_workers(index_dir, engine, shards, engine_options, model=model, dataset=dataset, part=part,
                                 modality=modality, teacher=teacher, features=features)
    items = load_items(codes, model, dataset, part, modality, teacher, features, metadata, engine, engine_options)
    enc = items.codes
    model_dir = str(Path(model).resolve()) if model is not None else None
    if model is not None:
        from distilhash.pipeline.inputs import teacher_for_model

        teacher = teacher_for_model(model) or teacher  # the query encoder must use the model's own teacher
    t0 = time.perf_counter()
    if not enc.kind.indexable:
        raise DataError(enc.kind.not_indexable_message(str(model) if model is not None else None))
    with _staged(index_dir) as staging:
        make = create_index
        if shards > 1:
            from functools import partial

            make = partial(create_sharded_index, n_shards=shards)
        idx = make(staging, kind=enc.kind, n_bits=None if enc.kind.needs_codebooks else enc.n_bits,
                   codebooks=enc.codebooks, metric=enc.metric, model_dir=model_dir, teacher=teacher,
                   extra={**items.provenance, "dataset": dataset})
        with idx:
            idx.add(items.ids, enc, items.metadata, snapshot=True)  # one checksummed snapshot, not one huge log record
    seconds = time.perf_counter() - t0
    with open_index(index_dir) as done:
        info = done.info()
    return {"info": info, "items": len(items.ids), "seconds": seconds, "provenance": items.provenance}


def _build_on_workers(index_dir: Path, engine: str, shards: int, engine_options: dict[str, Any] | None,
                      **what: Any) -> dict[str, Any]:
    """:func:`build_index` by the engine's shard writers (:data:`~distilhash.pipeline.encode_engines.SHARD_WRITERS`)."""
    from distilhash.index import open_index
    from distilhash.pipeline.encode_engines import SHARD_WRITERS

    if what["modality"] not in INDEX_MODALITIES:
        raise DataError(f"--modality {what['modality']!r}; expected image or text")
    t0 = time.perf_counter()
    with _staged(index_dir) as staging:
        done = SHARD_WRITERS.get(engine)(staging, n_shards=shards, **what, **(engine_options or {}))
    seconds = time.perf_counter() - t0
    with open_index(index_dir) as ix:
        info = ix.info()
    return {"info": info, "items": done["items"], "seconds": seconds, "provenance": done["provenance"],
            "engine_run": done["run"]}


def add_items(index_dir: str | Path, *, codes: str | Path | None = None, model: str | Path | None = None,
              dataset: str | None = None, part: str | None = None, modality: str | None = None,
              teacher: str | None = None, features: str | Path | None = None,
              metadata: str | Path | None = None) -> tuple[IndexItems, int]:
    """Add items to an existing index (durable on return); ``(items added, index size after)``.

    ``modality`` defaults to the index's; ``model`` to the index's when encoding ``dataset``.
    Ids already in the index are refused.
    """
    from distilhash.index import open_index

    with open_index(index_dir, writable=True) as idx:
        mod = modality or idx.manifest.get("extra", {}).get("modality", "image")
        mdl = model or (Path(idx.manifest["model_dir"]) if idx.manifest.get("model_dir") and dataset and not codes else None)
        items = load_items(codes, mdl, dataset, part, mod, teacher, features, metadata)
        idx.add(items.ids, items.codes, items.metadata)
        return items, len(idx)
