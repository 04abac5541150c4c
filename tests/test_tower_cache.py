"""The tower cache under concurrent writers: every row right, every requested row marked done."""

from __future__ import annotations

import threading

import numpy as np

from distilhash.teachers.tower_cache import cached_rows
from distilhash.teachers.tower_cache_race import expected_rows, race_writers


def test_racing_writer_processes_leave_every_row_correct(tmp_path):
    for trial in range(3):
        report = race_writers(tmp_path / f"t{trial}", writers=4, n_items=400, width=8, chunk=16, seed=trial)
        assert report["crashed"] == 0, report
        assert report["wrong_returned"] == report["missing_done"] == 0, report
        assert report["wrong_rows"] == report["zero_rows"] == 0, report


def test_racing_threads_of_one_process_share_the_lock(tmp_path):
    errors: list[int] = []

    def run(idx):
        rows, _ = cached_rows(tmp_path, "k", 300, 4, idx, lambda i: expected_rows(i, 4), chunk=8)
        errors.append(int((rows != expected_rows(idx, 4)).any(axis=1).sum()))

    rng = np.random.default_rng(0)
    threads = [threading.Thread(target=run, args=(rng.choice(300, 200, replace=False),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [0, 0, 0, 0]
    done = np.load(tmp_path / "k.done.npy")
    rows = np.load(tmp_path / "k.rows.npy")
    np.testing.assert_array_equal(rows[done], expected_rows(np.flatnonzero(done), 4))


def test_a_row_is_computed_once_and_never_rewritten(tmp_path):
    calls: list[int] = []

    def compute(idx):
        calls.extend(idx.tolist())
        return expected_rows(idx, 3)

    cached_rows(tmp_path, "k", 50, 3, np.arange(20), compute, chunk=7)
    before = (tmp_path / "k.rows.npy").stat().st_ino
    rows, n_new = cached_rows(tmp_path, "k", 50, 3, np.arange(10, 30), compute, chunk=7)
    assert n_new == 10 and sorted(calls) == list(range(30))
    assert (tmp_path / "k.rows.npy").stat().st_ino == before  # same file: no re-creation when valid
    np.testing.assert_array_equal(rows, expected_rows(np.arange(10, 30), 3))


def test_a_damaged_done_mask_starts_a_fresh_file_not_a_truncated_one(tmp_path):
    cached_rows(tmp_path, "k", 20, 3, np.arange(5), lambda i: expected_rows(i, 3))
    np.save(tmp_path / "k.done.npy", np.zeros(7, dtype=bool))  # wrong shape
    rows, n_new = cached_rows(tmp_path, "k", 20, 3, np.arange(4), lambda i: expected_rows(i, 3))
    assert n_new == 4
    np.testing.assert_array_equal(rows, expected_rows(np.arange(4), 3))
