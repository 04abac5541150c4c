"""Teacher extraction on Ray: the dataset in parts, the teacher in model-holding actors.

    path = extract_features_ray("emoji-scenes", "minilm-lit", workers=2)   # local 2-CPU cluster
    path = extract_features_ray(..., address="10.0.0.5:6379")              # a user's cluster (GCS address)

Each of W actors loads the teacher once and opens the prepared dataset itself (the dataset
directory, and the cache directory, must be readable and writable at the same path on every
node). The driver sends parts of ``part_size`` rows (at most two in flight per actor); the actor
extracts the part, checks it (shape, finite unit rows) and writes it durably under
``CACHE_DIR/shards/`` with a pending manifest; the driver commits the part by renaming that
manifest (:mod:`.shard_cache`): no feature row passes through the driver. When all parts are
done the workers copy the parts into the final arrays in parallel (each part by whichever worker
takes it), and the driver writes the same feature cache as
:func:`distilhash.teachers.cache.extract_features` (same files and manifest, plus an ``engine``
record), loadable by :func:`distilhash.teachers.cache.load_features`. The manifest's sha256 of
each whole array is still one sequential read in the driver.

Failures (:class:`~distilhash.distributed.pool.WorkerPool`):

* a worker process dies, or its whole node: its unfinished parts go back in the queue (with
  backoff) and run on the remaining workers; a replacement starts wherever the alive nodes have
  room; nothing written is lost. The run fails, with a message saying so, only when no node is
  left that can hold a worker;
* the driver dies: the next run finds the finished parts on disk and extracts only the rest;
* a part or plan made for another teacher / dataset / template is refused (FeatureError).

Resources: each actor asks for ``cpus_per_worker`` CPUs (default 1), fitted down to the largest
node's CPUs (``--threads 2`` on 1-CPU nodes runs 1-CPU workers, with a note, instead of waiting
forever), and runs torch with as many threads; W defaults to what the alive nodes can place.
Before any actor starts, every node is checked (:func:`distilhash.distributed.preflight.check_nodes`:
same distilhash version, the dataset readable at the same path). Plain actors with a driver-side
queue need no other Ray tasks, so actors that take every CPU cannot starve the pipeline (as Ray
Data's read and write tasks would be starved by a ``map_batches`` pool holding all CPUs).

Features are identical to the single-process path when ``part_size`` is a multiple of the
single-process chunk's batches (default 2048 rows, batch 128): every teacher batch holds the
same rows.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.distributed.pool import PoolWorker
from distilhash.errors import ConfigError, FeatureError
from distilhash.teachers.base import Teacher

__all__ = ["extract_features_ray", "ExtractWorker"]


class ExtractWorker(PoolWorker):
    """Actor body: a teacher and the dataset, encoding row ranges of every row array."""

    def __init__(self, dataset_dir: str, teacher: str | Teacher, teacher_options: dict[str, Any], template: str,
                 batch_size: int, threads: int) -> None:
        from distilhash.threads import limit_threads
        from distilhash.teachers.cache import open_dataset, row_sources
        from distilhash.teachers.registry import create_teacher

        limit_threads(max(1, int(threads)))  # BLAS / OpenMP env now, torch's pool if a teacher loaded it
        self.ds, self.split = open_dataset(dataset_dir)
        self.teacher = create_teacher(teacher, **teacher_options) if isinstance(teacher, str) else teacher
        limit_threads(max(1, int(threads)))
        self.template = template
        self.sources = row_sources(self.teacher, self.ds, template, batch_size, 2 * batch_size)

    def describe(self) -> dict[str, Any]:
        """Cache identity, width, row arrays and teacher facts (so the driver never loads the teacher)."""
        from distilhash.teachers.cache import describe_teacher, cache_identity

        return {"identity": cache_identity(self.teacher, self.ds, self.split, self.template),
                "width": int(self.teacher.width), "arrays": list(self.sources), "teacher_info": describe_teacher(self.teacher),
                "text_cached": self.teacher.text_cache_dir is not None}

    def encode_rows(self, name: str, start: int, stop: int) -> tuple[np.ndarray, float, float]:
        """Rows ``start:stop`` of row array ``name`` (float32 ``[stop - start, D]``), wall and CPU seconds."""
        t0, c0 = time.perf_counter(), time.process_time()
        rows = np.asarray(self.sources[name](slice(start, stop)), dtype=np.float32)
        return rows, time.perf_counter() - t0, time.process_time() - c0

    def encode_part(self, p: int, start: int, stop: int) -> tuple[int, dict[str, np.ndarray], dict[str, float]]:
        """Rows ``start:stop`` of every row array (float32 ``[stop - start, D]`` each) and seconds per array."""
        rows, timings = {}, {}
        for name in self.sources:
            rows[name], timings[name], _ = self.encode_rows(name, start, stop)
        return p, rows, timings

    def extract_part(self, plan: Any, p: int) -> tuple[int, str]:
        """Part ``p`` of ``plan`` extracted and written here (:func:`~.shard_cache.write_part`, uncommitted);
        ``(p, its pending manifest's name)``."""
        from distilhash.distributed.shard_cache import write_part

        _, rows, timings = self.encode_part(p, *plan.ranges[p])
        return p, write_part(plan, p, rows, timings, commit=False)

    def place_part(self, plan: Any, p: int) -> int:
        """Copy part ``p`` into the final arrays (:func:`~.shard_cache.place_part`)."""
        from distilhash.distributed.shard_cache import place_part

        return place_part(plan, p)

    def class_text(self) -> np.ndarray | None:
        from distilhash.teachers.cache import class_text_rows

        return class_text_rows(self.teacher, self.ds, self.template) if self.ds.num_labels else None


def extract_features_ray(
    dataset: str | Path,
    teacher: Any,
    out_dir: str | Path | None = None,
    *,
    batch_size: int = 128,
    template: str = "a photo of {}",
    part_size: int = 2048,
    workers: int | None = None,
    cpus_per_worker: float = 1.0,
    address: str | None = None,
    num_cpus: int | None = None,
    overwrite: bool = False,
    teacher_options: dict[str, Any] | None = None,
    progress: bool = True,
    max_attempts: int = 5,
    placement_timeout: float = 120.0,
    stop_after_parts: int | None = None,
    on_part: Callable[[int, list[int]], None] | None = None,
) -> Path:
    """Extract ``dataset`` with ``teacher`` on Ray into a feature cache; return its directory.

    Args:
        dataset: prepared dataset name or directory (actors open it themselves).
        teacher: teacher spec, or a picklable teacher object (shipped to the actors).
        out_dir: default :func:`distilhash.teachers.cache.default_features_dir`.
        part_size: rows per part (the unit of work and of resumption).
        workers, cpus_per_worker: actor count and CPUs (= torch threads) per actor, fitted to the
            alive nodes (:func:`distilhash.distributed.pool.fit_workers`).
        address, num_cpus: see :func:`distilhash.distributed.runtime.ray_session`.
        overwrite: replace a finished cache or discard unfinished parts made for something else.
        max_attempts: a part lost with its worker this many times fails the run.
        placement_timeout: seconds without any live worker (none placed, or every node lost)
            before the run fails with a ClusterError.
        stop_after_parts: return after writing this many parts (a simulated driver stop; tests).
        on_part: ``on_part(part index, worker pids)`` after each part is written (tests, monitoring).
    """
    from distilhash.data.store import resolve_dataset_dir
    from distilhash.distributed.pool import WorkerPool
    from distilhash.distributed.preflight import check_nodes
    from distilhash.distributed.head_watch import note as head_note
    from distilhash.distributed.runtime import ray_session
    from distilhash.distributed.shard_cache import ShardPlan, discard_parts, part_done, part_timings, prepare_arrays
    from distilhash.targets.prompts import resolve_template
    from distilhash.teachers.cache import MANIFEST, default_features_dir, finish_cache, identity_mismatch, open_dataset

    if not isinstance(dataset, (str, Path)):
        raise ConfigError("the Ray engine reads a prepared dataset by name or directory (actors open it themselves)")
    template = resolve_template(template)
    ds_dir = resolve_dataset_dir(dataset).resolve()
    ds, _ = open_dataset(ds_dir)
    spec = teacher if isinstance(teacher, str) else teacher.name
    out = Path(out_dir) if out_dir is not None else default_features_dir(ds.name, spec)
    t_start = time.perf_counter()
    with ray_session(address, num_cpus) as ray:
        check_nodes(ray, paths={"dataset": ds_dir}, need_home="DISTILHASH_HOME" in os.environ)
        pool = WorkerPool(ray, ExtractWorker, (str(ds_dir), teacher, dict(teacher_options or {}), template, batch_size),
                          cpus_per_worker=cpus_per_worker, workers=workers, max_attempts=max_attempts,
                          placement_timeout=placement_timeout, label="extraction", say=print if progress else None)
        try:
            info = pool.call("describe")
            identity = info["identity"]
            if (out / MANIFEST).is_file():
                import json

                diff = identity_mismatch(json.loads((out / MANIFEST).read_text()), identity)
                if not diff:
                    return out
                if not overwrite:
                    raise FeatureError(f"feature cache {out} was made for something else: "
                                       + "; ".join(f"{k}: cache has {a!r}, requested {b!r}" for k, (a, b) in diff.items())
                                       + " — choose another --out, or pass --overwrite to replace it")
                shutil.rmtree(out)
            plan = ShardPlan(out.resolve(), identity, info["width"], info["arrays"], part_size)
            plan.open(overwrite)
            head_note(f"The extraction's finished parts are kept, checksummed, in {out / 'shards'}: the rerun "
                      "extracts only the rest")
            todo = [p for p in range(len(plan.ranges)) if not part_done(plan, p)]
            written = _run_parts(pool, plan, todo, progress, stop_after_parts, on_part, ds.name, spec)
            if written < len(todo):
                return out
            class_text = pool.call("class_text")
            prepare_arrays(plan)
            pool.run([(p, "place_part", (plan, p)) for p in range(len(plan.ranges))], lambda p, r: None)
            engine = {"name": "ray", "workers": pool.fit.workers, "cpus_per_worker": pool.fit.cpus_per_worker,
                      "part_size": part_size, "parts": len(plan.ranges), "parts_this_run": len(todo),
                      "workers_lost": pool.lost, "parts_retried": pool.retried}
        finally:
            pool.close()
    timings = part_timings(plan)
    engine["wall_s_this_run"] = time.perf_counter() - t_start
    engine["note"] = "timings_s / throughput sum the workers' time"
    finish_cache(out, ds, identity, spec=spec, width=info["width"], timings=timings, class_text=class_text,
                 teacher_info=info["teacher_info"], text_cached=info["text_cached"], extra={"engine": engine})
    discard_parts(plan)
    return out


def _run_parts(pool: Any, plan: Any, todo: list[int], progress: bool, stop_after: int | None,
               on_part: Callable[[int, list[int]], None] | None, ds_name: str, spec: str) -> int:
    """Run the parts ``todo`` on the pool, writing each as it arrives; returns how many were written."""
    from distilhash.distributed.shard_cache import commit_part

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"extract {ds_name} with {spec} on {pool.fit.workers} Ray workers", unit="part")
    written = [0]

    def done(p: Any, result: tuple[int, str]) -> bool:
        commit_part(plan, p, result[1])
        written[0] += 1
        if bar is not None:
            bar.update(1)
        if on_part is not None:
            on_part(p, pool.pids())
        return stop_after is not None and written[0] >= stop_after and written[0] < len(todo)

    try:
        pool.run([(p, "extract_part", (plan, p)) for p in todo], done)
    except KeyboardInterrupt:
        if progress:  # Ctrl-C: say what is kept (the exit status alone says nothing of it)
            kept = len(plan.ranges) - len(todo) + written[0]
            print(f"\ninterrupted: {kept} of {len(plan.ranges)} parts are kept, checksummed, in {plan.directory}; "
                  "rerun the same command to extract only the rest", file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()
    return written[0]
