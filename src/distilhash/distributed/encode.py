"""Encode a database in parallel on Ray and build a sharded index from the codes.

    path = build_sharded_index_ray("runs/dcmq64", feats, rows, "runs/ix-sharded", n_shards=4)
    enc = encode_with_engine("ray", "runs/dcmq64", feats, rows, "image")   # what `index build --engine ray` uses

The encoding engines (:data:`ENCODE_ENGINES`): ``local`` encodes in this process
(``method.encode_dataset_rows``); ``ray`` sends parts of the rows to W model-holding actors on a Ray cluster
(``address``, ``$RAY_ADDRESS``, or a local cluster started for the call) and concatenates their
codes in row order. The engines give the same codes (tested item by item): parts of 65536 rows are
multiples of the 8192- and 4096-row chunks the torch methods encode in, so every matrix product
sees the same rows in both.

W actors each load the trained model once; the driver sends them parts of the database's teacher
features (``part_size`` rows), gathers the codes in database order, and adds them to a new
:class:`~distilhash.distributed.sharded_index.ShardedIndex` (each item to its owning shard, global
order = database order, so search results equal one index built from the same rows). Methods
that encode raw pixels or texts (``capabilities.input == "raw"``, e.g. lcdh) are not supported here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import Encoded
from distilhash.distributed.pool import PoolWorker
from distilhash.errors import ConfigError, DataError

__all__ = ["build_sharded_index_ray", "encode_parallel", "encode_with_engine", "ENCODE_ENGINES", "EncodeWorker"]


class EncodeWorker(PoolWorker):
    """Actor body: one trained model encoding feature rows."""

    def __init__(self, model_dir: str, threads: int) -> None:
        from distilhash.threads import limit_threads
        from distilhash.methods.base import load_method

        limit_threads(max(1, threads))
        self.method = load_method(model_dir)
        if type(self.method).capabilities.input == "raw":
            raise ConfigError(f"{model_dir}: {self.method.name} encodes raw pixels/texts; parallel encoding reads cached features")

    def encode(self, part: int, modality: str, features: np.ndarray, role: str) -> tuple[int, Encoded]:
        return part, self.method.encode(modality, np.asarray(features, dtype=np.float32), role)


def encode_parallel(ray: Any, model_dir: str | Path, features: np.ndarray, modality: str, role: str = "database",
                    part_size: int = 65536, workers: int | None = None, cpus_per_worker: float = 1.0,
                    progress: bool = True, on_part: Callable[[int, list[int]], None] | None = None) -> Encoded:
    """Codes of ``features`` (float32 ``[N, D]``) by the model in ``model_dir``, encoded by W actors, in row order.

    Survives lost workers and nodes (:class:`~distilhash.distributed.pool.WorkerPool`: a lost
    part is encoded again on a remaining worker; the codes do not depend on which worker).
    ``on_part(part, worker pids)`` is called as each part arrives (tests, monitoring).
    """
    from distilhash.distributed.pool import WorkerPool
    from distilhash.distributed.preflight import check_nodes

    n = len(features)
    if n == 0:
        raise DataError("nothing to encode: 0 feature rows")
    check_nodes(ray, paths={"model": model_dir}, need_home="DISTILHASH_HOME" in os.environ)
    pool = WorkerPool(ray, EncodeWorker, (str(Path(model_dir).resolve()),), cpus_per_worker=cpus_per_worker,
                      workers=workers, label="encoding", say=print if progress else None)
    ranges = [(s, min(n, s + part_size)) for s in range(0, n, part_size)]
    parts: dict[int, Encoded] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=f"encode {modality} on {pool.fit.workers} Ray workers", unit="item")

    def done(p: Any, result: tuple[int, Encoded]) -> None:
        parts[int(p)] = result[1]
        if bar is not None:
            bar.update(len(result[1]))
        if on_part is not None:
            on_part(int(p), pool.pids())

    try:
        pool.run([(p, "encode", (p, modality, features[s:e], role)) for p, (s, e) in enumerate(ranges)], done)
    finally:
        pool.close()
        if bar is not None:
            bar.close()
    first = parts[0]
    data = np.concatenate([parts[p].data for p in range(len(ranges))])
    return Encoded(first.kind, data, first.n_bits, first.codebooks, first.metric)


def _encode_local(model_dir: str | Path, features, rows: np.ndarray, modality: str, role: str, *, method: Any = None,
                  dataset: Any = None, **_: Any) -> Encoded:
    from distilhash.methods.base import load_method

    method = method or load_method(model_dir)
    return method.encode_dataset_rows(modality, rows, role, features=features, dataset=dataset)


def _encode_ray(model_dir: str | Path, features, rows: np.ndarray, modality: str, role: str, *, method: Any = None,
                address: str | None = None, workers: int | None = None, num_cpus: int | None = None,
                part_size: int = 65536, progress: bool = True, **_: Any) -> Encoded:
    from distilhash.distributed.runtime import ray_session

    if method is not None and type(method).capabilities.input == "raw":
        raise ConfigError(f"{model_dir}: {method.name} reads raw pixels / words; the ray engine encodes cached teacher "
                          "features (use the local engine)")
    if modality not in ("image", "text"):
        raise DataError(f"modality {modality!r}; expected image or text")
    x = np.ascontiguousarray(getattr(features, modality)[rows])
    with ray_session(address, num_cpus) as ray:
        return encode_parallel(ray, model_dir, x, modality, role, part_size=part_size, workers=workers, progress=progress)


#: engine name -> ``f(model_dir, features: FeatureSet, rows, modality, role, **options) -> Encoded``
ENCODE_ENGINES: dict[str, Callable[..., Encoded]] = {"local": _encode_local, "ray": _encode_ray}


def encode_with_engine(engine: str, model_dir: str | Path, features, rows, modality: str, role: str = "database",
                       **options: Any) -> Encoded:
    """Codes of dataset rows ``rows`` (int ``[N]``) by the model saved in ``model_dir``, in row order.

    Args:
        engine: a key of :data:`ENCODE_ENGINES`: ``local`` (this process) or ``ray``.
        features: the dataset's :class:`~distilhash.teachers.features.FeatureSet`.
        options: ``method`` (the model, already loaded); ``dataset`` (local engine, for models that
            read raw pixels / words); ``address``, ``workers``, ``num_cpus`` (of a local cluster),
            ``part_size``, ``progress`` (ray engine).
    """
    if engine not in ENCODE_ENGINES:
        raise ConfigError(f"unknown encoding engine {engine!r}; expected one of {', '.join(ENCODE_ENGINES)}")
    return ENCODE_ENGINES[engine](model_dir, features, np.asarray(rows, dtype=np.int64), modality, role, **options)


def build_sharded_index_ray(model_dir: str | Path, features, rows: np.ndarray, out_dir: str | Path, n_shards: int,
                            modality: str = "image", *, metadata: list[dict[str, Any]] | None = None,
                            part_size: int = 65536, workers: int | None = None, address: str | None = None,
                            num_cpus: int | None = None, progress: bool = True, extra: dict[str, Any] | None = None) -> Path:
    """Encode rows ``rows`` of a :class:`FeatureSet` in parallel and build an ``n_shards``-shard index in ``out_dir``.

    Item ids are ``features.ids[rows]``; metadata defaults to ``{"row": dataset row}``.
    """
    from distilhash.distributed.sharded_index import create_sharded_index

    rows = np.asarray(rows, dtype=np.int64)
    if modality not in ("image", "text"):
        raise DataError(f"modality {modality!r}; expected image or text")
    enc = encode_with_engine("ray", model_dir, features, rows, modality, address=address, workers=workers,
                             num_cpus=num_cpus, part_size=part_size, progress=progress)
    if enc.kind not in ("binary", "pq"):
        raise DataError(f"an index stores binary or pq codes; this model gives {enc.kind!r} database codes")
    meta = json.loads((Path(model_dir) / "method.json").read_text())
    ids = [features.ids[i] for i in rows]
    md = metadata if metadata is not None else [{"row": int(i)} for i in rows]
    with create_sharded_index(out_dir, n_shards, kind=enc.kind, n_bits=enc.n_bits if enc.kind == "binary" else None,
                              codebooks=enc.codebooks, metric=enc.metric, model_dir=str(Path(model_dir).resolve()),
                              teacher=meta.get("teacher"), extra={"modality": modality, **(extra or {})}) as idx:
        idx.add(ids, enc, md)
    return Path(out_dir)
