"""Damage every file of an index at many positions and check that it is reported, never served.

For each file of a reference index (a snapshot plus a log of adds and deletes) and each damage
mode — ``truncate`` (cut the file to ``pos`` bytes), ``flip`` (xor the byte at ``pos``),
``cut_byte`` (remove the byte at ``pos``, shifting the rest), ``remove`` (delete the file) — one
trial damages a working copy, then:

1. opens it read-only: an :class:`IndexCorruptError` is the expected answer; any other exception
   is an ``unclear_error``; a successful open must serve exactly the acknowledged items;
2. runs :func:`verify_index`: it must report a problem whenever the files are not intact;
3. tries a writable open, which must fail the same way and leave every file byte-identical
   (no open destroys the evidence).

Outcomes: ``detected`` (open refused with the file named, verify reported it), ``harmless``
(content identical and verify ok: nothing that matters was touched), and the failures
``silent`` (wrong content served or verify said ok on a damaged index), ``unnamed`` (refused
without naming the damaged file), ``unclear_error``, ``evidence_changed``.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import CodeKind
from distilhash.errors import IndexCorruptError
from distilhash.registry import Registry

__all__ = ["DAMAGE_MODES", "item_code", "make_reference_index", "index_contents", "damage_positions", "run_damage_matrix"]

DAMAGE_MODES: Registry = Registry("damage mode")
FAILURES = ("silent", "unnamed", "unclear_error", "evidence_changed")


@DAMAGE_MODES.register("truncate")
def _truncate(data: bytes, pos: int) -> bytes | None:
    return data[:pos]


@DAMAGE_MODES.register("flip")
def _flip(data: bytes, pos: int) -> bytes | None:
    out = bytearray(data)
    out[pos] ^= 0x5A
    return bytes(out)


@DAMAGE_MODES.register("cut_byte")
def _cut_byte(data: bytes, pos: int) -> bytes | None:
    return data[:pos] + data[pos + 1 :]


@DAMAGE_MODES.register("remove")
def _remove(data: bytes, pos: int) -> bytes | None:
    return None  # the file is deleted


def item_code(item_id: str, code_size: int) -> np.ndarray:
    """Deterministic code of an item: the first ``code_size`` bytes of sha256(id) (uint8)."""
    return np.frombuffer(hashlib.sha256(item_id.encode()).digest()[:code_size], np.uint8).copy()


def item_meta(item_id: str) -> dict[str, Any]:
    return {"caption": "item " + item_id}


def make_reference_index(directory: Path, kind: str = "binary", seed: int = 0, n_snapshot: int = 300, n_ops: int = 30) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """A closed index with a snapshot of ``n_snapshot`` items and ``n_ops`` log records (adds of
    1-5 items, deletes of 1-3 live items); returns its live items ``{id: (code bytes, meta)}``."""
    from distilhash.index import create_index

    rng = np.random.default_rng(seed)
    if CodeKind.parse(kind, "index kind").hamming:
        idx = create_index(directory, kind="binary", n_bits=64)
        code_size = 8
    else:
        cb = rng.standard_normal((8, 256, 4)).astype(np.float32)
        idx = create_index(directory, kind="pq", codebooks=cb)
        code_size = 8
    live: dict[str, tuple[bytes, dict[str, Any]]] = {}

    def add(ids: list[str], snapshot: bool) -> None:
        codes = np.stack([item_code(i, code_size) for i in ids])
        idx.add(ids, codes, [item_meta(i) for i in ids], snapshot=snapshot)
        live.update({i: (c.tobytes(), item_meta(i)) for i, c in zip(ids, codes)})

    with idx:
        add([f"s{i}" for i in range(n_snapshot)], snapshot=True)
        n = 0
        for op in range(n_ops):
            if op % 3 == 2:
                victims = sorted(rng.choice(sorted(live), size=int(rng.integers(1, 4)), replace=False).tolist())
                idx.delete(victims)
                for v in victims:
                    live.pop(v)
            else:
                k = int(rng.integers(1, 6))
                add([f"l{n + j}" for j in range(k)], snapshot=False)
                n += k
    return live


def index_contents(idx) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """``{id: (code bytes, meta)}`` of every live item of an open index."""
    ids = [i for i, _ in idx.iter_metadata()]
    return {i: (code.tobytes(), meta) for i, (code, meta) in idx.get(ids).items()}


def damage_positions(size: int, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` positions in ``[0, size)``: all of them when the file is small, else the first and
    last ``min(32, n/4)`` (headers, trailers) and random ones between."""
    if size <= n:
        return list(range(size))
    edge = min(32, n // 4)
    ends = set(range(edge)) | set(range(size - edge, size))
    rest = np.setdiff1d(np.arange(size), np.fromiter(ends, np.int64))
    pick = rng.choice(rest, size=max(0, n - len(ends)), replace=False).tolist()
    return sorted(ends | set(pick))


def _snapshot_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def _restore(directory: Path, pristine: dict[str, bytes]) -> None:
    for p in directory.iterdir():
        if p.is_file() and p.name not in pristine:
            p.unlink()
    for name, data in pristine.items():
        path = directory / name
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)


def judge(directory: Path, damaged_file: str, expected: dict[str, tuple[bytes, dict[str, Any]]]) -> str:
    """Outcome of one damaged index (see module docstring)."""
    from distilhash.index import open_index, verify_index

    before = _snapshot_files(directory)
    refused: str | None = None
    served_wrong = False
    try:
        with open_index(directory) as idx:
            served_wrong = index_contents(idx) != expected
    except IndexCorruptError as exc:
        refused = str(exc)
    except Exception:  # noqa: BLE001 - classifying what escapes is the point
        return "unclear_error"
    rep = verify_index(directory)
    writable_refused = True
    try:
        open_index(directory, writable=True).close()
        writable_refused = False
    except IndexCorruptError:
        pass
    except Exception:  # noqa: BLE001
        return "unclear_error"
    if refused is not None and _snapshot_files(directory) != before:
        return "evidence_changed"
    if refused is None:
        if served_wrong:
            return "silent"
        return "harmless" if rep.ok else "reported_by_verify"
    if rep.ok or not writable_refused:
        return "silent"
    return "detected" if damaged_file in refused or (damaged_file == "manifest.json" and "manifest" in refused) else "unnamed"


def run_damage_matrix(
    workdir: Path,
    kinds: tuple[str, ...] = ("binary", "pq"),
    positions: int = 200,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Every file x every damage mode x ``positions`` positions, per index kind.

    Returns ``{"cells": [{kind, file, mode, trials, outcomes}], "totals": Counter, "examples": {...}}``
    (one example message per failure outcome, to debug).
    """
    rng = np.random.default_rng(seed)
    cells, totals = [], Counter()
    for kind in kinds:
        ref = workdir / f"ref-{kind}"
        if ref.exists():
            shutil.rmtree(ref)
        expected = make_reference_index(ref, kind=kind, seed=seed)
        pristine = _snapshot_files(ref)
        work = workdir / f"work-{kind}"
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(ref, work)
        for name in sorted(pristine):
            for mode in DAMAGE_MODES.names():
                fn = DAMAGE_MODES.get(mode)
                pos_list = [0] if mode == "remove" else damage_positions(len(pristine[name]), positions, rng)
                outcomes: Counter = Counter()
                for pos in pos_list:
                    damaged = fn(pristine[name], pos)
                    if damaged is None:
                        (work / name).unlink()
                    else:
                        (work / name).write_bytes(damaged)
                    outcomes[judge(work, name, expected)] += 1
                    _restore(work, pristine)
                    if progress is not None:
                        progress(1)
                cells.append({"kind": kind, "file": name, "mode": mode, "trials": len(pos_list), "outcomes": dict(outcomes)})
                totals.update(outcomes)
    return {"cells": cells, "totals": dict(totals)}
