"""Parallel shard writers: a sharded index built by the Ray workers, the driver writing only ``sharded.json``.

    prov = build_sharded_ray(staging, store, n_shards=8, model_dir="runs/dcmq64", ids_path=..., dataset="photos")

What ``index build --engine ray --shards S`` runs (:data:`distilhash.pipeline.encode_engines.SHARD_WRITERS`).
Two rounds of work on one pool of model-holding actors (:class:`ShardWorker`):

1. **encode** part ``p`` (a row range of the :class:`~distilhash.distributed.encode.RowStore`): the
   worker reads the rows itself, encodes them, looks up their ids and metadata, numbers them with
   their global insertion number ``g`` (the item's position in the build, as one process's
   ``ShardedIndex.add`` numbers them) and writes one *bucket* per shard, ``.buckets/p00007-s003.npz``
   (codes, ``g``, ids and metadata of the part's items that shard ``blake2b(id) mod S`` owns),
   atomically; it returns each bucket's item count and sha256, nothing else.
2. **write** shard ``s``: the worker reads the buckets of ``s`` in part order, checks each against
   the sha256 the driver got in round 1 (a bucket rewritten by a stale attempt is refused, not
   mixed in), builds the shard as a normal index (one checksummed snapshot, exactly what
   ``CodeIndex.add(..., snapshot=True)`` writes) and its ``order-NNN.bin`` in a directory of its
   own, ``.buckets/shard-NNN.attempt-<uuid4>``, verifies the shard
   (:func:`~distilhash.index.core.verify_index`: every file against its checksum, the count it
   must hold) and reports the attempt's name, the shard's uuid and count. A writer never touches
   ``shard-NNN`` itself.
3. **adopt** (the driver, :func:`adopt_shards`): for each shard, exactly the attempt whose result
   it received is renamed to ``shard-NNN`` / ``order-NNN.bin`` and checked (uuid, count); then
   ``sharded.json``, the commit point, is written and ``.buckets`` (other attempts included) removed.

The driver holds neither features nor codes: it passes paths and row ranges, collects counts and
checksums and renames directories. ``sharded.json`` makes the directory an index (without it, it
is none; ``build_index`` renames the whole staging directory into place afterwards). A crash or
a lost node at any point leaves either shards that were verified complete or hidden directories
that are never read; a lost part or shard is redone on a remaining worker (:class:`WorkerPool`),
and redoing it writes the same bytes. A lost writer that was only frozen and wakes up later
finishes into its own attempt directory, which the driver never adopts (or, once ``.buckets`` is
gone, writes nothing): it cannot replace a shard the driver checked. The result is the index one
process builds from the same items in the same order (same shards, ids, codes, metadata and
global order; tested search by search).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import Encoded
from distilhash.distributed.encode import EncodeWorker, RowStore, part_ranges, read_rows
from distilhash.errors import IndexCorruptError
from distilhash.io_utils import fsync_dir, sha256_file
from distilhash.pipeline.encode_engines import SHARD_WRITERS

__all__ = ["ShardWorker", "adopt_shards", "build_sharded_ray", "write_shards_ray", "BUCKETS"]

BUCKETS = ".buckets"


def _bucket_path(out: Path, p: int, s: int) -> Path:
    return out / BUCKETS / f"p{p:05d}-s{s:03d}.npz"


def _save_bucket(path: Path, codes: np.ndarray, g: np.ndarray, ids: list[str], metadata: list[dict[str, Any]]) -> str:
    """Write one bucket atomically (temporary file, fsync, rename); returns its sha256."""
    items = json.dumps({"ids": ids, "metadata": metadata}, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with open(tmp, "wb") as f:
        np.savez(f, codes=codes, g=g, items=np.frombuffer(items, dtype=np.uint8))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return sha256_file(path)


def _load_bucket(path: Path, digest: str) -> tuple[np.ndarray, np.ndarray, list[str], list[dict[str, Any]]]:
    if sha256_file(path) != digest:
        raise IndexCorruptError(f"{path} does not match the checksum its writer reported; the build is refused")
    with np.load(path) as z:
        items = json.loads(z["items"].tobytes())
        return z["codes"], z["g"], items["ids"], items["metadata"]


def _new_attempt(out: Path, s: int) -> Path:
    """A new, empty directory for one attempt at shard ``s``, inside ``.buckets``. Never its parents: a build
    that finished (or was abandoned) removed ``.buckets``, and a writer that wakes up then writes nothing."""
    from distilhash.index.sharded import shard_name

    d = out / BUCKETS / f"{shard_name(s)}.attempt-{uuid.uuid4().hex}"
    try:
        d.mkdir()
    except FileNotFoundError:
        raise IndexCorruptError(f"shard {s}: {out / BUCKETS} is gone (its build finished or was abandoned); "
                                "nothing written") from None
    return d


def adopt_shards(out: Path, written: dict[int, dict[str, Any]]) -> None:
    """Rename exactly the attempts in ``written`` (shard -> its writer's result) to ``shard-NNN`` and
    ``order-NNN.bin`` in ``out``, checking each is the shard its writer verified (uuid, count).

    Any other attempt (a lost writer's that finished after all) stays in ``.buckets``, never read.
    Raises IndexCorruptError when an attempt is missing or differs, or a ``shard-NNN`` is already there.
    """
    from distilhash.index.sharded import order_name, shard_name

    for s, r in sorted(written.items()):
        name = str(r["attempt"])
        attempt, final = out / BUCKETS / name, out / shard_name(s)
        if Path(name).name != name or not name.startswith(f"{shard_name(s)}.attempt-"):
            raise IndexCorruptError(f"shard {s}: its writer reported the attempt {name!r}; the build is refused")
        if final.exists():
            raise IndexCorruptError(f"{final} exists before its shard was adopted; the build is refused")
        if not (attempt / shard_name(s) / "manifest.json").is_file():
            raise IndexCorruptError(f"shard {s}: {attempt} holds no shard (its writer reported one); the build is refused")
        if (attempt / order_name(s)).exists():  # an empty shard has no order file
            os.replace(attempt / order_name(s), out / order_name(s))
        os.replace(attempt / shard_name(s), final)
        m = json.loads((final / "manifest.json").read_text())
        if m["uuid"] != r["uuid"] or m["count"] != r["count"]:
            raise IndexCorruptError(f"{final} is not the shard its writer verified; the build is refused")
    fsync_dir(out)


def _discard_work(out: Path) -> None:
    """Remove ``.buckets`` after the commit (retried: a late writer that passed its check may still add a file)."""
    for _ in range(3):
        shutil.rmtree(out / BUCKETS, ignore_errors=True)
        if not (out / BUCKETS).exists():
            return
        time.sleep(0.5)


class ShardWorker(EncodeWorker):
    """Actor body: the model, the store's ids, and the two rounds of :mod:`.shard_writers`."""

    def __init__(self, model_dir: str, ids_path: str, dataset: str | None, threads: int) -> None:
        super().__init__(model_dir, threads)
        self.ids_path, self.dataset = ids_path, dataset
        self._ids: list[str] | None = None

    def _ids_of(self, rows: np.ndarray) -> list[str]:
        if self._ids is None:
            self._ids = json.loads(Path(self.ids_path).read_text())
        return [str(self._ids[int(r)]) for r in rows]

    def encode_buckets(self, p: int, modality: str, path: str, sel: tuple[int, int] | np.ndarray, role: str,
                       start: int, n_shards: int, out: str) -> dict[str, Any]:
        """Round 1 for part ``p`` (positions from ``start``): ``{"buckets": {s: [count, sha256]}, "meta": code facts}``."""
        from distilhash.index.sharded import shard_of
        from distilhash.pipeline.index import dataset_metadata

        enc = self.method.encode(modality, read_rows(self._stores, path, sel), role)
        rows = np.arange(sel[0], sel[1]) if isinstance(sel, tuple) else np.asarray(sel)
        ids = self._ids_of(rows)
        md = dataset_metadata(self.dataset, rows.tolist()) if self.dataset is not None else [{} for _ in ids]
        g = start + np.arange(len(ids), dtype=np.int64)
        owner = np.array([shard_of(i, n_shards) for i in ids], dtype=np.int64)
        buckets = {}
        for s in range(n_shards):
            take = np.flatnonzero(owner == s)
            digest = _save_bucket(_bucket_path(Path(out), p, s), enc.data[take], g[take],
                                  [ids[t] for t in take], [md[t] for t in take])
            buckets[s] = [int(take.size), digest]
        meta = {"kind": str(enc.kind), "n_bits": enc.n_bits, "codebooks": enc.codebooks, "metric": enc.metric}
        return {"buckets": buckets, "meta": meta}

    def write_shard(self, s: int, out: str, buckets: list[tuple[int, int, str]], meta: dict[str, Any],
                    index: dict[str, Any]) -> dict[str, Any]:
        """Round 2: shard ``s`` from its buckets ``(part, count, sha256)``, verified, in a new attempt directory
        (``{"shard", "count", "uuid", "attempt"}``; the driver adopts it, :func:`adopt_shards`)."""
        from distilhash.index.shard_order import ORDER_KEY, ShardOrder
        from distilhash.index.sharded import order_name, shard_name

        out_dir = Path(out)
        attempt = _new_attempt(out_dir, s)
        try:
            parts = [_load_bucket(_bucket_path(out_dir, p, s), digest) for p, _, digest in buckets]
            codes = np.concatenate([c for c, *_ in parts]) if parts else np.zeros((0, 0), np.uint8)
            g = np.concatenate([x for _, x, *_ in parts]).astype(np.int64)
            ids = [i for *_, part_ids, _ in parts for i in part_ids]
            md = [{**m, ORDER_KEY: int(x)} for _, gs, _, ms in parts for m, x in zip(ms, gs)]
            want = sum(c for _, c, _ in buckets)
            if len(ids) != want or len(codes) != want:
                raise IndexCorruptError(f"shard {s}: buckets hold {len(ids)} items, their writers reported {want}")
            uid, seqs = self._write_verified(attempt / shard_name(s), s, ids, codes, md, meta, index)
            ShardOrder(attempt / order_name(s), np.zeros(0, np.int64)).append(seqs, g)  # durable on return
        except BaseException:
            shutil.rmtree(attempt, ignore_errors=True)
            raise
        return {"shard": s, "count": want, "uuid": uid, "attempt": attempt.name}

    @staticmethod
    def _write_verified(tmp: Path, s: int, ids: list[str], codes: np.ndarray, md: list[dict[str, Any]],
                        meta: dict[str, Any], index: dict[str, Any]) -> tuple[str, np.ndarray]:
        """Shard ``s`` as a new index in ``tmp``, checked by :func:`verify_index`; (its uuid, its items' seqs)."""
        from distilhash.index import create_index
        from distilhash.index.core import verify_index
        from distilhash.index.sharded import shard_extra

        want = len(ids)
        kind = meta["kind"]
        needs_books = meta["codebooks"] is not None
        with create_index(tmp, kind=kind, n_bits=None if needs_books else meta["n_bits"], codebooks=meta["codebooks"],
                          metric=meta["metric"], model_dir=index["model_dir"], teacher=index["teacher"],
                          extra=shard_extra(index["extra"], s, index["n_shards"])) as shard:
            if want:
                shard.add(ids, Encoded(kind, codes, meta["n_bits"], meta["codebooks"], meta["metric"]), md, snapshot=True)
            seqs = shard.row_seqs(np.arange(want)) if want else np.zeros(0, np.int64)
            uid = shard.manifest["uuid"]
        report = verify_index(tmp)
        found = json.loads((tmp / "manifest.json").read_text())
        if report.problems or found["count"] != want:
            raise IndexCorruptError(f"shard {s} written in {tmp} does not verify ({report.problems[:3]}, "
                                    f"{found['count']} items of {want})")
        return uid, seqs


def build_sharded_ray(ray: Any, out: Path, store: RowStore, *, n_shards: int, model_dir: str | Path, ids_path: str | Path,
                      dataset: str | None, modality: str, teacher: str | None, extra: dict[str, Any],
                      workers: int | None = None, cpus_per_worker: float = 1.0, part_size: int = 65536,
                      progress: bool = True, check: bool = True, on_part: Any = None) -> dict[str, Any]:
    """Write a complete ``n_shards``-shard index of ``store``'s rows into the empty directory ``out`` (module docstring).

    ``ids_path``: JSON list of every store row's id (the feature cache's ``ids.json``); ``dataset``:
    where each item's metadata comes from (:func:`~distilhash.pipeline.index.dataset_metadata`; None: no metadata).
    Returns ``{"items", "parts", "workers", "workers_lost", "parts_retried", "kind"}``.
    """
    from distilhash.distributed.encode import progress_bar, start_pool
    from distilhash.errors import DataError
    from distilhash.index.sharded import write_sharded_manifest

    out = Path(out).resolve()
    (out / BUCKETS).mkdir(parents=True, exist_ok=True)
    n = len(store)
    if n == 0:
        raise DataError("nothing to index: 0 feature rows")
    model_dir = str(Path(model_dir).resolve())
    pool = start_pool(ray, model_dir, store, workers, cpus_per_worker, progress, check, actor_cls=ShardWorker,
                      args=(str(Path(ids_path).resolve()), None if dataset is None else str(dataset)))
    ranges = part_ranges(n, pool.fit.workers, part_size)
    encoded: dict[int, dict[str, Any]] = {}
    written: dict[int, dict[str, Any]] = {}
    bar = progress_bar(progress, n, f"encode {modality} into {n_shards} shards on {pool.fit.workers} Ray workers")

    def got_part(p: Any, result: dict[str, Any]) -> None:
        encoded[int(p)] = result
        if bar is not None:
            bar.update(ranges[int(p)][1] - ranges[int(p)][0])
        if on_part is not None:
            on_part(int(p), pool.pids())

    try:
        pool.run([(p, "encode_buckets", (p, modality, store.path, store.selection(s, e), "database", s, n_shards, str(out)))
                  for p, (s, e) in enumerate(ranges)], got_part)
        meta = encoded[0]["meta"]
        from distilhash.codes import CodeKind

        if not CodeKind(meta["kind"]).indexable:
            raise DataError(CodeKind(meta["kind"]).not_indexable_message(str(model_dir)))
        index = {"model_dir": model_dir, "teacher": teacher, "extra": extra, "n_shards": n_shards}
        jobs = []
        for s in range(n_shards):
            buckets = [(p, *encoded[p]["buckets"][s]) for p in range(len(ranges))]
            jobs.append((s, "write_shard", (s, str(out), buckets, meta, index)))
        pool.run(jobs, lambda s, r: written.__setitem__(int(s), r))
        lost, retried, fitted = pool.lost, pool.retried, pool.fit.workers
    finally:
        pool.close()
        if bar is not None:
            bar.close()
    adopt_shards(out, written)  # exactly the attempts whose results came back; never a lost writer's
    write_sharded_manifest(out, n_shards, meta["kind"], model_dir, teacher, extra, next_gseq=n)
    _discard_work(out)
    return {"items": n, "parts": len(ranges), "workers": fitted, "workers_lost": lost, "parts_retried": retried,
            "kind": meta["kind"]}


def write_shards_ray(staging: Path, *, model: str | Path, dataset: str, part: str | None, modality: str,
                     teacher: str | None, features: str | Path | None, n_shards: int, address: str | None = None,
                     workers: int | None = None, num_cpus: int | None = None, part_size: int = 65536,
                     progress: bool = True, **_: Any) -> dict[str, Any]:
    """``index build --engine ray --shards S``: ``part`` of ``dataset``'s cached features, encoded and written
    into ``staging`` by Ray workers (:func:`build_sharded_ray`); ``{"items", "provenance", "run"}``."""
    from distilhash.distributed.encode import feature_store
    from distilhash.distributed.head_watch import note as head_note
    from distilhash.distributed.runtime import ray_session
    from distilhash.errors import ConfigError
    from distilhash.methods.base import load_method
    from distilhash.pipeline.encode import part_indices
    from distilhash.pipeline.index import default_part
    from distilhash.pipeline.inputs import load_features_and_split, teacher_for_model

    method = load_method(model)
    if method.capabilities.input == "raw":
        raise ConfigError(f"{model}: {method.name} reads raw pixels / words; the ray engine encodes cached teacher "
                          "features (use the local engine)")
    _, split, feats, path = load_features_and_split(dataset, teacher_for_model(model, teacher), features, mmap=True)
    part = part or default_part(split)
    rows = part_indices(split, part, len(feats))
    store = feature_store(feats, modality, rows)
    prov = {"modality": modality, "part": part, "teacher": feats.teacher, "dataset_items": len(feats), "engine": "ray"}
    with ray_session(address, num_cpus) as ray:
        head_note(f"The index is not written; delete its unfinished staging directory {staging} (the rerun "
                  "encodes and writes every shard again)")
        run = build_sharded_ray(ray, staging, store, n_shards=n_shards, model_dir=model, ids_path=Path(path) / "ids.json",
                                dataset=dataset, modality=modality, teacher=teacher_for_model(model) or teacher,
                                extra={**prov, "dataset": dataset}, workers=workers, part_size=part_size,
                                progress=progress)
    return {"items": run["items"], "provenance": prov, "run": run}


SHARD_WRITERS.register("ray")(write_shards_ray)
