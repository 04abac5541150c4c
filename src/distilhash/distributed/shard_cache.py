"""The on-disk state of a sharded extraction, inside the feature cache directory it fills.

::

    CACHE_DIR/
      shards/plan.json              identity of the cache (teacher + fingerprint, dataset hash, split,
                                    template, ...), width, row arrays, part size and part ranges
      shards/part-00007/
        image.npy text.npy ...      float32 [rows of the part, D]
        part.json                   written last: identity hash, range, sha256 of every file

A part is *done* when its ``part.json`` exists, names the plan's identity and range, and its files
match their checksums; anything else in ``shards/`` is redone. A ``part.json`` made for another
identity is refused (FeatureError), never mixed in.

Who writes what: the worker that extracted a part writes its arrays and a *pending* manifest
(``part.json.pending-...``, :func:`write_part` with ``commit=False``); the driver, when the result
reaches it, commits the part by renaming that file to ``part.json`` (:func:`commit_part`: a
rename, no part data passes through the driver). When every part is done, the standard cache
arrays (``image.npy`` ... exactly as the single-process writer makes them) are created empty
(:func:`prepare_arrays`) and each part's rows are copied into place by a worker
(:func:`place_part`, in parallel; :func:`assemble` does the same in one process); then the
manifest (:func:`distilhash.teachers.cache.finish_cache`), then ``shards/`` is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import FeatureError
from distilhash.io_utils import atomic_save_npy, atomic_write_json, fsync_dir, sha256_file

__all__ = ["ShardPlan", "SHARDS_DIR", "write_part", "commit_part", "part_done", "prepare_arrays", "place_part",
           "part_timings", "assemble"]

SHARDS_DIR = "shards"
PLAN = "plan.json"
PART_MANIFEST = "part.json"


def _identity_hash(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


class ShardPlan:
    """Which rows each part covers, for one cache identity.

    Args:
        out: the cache directory.
        identity: :func:`distilhash.teachers.cache.cache_identity` of teacher, dataset, split, template.
        width: feature width D.
        arrays: names of the row arrays (``text``, ``label_text``, ``image``).
        part_size: rows per part (a multiple of the batch sizes keeps batches the same as one process's).
    """

    def __init__(self, out: Path, identity: dict[str, Any], width: int, arrays: list[str], part_size: int) -> None:
        if part_size < 1:
            raise FeatureError(f"part size must be >= 1, got {part_size}")
        self.out = Path(out)
        self.identity = identity
        self.width = int(width)
        self.arrays = list(arrays)
        self.part_size = int(part_size)
        n = int(identity["count"])
        self.ranges = [(s, min(n, s + part_size)) for s in range(0, n, part_size)]
        self.key = _identity_hash(identity)

    @property
    def directory(self) -> Path:
        return self.out / SHARDS_DIR

    def part_dir(self, p: int) -> Path:
        return self.directory / f"part-{p:05d}"

    def as_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "identity_hash": self.key, "width": self.width, "arrays": self.arrays,
                "part_size": self.part_size, "ranges": self.ranges}

    def open(self, overwrite: bool) -> None:
        """Create ``shards/plan.json``, or check the one there: another identity is refused unless ``overwrite``."""
        path = self.directory / PLAN
        if path.is_file():
            found = json.loads(path.read_text())
            same = {k: found.get(k) for k in ("identity_hash", "width", "arrays", "part_size")} == \
                {"identity_hash": self.key, "width": self.width, "arrays": self.arrays, "part_size": self.part_size}
            if same:
                return
            if not overwrite:
                diff = {k: (found.get("identity", {}).get(k), v) for k, v in self.identity.items()
                        if found.get("identity", {}).get(k) != v}
                raise FeatureError(
                    f"{path} belongs to an unfinished extraction of something else "
                    f"({'; '.join(f'{k}: found {a!r}, requested {b!r}' for k, (a, b) in diff.items()) or 'other part size or arrays'}); "
                    "pass overwrite=True / --overwrite to discard its parts, or choose another --out")
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, self.as_dict())


def part_done(plan: ShardPlan, p: int, verify: bool = True) -> bool:
    """True when part ``p`` is complete and belongs to ``plan``; FeatureError when it belongs to another identity."""
    mpath = plan.part_dir(p) / PART_MANIFEST
    if not mpath.is_file():
        return False
    try:
        m = json.loads(mpath.read_text())
    except json.JSONDecodeError:
        return False
    if m.get("identity_hash") != plan.key:
        raise FeatureError(f"{mpath} was extracted for identity {m.get('identity_hash')!r}, not this cache's "
                           f"{plan.key!r}; remove {plan.directory} or pass --overwrite")
    if tuple(m.get("range", ())) != tuple(plan.ranges[p]) or set(m.get("files", {})) != {f"{a}.npy" for a in plan.arrays}:
        return False
    if verify:
        return all((plan.part_dir(p) / f).is_file() and sha256_file(plan.part_dir(p) / f) == d
                   for f, d in m["files"].items())
    return True


def write_part(plan: ShardPlan, p: int, rows: dict[str, np.ndarray], timings: dict[str, float],
               commit: bool = True) -> str:
    """Check and durably write part ``p`` (arrays first, its manifest last); returns the manifest's file name.

    ``commit=False``: the manifest goes to a pending name of this call's own, made ``part.json`` by
    :func:`commit_part` (so a part is never done before whoever runs the extraction has seen it).
    """
    from distilhash.teachers.common import check_unit_rows

    start, stop = plan.ranges[p]
    _check_plan_is_current(plan, p)
    d = plan.part_dir(p)
    d.mkdir(exist_ok=True)  # never ``shards/`` itself: a finished extraction removed it
    files = {}
    for name in plan.arrays:
        if name not in rows:
            raise FeatureError(f"part {p} ({start}:{stop}) came back without {name} rows")
        a = np.ascontiguousarray(rows[name], dtype=np.float32)
        if a.shape != (stop - start, plan.width):
            raise FeatureError(f"part {p}: {name} rows of shape {a.shape}, expected {(stop - start, plan.width)}")
        check_unit_rows(a, f"{name} rows {start}:{stop} of part {p}")
        atomic_save_npy(d / f"{name}.npy", a)
        files[f"{name}.npy"] = sha256_file(d / f"{name}.npy")
    name = PART_MANIFEST if commit else f"{PART_MANIFEST}.pending-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    atomic_write_json(d / name, {"identity_hash": plan.key, "range": [start, stop], "files": files, "timings_s": timings})
    return name


def _check_plan_is_current(plan: ShardPlan, p: int) -> None:
    """FeatureError unless ``shards/plan.json`` is still this plan's: a worker on a node that froze and woke up
    after its extraction finished used to write its part into the finished cache (a new ``shards/``)."""
    try:
        current = json.loads((plan.directory / PLAN).read_text()).get("identity_hash")
    except (OSError, json.JSONDecodeError, AttributeError):
        current = None
    if current != plan.key:
        raise FeatureError(f"part {p}: {plan.directory} no longer holds this extraction's plan (it finished, or "
                           "another replaced it); nothing written")


def discard_parts(plan: ShardPlan) -> None:
    """Remove ``shards/`` once the cache is finished: ``plan.json`` first, so a late worker writes nothing more."""
    (plan.directory / PLAN).unlink(missing_ok=True)
    for _ in range(3):  # a late worker that passed its check just before may still add a file
        shutil.rmtree(plan.directory, ignore_errors=True)
        if not plan.directory.exists():
            return
        time.sleep(0.5)


def commit_part(plan: ShardPlan, p: int, pending: str) -> None:
    """Make part ``p``'s pending manifest ``pending`` (from :func:`write_part`) its ``part.json``, durably."""
    d = plan.part_dir(p)
    if not pending.startswith(f"{PART_MANIFEST}.pending-") or "/" in pending:
        raise FeatureError(f"part {p}: {pending!r} is not a pending part manifest")
    os.replace(d / pending, d / PART_MANIFEST)
    fsync_dir(d)


def prepare_arrays(plan: ShardPlan) -> None:
    """Create ``CACHE_DIR/<array>.npy`` of the final shape (float32 ``[N, D]``, rows not yet written)."""
    from numpy.lib.format import open_memmap

    n = int(plan.identity["count"])
    for name in plan.arrays:
        out = open_memmap(plan.out / f"{name}.npy", mode="w+", dtype=np.float32, shape=(n, plan.width))
        out.flush()
        del out


def place_part(plan: ShardPlan, p: int) -> int:
    """Copy part ``p``'s rows into the arrays :func:`prepare_arrays` made (flushed to disk on return); returns ``p``."""
    start, stop = plan.ranges[p]
    for name in plan.arrays:
        out = np.load(plan.out / f"{name}.npy", mmap_mode="r+")
        if out.shape != (int(plan.identity["count"]), plan.width):
            raise FeatureError(f"{plan.out / f'{name}.npy'} has shape {out.shape}; prepare_arrays makes it first")
        out[start:stop] = np.load(plan.part_dir(p) / f"{name}.npy")
        out.flush()
        del out
    return p


def assemble(plan: ShardPlan) -> dict[str, float]:
    """Write ``CACHE_DIR/<array>.npy`` from the parts in this process (all must be done); see :func:`part_timings`."""
    prepare_arrays(plan)
    for p in range(len(plan.ranges)):
        place_part(plan, p)
    return part_timings(plan)


def part_timings(plan: ShardPlan) -> dict[str, float]:
    """Per-array seconds summed over the parts' manifests."""
    timings: dict[str, float] = {}
    for p in range(len(plan.ranges)):
        m = json.loads((plan.part_dir(p) / PART_MANIFEST).read_text())
        for k, v in m.get("timings_s", {}).items():
            timings[k] = timings.get(k, 0.0) + float(v)
    return timings
