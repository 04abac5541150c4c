"""The ``ray`` encoding engine: a database encoded in parallel by model-holding Ray actors, streaming.

    store = RowStore("/shared/features/image.npy", rows)          # what to encode: a path and row numbers
    enc = encode_parallel(ray, "runs/dcmq64", store, "image")     # codes in row order
    enc = encode_with_engine("ray", "runs/dcmq64", feats, rows, "image")   # what `index build --engine ray` uses

The engines are declared in :data:`distilhash.pipeline.encode_engines.ENCODE_ENGINES` (``local``
lives there); this module registers ``ray``. W actors each load the trained model once; the
driver sends each a *part*: the store's path and a row range (or the part's row numbers), never
the features. The actor reads those rows from the ``.npy`` itself (memory-mapped; the file must
be readable at the same path on every node, like the dataset and model), encodes them and
returns the codes, which the driver places in row order. So no process holds all the features;
the driver holds the codes (:mod:`distilhash.distributed.shard_writers` keeps even those on the
workers for a sharded index).

The engines give the same codes (tested item by item): part sizes are multiples of the 8192-row
chunks the torch methods encode in (:func:`part_ranges`), so every matrix product sees the same
rows in both. Parts are sized so that every worker gets several (the last ones balance the
workers' finishing times), at most ``part_size`` rows. Methods that encode raw pixels or texts
(``capabilities.input == "raw"``, e.g. lcdh) are not supported here.

Fixed costs, paid once per call: no separate node check (each worker checks its own node as it
starts: same code as the driver, model and store readable; a difference is a ClusterError naming
the node before its results are used), and parts are queued on each actor as soon as it is
created (Ray runs them once its ``__init__`` is done), so no round trip waits between start-up
and the first part.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import Encoded
from distilhash.distributed.pool import PoolWorker
from distilhash.errors import ConfigError, DataError
from distilhash.pipeline.encode_engines import ENCODE_ENGINES

__all__ = ["encode_parallel", "encode_ray", "EncodeWorker", "RowStore", "part_ranges", "CHUNK"]

#: rows the torch methods encode per matrix product; parts are multiples of it (same codes as one process).
CHUNK = 8192


@dataclass(frozen=True)
class RowStore:
    """Rows to encode: ``rows`` (int64 ``[n]``, None: all) of the float32 ``[N, D]`` ``.npy`` at ``path``.

    ``path`` must be readable at the same path on every node (a shared file system).
    """

    path: str
    rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        p = Path(self.path)
        if not p.is_file() or p.suffix != ".npy":
            raise DataError(f"{self.path}: expected a .npy file of float32 feature rows [N, D]")
        if self.rows is not None:
            object.__setattr__(self, "rows", np.ascontiguousarray(self.rows, dtype=np.int64))

    def shape(self) -> tuple[int, int]:
        """(N, D) of the whole file (its header only is read)."""
        a = np.load(self.path, mmap_mode="r")
        if a.ndim != 2:
            raise DataError(f"{self.path}: feature rows of shape {a.shape}; expected [N, D]")
        return int(a.shape[0]), int(a.shape[1])

    def __len__(self) -> int:
        return self.shape()[0] if self.rows is None else len(self.rows)

    def selection(self, start: int, stop: int) -> tuple[int, int] | np.ndarray:
        """What a worker reads for positions ``start:stop``: a row range, or the part's row numbers."""
        if self.rows is None:
            return (start, stop)
        r = self.rows[start:stop]
        if len(r) and int(r[-1]) - int(r[0]) == len(r) - 1 and np.all(np.diff(r) == 1):
            return (int(r[0]), int(r[-1]) + 1)  # contiguous: two numbers instead of the row list
        return r


def read_rows(cache: dict[str, np.ndarray], path: str, sel: tuple[int, int] | np.ndarray) -> np.ndarray:
    """float32 ``[n, D]`` rows ``sel`` of the ``.npy`` at ``path`` (memory-mapped once per process in ``cache``)."""
    if path not in cache:
        cache[path] = np.load(path, mmap_mode="r")
    a = cache[path]
    x = a[sel[0]:sel[1]] if isinstance(sel, tuple) else a[np.asarray(sel)]
    return np.ascontiguousarray(x, dtype=np.float32)


def part_ranges(n: int, workers: int, part_size: int, chunk: int = CHUNK, per_worker: int = 16) -> list[tuple[int, int]]:
    """Position ranges covering ``0:n``: multiples of ``chunk`` rows, at most ``part_size``, about ``per_worker`` per worker.

    ``part_size`` smaller than ``chunk`` is used as it is (tiny inputs in tests); otherwise it is
    rounded down to a multiple of ``chunk``.
    """
    if part_size < 1:
        raise ConfigError(f"part size must be >= 1, got {part_size}")
    if part_size >= chunk:
        want = -(-n // max(1, workers * per_worker))            # rows per part for ~per_worker parts each
        size = max(chunk, min(part_size // chunk, -(-want // chunk)) * chunk)
    else:
        size = part_size
    return [(s, min(n, s + size)) for s in range(0, n, size)]


class EncodeWorker(PoolWorker):
    """Actor body: one trained model encoding feature rows it reads itself from a shared ``.npy``."""

    def __init__(self, model_dir: str, threads: int) -> None:
        from distilhash.threads import limit_threads
        from distilhash.methods.base import load_method

        limit_threads(max(1, threads))
        self.method = load_method(model_dir)
        if self.method.capabilities.input == "raw":
            raise ConfigError(f"{model_dir}: {self.method.name} encodes raw pixels/texts; parallel encoding reads cached features")
        self._stores: dict[str, np.ndarray] = {}

    def encode_rows(self, part: int, modality: str, path: str, sel: tuple[int, int] | np.ndarray,
                    role: str) -> tuple[int, Encoded]:
        """Codes of rows ``sel`` of ``path`` (see :meth:`RowStore.selection`)."""
        return part, self.method.encode(modality, read_rows(self._stores, path, sel), role)


def encode_parallel(ray: Any, model_dir: str | Path, store: RowStore, modality: str, role: str = "database",
                    part_size: int = 65536, workers: int | None = None, cpus_per_worker: float = 1.0,
                    progress: bool = True, on_part: Callable[[int, list[int]], None] | None = None,
                    check: bool = True) -> Encoded:
    """Codes of the ``store``'s rows by the model in ``model_dir``, encoded by W actors, in row order.

    Survives lost workers and nodes (:class:`~distilhash.distributed.pool.WorkerPool`: a lost
    part is encoded again on a remaining worker; the codes do not depend on which worker).
    ``on_part(part, worker pids)`` is called as each part arrives (tests, monitoring). ``check``:
    each worker checks its node as it starts (:func:`start_pool`).
    """
    if not isinstance(store, RowStore):
        raise ConfigError(f"encode_parallel reads rows from a RowStore (a .npy path on shared storage and row "
                          f"numbers), got {type(store).__name__}; the driver never ships feature arrays")
    n = len(store)
    if n == 0:
        raise DataError("nothing to encode: 0 feature rows")
    pool = start_pool(ray, model_dir, store, workers, cpus_per_worker, progress, check)
    ranges = part_ranges(n, pool.fit.workers, part_size)
    parts: dict[int, Encoded] = {}
    bar = progress_bar(progress, n, f"encode {modality} on {pool.fit.workers} Ray workers")

    def done(p: Any, result: tuple[int, Encoded]) -> None:
        parts[int(p)] = result[1]
        if bar is not None:
            bar.update(len(result[1]))
        if on_part is not None:
            on_part(int(p), pool.pids())

    try:
        pool.run([(p, "encode_rows", (p, modality, store.path, store.selection(s, e), role))
                  for p, (s, e) in enumerate(ranges)], done)
    finally:
        pool.close()
        if bar is not None:
            bar.close()
    first = parts[0]
    data = np.concatenate([parts[p].data for p in range(len(ranges))])
    return Encoded(first.kind, data, first.n_bits, first.codebooks, first.metric)


def start_pool(ray: Any, model_dir: str | Path, store: RowStore, workers: int | None, cpus_per_worker: float,
               progress: bool, check: bool, actor_cls: type | None = None, args: tuple = ()) -> Any:
    """A :class:`WorkerPool` of model-holding actors; ``check``: each worker checks its node as it starts
    (same code as the driver, model and store readable; ``WorkerPool(check_paths=...)``)."""
    from distilhash.distributed.pool import WorkerPool

    model_dir = str(Path(model_dir).resolve())
    paths = {"model": model_dir, "features": store.path} if check else None
    return WorkerPool(ray, actor_cls or EncodeWorker, (model_dir, *args), cpus_per_worker=cpus_per_worker,
                      workers=workers, label="encoding", say=print if progress else None, eager=True,
                      check_paths=paths, need_home="DISTILHASH_HOME" in os.environ)


def progress_bar(progress: bool, total: int, desc: str) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item")


def feature_store(features: Any, modality: str, rows: np.ndarray) -> RowStore:
    """The :class:`RowStore` of ``features.<modality>[rows]`` (the cache file it was read from)."""
    if modality not in ("image", "text"):
        raise DataError(f"modality {modality!r}; expected image or text")
    where = (getattr(features, "manifest", None) or {}).get("path")
    if not where or not (Path(where) / f"{modality}.npy").is_file():
        raise ConfigError("the ray engine reads the feature cache's files on every node; these features were not "
                          "read from a cache directory (load them with teachers.cache.load_features)")
    return RowStore(str((Path(where) / f"{modality}.npy").resolve()), rows)


@ENCODE_ENGINES.register("ray")
def encode_ray(model_dir: str | Path, features, rows: np.ndarray, modality: str, role: str, *, method: Any = None,
               address: str | None = None, workers: int | None = None, num_cpus: int | None = None,
               part_size: int = 65536, progress: bool = True, **_: Any) -> Encoded:
    """Codes of ``features.<modality>[rows]`` encoded by Ray actors reading the cache file (module docstring), in row order."""
    from distilhash.distributed.head_watch import note as head_note
    from distilhash.distributed.runtime import ray_session

    if method is not None and method.capabilities.input == "raw":
        raise ConfigError(f"{model_dir}: {method.name} reads raw pixels / words; the ray engine encodes cached teacher "
                          "features (use the local engine)")
    store = feature_store(features, modality, rows)
    with ray_session(address, num_cpus) as ray:
        head_note("The index is not written (the rerun encodes every item again); a hidden unfinished "
                  "directory .NAME.building-* beside it may be left: delete it")
        return encode_parallel(ray, model_dir, store, modality, role, part_size=part_size, workers=workers, progress=progress)
