"""Kill writers with SIGKILL mid-operation, and race readers against a compacting writer.

Kill trials: a writer process (``python -m distilhash.benchmark.index_crash DIR MODE PREFIX SEED``)
adds, deletes and compacts in a loop and prints each operation before it starts (``+ ids``,
``- ids``, ``c``) and ``ok`` once it returned (acknowledged). After a SIGKILL at a random moment
the index is opened read-only with full checksums and verified, and compared with the
acknowledged history: the one operation in flight may have happened or not, but as a whole.

Counted per trial: ``lost`` (acknowledged live items missing), ``resurrected`` (acknowledged
deletes undone), ``phantom`` (items never added), ``corrupted`` (wrong code or metadata),
``torn_batch`` (part of one add/delete applied), ``false_alarm`` (the healthy index failed to
open or verify).

Races: while a writer compacts after every operation, readers open (with checksums, then check
that every item has its code) and verify the index in a loop; any exception or problem is a
``false_alarm``. A second writer is attempted meanwhile (after removing any ``LOCK`` file): it
must be refused every time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.benchmark.index_damage import index_contents, item_code, item_meta

__all__ = ["WRITER_MODES", "run_kill_trials", "run_race", "writer_main"]

#: writer behaviour per mode: options of the open index, share of deletes, explicit compaction period
WRITER_MODES: dict[str, dict[str, Any]] = {
    "append": {"max_log_bytes": 1 << 30, "max_tombstones": 10**9, "p_delete": 0.0, "compact_every": 0},
    "delete": {"max_log_bytes": 1 << 30, "max_tombstones": 10**9, "p_delete": 0.6, "compact_every": 0},
    "compact": {"max_log_bytes": 3000, "max_tombstones": 5, "p_delete": 0.3, "compact_every": 3},
    "race": {"max_log_bytes": 3000, "max_tombstones": 5, "p_delete": 0.3, "compact_every": 2},
}
CODE_SIZE = 8


def writer_main(directory: str, mode: str, prefix: str, seed: int) -> None:
    """The writer process: operate on the index until killed, announcing every operation."""
    from distilhash.index import IndexOptions, open_index

    cfg = WRITER_MODES[mode]
    idx = open_index(directory, writable=True, options=IndexOptions(max_log_bytes=cfg["max_log_bytes"], max_tombstones=cfg["max_tombstones"]))
    alive = [i for i, _ in idx.iter_metadata()]
    rng = np.random.default_rng(seed)
    out = sys.stdout
    print("ready", file=out, flush=True)
    n = op = 0
    while True:
        op += 1
        if cfg["compact_every"] and op % cfg["compact_every"] == 0:
            print("c", file=out, flush=True)
            idx.compact()
        elif alive and rng.random() < cfg["p_delete"]:
            victims = sorted({alive[int(j)] for j in rng.integers(0, len(alive), int(rng.integers(1, 3)))})
            print("- " + " ".join(victims), file=out, flush=True)
            idx.delete(victims)
            alive = [a for a in alive if a not in set(victims)]
        else:
            ids = [f"{prefix}-{n + j}" for j in range(int(rng.integers(1, 4)))]
            n += len(ids)
            print("+ " + " ".join(ids), file=out, flush=True)
            idx.add(ids, np.stack([item_code(i, CODE_SIZE) for i in ids]), [item_meta(i) for i in ids])
            alive += ids
        print("ok", file=out, flush=True)


def _spawn_writer(directory: Path, mode: str, prefix: str, seed: int) -> subprocess.Popen:
    src = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "distilhash.benchmark.index_crash", str(directory), mode, prefix, str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=env,
    )
    line = proc.stdout.readline().strip()
    if line != b"ready":
        proc.kill()
        raise RuntimeError(f"writer did not start: {line!r} {proc.stderr.read().decode()[-2000:]}")
    return proc


def _replay(out: str, truth: dict[str, bool]) -> tuple[str, list[str]] | None:
    """Apply the acknowledged operations of a writer's output to ``truth`` (id -> alive);
    return the operation in flight at the kill (kind, ids), if any."""
    pending: tuple[str, list[str]] | None = None
    for line in out.splitlines():
        if line == "ok":
            if pending is not None and pending[0] in "+-":
                for i in pending[1]:
                    truth[i] = pending[0] == "+"
            pending = None
        elif line:
            pending = (line[0], line[2:].split())
    return pending


def _check_trial(directory: Path, truth: dict[str, bool], inflight: tuple[str, list[str]] | None, counts: Counter) -> None:
    from distilhash.index import open_index, verify_index

    try:
        with open_index(directory) as idx:
            seen = index_contents(idx)
    except Exception:  # noqa: BLE001 - a healthy index that does not open is a false alarm
        counts["false_alarm"] += 1
        raise
    if not verify_index(directory).ok:
        counts["false_alarm"] += 1
    unsure = set(inflight[1]) if inflight is not None and inflight[0] in "+-" else set()
    if unsure:
        states = {i in seen for i in unsure}
        if len(states) > 1:
            counts["torn_batch"] += 1
        for i in unsure:
            truth[i] = i in seen
    alive = {i for i, a in truth.items() if a}
    counts["lost"] += len(alive - set(seen))
    counts["resurrected"] += sum(1 for i in seen if truth.get(i) is False)
    counts["phantom"] += sum(1 for i in seen if i not in truth)
    counts["corrupted"] += sum(1 for i, (code, meta) in seen.items() if code != item_code(i, CODE_SIZE).tobytes() or meta != item_meta(i))
    counts["acknowledged_items_checked"] += len(alive)


def run_kill_trials(directory: Path, mode: str, n_trials: int, seed: int = 0, max_delay_s: float = 0.3,
                    progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """``n_trials`` SIGKILLs of a ``mode`` writer on one growing index; returns the counts."""
    from distilhash.index import create_index

    if not (directory / "manifest.json").exists():
        create_index(directory, kind="binary", n_bits=8 * CODE_SIZE).close()
    rng = np.random.default_rng(seed)
    truth: dict[str, bool] = {}
    counts: Counter = Counter({k: 0 for k in ("lost", "resurrected", "phantom", "corrupted", "torn_batch", "false_alarm")})
    for t in range(n_trials):
        proc = _spawn_writer(directory, mode, f"{mode}{seed}t{t}", seed * 100_003 + t)
        time.sleep(float(rng.uniform(0.0, max_delay_s)))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
        if proc.returncode != -signal.SIGKILL:
            raise RuntimeError(f"writer exited with {proc.returncode} before the kill: {err.decode()[-2000:]}")
        inflight = _replay(out.decode(), truth)
        counts["trials"] += 1
        counts["operations_acknowledged"] += out.decode().count("\nok")
        counts[f"killed_during_{ {'+': 'add', '-': 'delete', 'c': 'compact'}[inflight[0]] if inflight else 'idle'}"] += 1
        _check_trial(directory, truth, inflight, counts)
        if progress is not None:
            progress(1)
    return dict(counts)


def run_race(directory: Path, seconds: float, seed: int = 0, lock_attempts: int = 50,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Opens and verifies racing a writer that compacts after every operation."""
    from distilhash.index import IndexLockedError, create_index, open_index, verify_index

    if not (directory / "manifest.json").exists():
        create_index(directory, kind="binary", n_bits=8 * CODE_SIZE).close()
    counts: Counter = Counter({k: 0 for k in ("false_alarm", "inconsistent_reads", "second_writer_admitted")})
    errors: Counter = Counter()
    proc = _spawn_writer(directory, "race", f"race{seed}", seed)
    try:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            i += 1
            try:
                if i % 2:
                    counts["opens"] += 1
                    with open_index(directory) as idx:
                        seen = index_contents(idx)
                        if len(seen) != len(idx) or any(code != item_code(k, CODE_SIZE).tobytes() for k, (code, _) in seen.items()):
                            counts["inconsistent_reads"] += 1
                else:
                    counts["verifies"] += 1
                    rep = verify_index(directory)
                    if not rep.ok:
                        counts["false_alarm"] += 1
                        errors["verify: " + rep.problems[0][:160]] += 1
            except Exception as exc:  # noqa: BLE001 - every escape is a false alarm on a healthy index
                counts["false_alarm"] += 1
                errors[f"{type(exc).__name__}: {str(exc)[:160]}"] += 1
            if progress is not None:
                progress(1)
            if lock_attempts and i % max(1, int(seconds * 20) // lock_attempts) == 0 and counts["second_writer_attempts"] < lock_attempts:
                (directory / "LOCK").unlink(missing_ok=True)
                counts["second_writer_attempts"] += 1
                try:
                    open_index(directory, writable=True).close()
                    counts["second_writer_admitted"] += 1
                except IndexLockedError:
                    pass
    finally:
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
    counts["writer_operations"] = out.decode().count("\nok")
    counts["writer_compactions"] = out.decode().count("\nc\nok")
    return {"counts": dict(counts), "errors": dict(errors.most_common(10))}


if __name__ == "__main__":
    writer_main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
