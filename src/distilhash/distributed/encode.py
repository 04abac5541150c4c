"""The ``ray`` encoding engine: a database encoded in parallel by model-holding Ray actors.

    enc = encode_with_engine("ray", "runs/dcmq64", feats, rows, "image")   # what `index build --engine ray` uses

The engines are declared in :data:`distilhash.pipeline.encode_engines.ENCODE_ENGINES` (``local``
lives there); this module registers ``ray``, which sends parts of the rows to W model-holding
actors on a Ray cluster (``address``, ``$RAY_ADDRESS``, or a local cluster started for the call)
and concatenates their codes in row order. The engines give the same codes (tested item by item):
parts of 65536 rows are multiples of the 8192- and 4096-row chunks the torch methods encode in,
so every matrix product sees the same rows in both.

W actors each load the trained model once; the driver sends them parts of the database's teacher
features (``part_size`` rows) and gathers the codes in database order; ``index build --engine ray
--shards S`` (:func:`distilhash.pipeline.index.build_index`) adds them to a sharded index. Methods
that encode raw pixels or texts (``capabilities.input == "raw"``, e.g. lcdh) are not supported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import Encoded
from distilhash.distributed.pool import PoolWorker
from distilhash.errors import ConfigError, DataError
from distilhash.pipeline.encode_engines import ENCODE_ENGINES

__all__ = ["encode_parallel", "encode_ray", "EncodeWorker"]


class EncodeWorker(PoolWorker):
    """Actor body: one trained model encoding feature rows."""

    def __init__(self, model_dir: str, threads: int) -> None:
        from distilhash.threads import limit_threads
        from distilhash.methods.base import load_method

        limit_threads(max(1, threads))
        self.method = load_method(model_dir)
        if self.method.capabilities.input == "raw":
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


@ENCODE_ENGINES.register("ray")
def encode_ray(model_dir: str | Path, features, rows: np.ndarray, modality: str, role: str, *, method: Any = None,
               address: str | None = None, workers: int | None = None, num_cpus: int | None = None,
               part_size: int = 65536, progress: bool = True, **_: Any) -> Encoded:
    """Codes of ``features.<modality>[rows]`` encoded by Ray actors (see module docstring), in row order."""
    from distilhash.distributed.runtime import ray_session

    if method is not None and method.capabilities.input == "raw":
        raise ConfigError(f"{model_dir}: {method.name} reads raw pixels / words; the ray engine encodes cached teacher "
                          "features (use the local engine)")
    if modality not in ("image", "text"):
        raise DataError(f"modality {modality!r}; expected image or text")
    x = np.ascontiguousarray(getattr(features, modality)[rows])
    with ray_session(address, num_cpus) as ray:
        return encode_parallel(ray, model_dir, x, modality, role, part_size=part_size, workers=workers, progress=progress)
