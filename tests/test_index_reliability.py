"""Crash safety: SIGKILL a writer at random points; every acknowledged item must survive.

The writer appends small batches in a loop (with a tiny log limit, so compactions — new
snapshot, manifest swap, old files deleted — happen all the time and get killed too) and prints
each batch's ids after ``add`` returned. After the kill the index must open (with full
checksum verification), pass ``verify()``, and hold every printed id with the right code and
metadata.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from distilhash.index import IndexOptions, create_index, open_index

WRITER = r"""
import hashlib, sys
import numpy as np
from distilhash.index import IndexOptions, open_index
directory, prefix, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
idx = open_index(directory, writable=True, options=IndexOptions(max_log_bytes=3000, max_tombstones=5))
rng = np.random.default_rng(seed)
i = 0
print("ready", flush=True)
while True:
    n = int(rng.integers(1, 4))
    ids = [f"{prefix}-{i + j}" for j in range(n)]
    codes = np.stack([np.frombuffer(hashlib.sha256(x.encode()).digest()[:8], np.uint8) for x in ids])
    idx.add(ids, codes, [{"caption": "item " + x} for x in ids])
    print(" ".join(ids), flush=True)
    if rng.random() < 0.1:  # deletes (acknowledged too) trigger tombstone compactions
        victim = ids[0]
        idx.delete([victim])
        print("deleted " + victim, flush=True)
    i += n
"""


def _code(x: str) -> np.ndarray:
    return np.frombuffer(hashlib.sha256(x.encode()).digest()[:8], np.uint8)


def _trials(directory, n_trials: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    create_index(directory, kind="binary", n_bits=64).close()
    alive: set[str] = set()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for t in range(n_trials):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(directory), f"t{t}", str(seed * 1000 + t)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,  # raw pipe: readline must not read ahead what communicate() reads later
            env=env,
        )
        assert proc.stdout.readline().strip() == b"ready", proc.stderr.read()
        time.sleep(float(rng.uniform(0.0, 0.25)))
        proc.send_signal(signal.SIGKILL)
        out_b, err_b = proc.communicate()
        out, err = out_b.decode(), err_b.decode()
        assert proc.returncode == -signal.SIGKILL, err
        last_add: list[str] = []
        for line in out.splitlines():
            if line.startswith("deleted "):
                alive.discard(line.split()[1])
                last_add = []
            elif line.strip():
                last_add = line.split()
                alive.update(last_add)
        # the one operation in flight at the kill may or may not have happened: the next batch
        # (up to 3 new ids) or the delete of the last batch's first id
        nxt = int(last_add[-1].rsplit("-", 1)[1]) + 1 if last_add else None
        acked = [int(x.rsplit("-", 1)[1]) for line in out.splitlines() for x in line.split() if x.startswith(f"t{t}-")]
        start = max(acked) + 1 if acked else 0
        uncertain = {f"t{t}-{start + j}" for j in range(3)} | ({last_add[0]} if last_add and nxt is not None else set())
        with open_index(directory) as idx:  # full sha256 check of every snapshot file
            rep = idx.verify()
            assert rep.ok, rep.problems
            have = set(idx.get(sorted(alive | uncertain)))
            missing = alive - uncertain - have
            assert not missing, f"trial {t}: acknowledged ids lost: {sorted(missing)[:5]}"
            assert have - alive <= uncertain, f"trial {t}: unexpected ids {sorted(have - alive - uncertain)[:5]}"
            alive = (alive - uncertain) | (have & uncertain)
            assert len(idx) == len(alive), "deleted or never-added items are still counted"
            got = idx.get(sorted(alive))
            for x, (code, meta) in got.items():
                assert np.array_equal(code, _code(x)) and meta == {"caption": "item " + x}
            probe = sorted(alive)[:5]
            if probe:
                for x, r in zip(probe, idx.search(np.stack([_code(x) for x in probe]), 1)):
                    assert r.ids[0] == x


def test_kill_during_append_quick(tmp_path):
    _trials(tmp_path / "ix", n_trials=5, seed=1)


@pytest.mark.slow
def test_kill_during_append_100_trials(tmp_path):
    _trials(tmp_path / "ix", n_trials=100, seed=2)
