"""Writes beside searches: a write holds the index's search lock only to check and to apply, not
while its log record is synced, and an item becomes visible only once it is durable."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from distilhash.codes import Encoded
from distilhash.index import codelog, create_index, open_index


def _codes(rng: np.random.Generator, n: int) -> Encoded:
    return Encoded("binary", rng.integers(0, 256, (n, 4), dtype=np.uint8), 32)


@pytest.mark.parametrize("op", ["add", "delete"])
def test_search_runs_while_a_write_syncs_and_sees_it_only_once_durable(tmp_path, monkeypatch, op):
    rng = np.random.default_rng(0)
    base = _codes(rng, 200)
    with create_index(tmp_path / "ix", kind="binary", n_bits=32) as idx:
        idx.add([f"i{j}" for j in range(200)], base)
    idx = open_index(tmp_path / "ix", writable=True)
    new = _codes(rng, 1)
    query = new if op == "add" else base.take([5])
    target = "new" if op == "add" else "i5"
    entered, release = threading.Event(), threading.Event()
    real_append = codelog.CodeLog.append

    def slow_append(self, record: bytes) -> None:  # the sync of the write, held until released
        entered.set()
        assert release.wait(30)
        real_append(self, record)

    monkeypatch.setattr(codelog.CodeLog, "append", slow_append)
    write = threading.Thread(target=(lambda: idx.add(["new"], new)) if op == "add" else (lambda: idx.delete(["i5"])))
    write.start()
    try:
        assert entered.wait(30)
        # the write is inside its log append: searches and lookups answer, from the state before it
        done = threading.Event()
        found: list = []

        def search() -> None:
            found.append(target in idx.search(query, k=1)[0].ids)
            found.append(bool(idx.get([target])))
            done.set()

        threading.Thread(target=search).start()
        assert done.wait(10), "a search waited for a write's log sync"
        assert found == ([False, False] if op == "add" else [True, True])
    finally:
        release.set()
        write.join(30)
    # acknowledged: visible now, and durable (a fresh open from the files agrees)
    visible = target in idx.search(query, k=1)[0].ids
    assert visible == (op == "add")
    idx.close()
    with open_index(tmp_path / "ix") as again:
        assert bool(again.get([target])) == (op == "add")


def test_writes_from_many_threads_all_land(tmp_path):
    """Concurrent adds and deletes from several threads: each is applied once, none lost."""
    rng = np.random.default_rng(1)
    with create_index(tmp_path / "ix", kind="binary", n_bits=32) as idx:
        idx.add(["seed"], _codes(rng, 1))
    idx = open_index(tmp_path / "ix", writable=True)
    codes = _codes(rng, 160)

    def writer(w: int) -> None:
        for j in range(20):
            idx.add([f"w{w}-{j}"], codes.take([w * 20 + j]))
            if j % 2:
                idx.delete([f"w{w}-{j - 1}"])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    expect = {f"w{w}-{j}" for w in range(8) for j in range(1, 20, 2)} | {"seed", *(f"w{w}-19" for w in range(8))}
    assert len(idx) == len(expect)
    idx.close()
    with open_index(tmp_path / "ix") as again:
        assert set(again.get(sorted(expect))) == expect and len(again) == len(expect)


def test_get_reads_codes_from_snapshot_and_log(tmp_path):
    """``get`` picks each item's code from the snapshot or the log (no copy of every code)."""
    rng = np.random.default_rng(2)
    snap, logged = _codes(rng, 50), _codes(rng, 7)
    with create_index(tmp_path / "ix", kind="binary", n_bits=32) as idx:
        idx.add([f"s{j}" for j in range(50)], snap, snapshot=True)
        for j in range(7):
            idx.add([f"l{j}"], logged.take([j]))
        idx.delete(["s3", "l2"])
        got = idx.get(["s0", "s3", "s49", "l0", "l2", "l6", "nope"])
    assert sorted(got) == ["l0", "l6", "s0", "s49"]
    for item, want in (("s0", snap.data[0]), ("s49", snap.data[49]), ("l0", logged.data[0]), ("l6", logged.data[6])):
        assert np.array_equal(got[item][0], want)


def test_rows_stay_in_order_as_adds_grow_past_the_row_buffer(tmp_path):
    """Adds append their rows' seqs in place (the buffer grows by a quarter when full): after
    thousands of single adds a follower and a fresh open agree on every row, id and result, and
    row numbers handed out earlier still name the same items."""
    from distilhash.index.core import IndexOptions

    rng = np.random.default_rng(3)
    with create_index(tmp_path / "ix", kind="binary", n_bits=32) as idx:
        idx.add([f"b{j}" for j in range(50)], _codes(rng, 50))
    writer = open_index(tmp_path / "ix", writable=True)
    follower = open_index(tmp_path / "ix", options=IndexOptions(follow=True))
    try:
        early_rows = np.arange(0, 50, 7)
        early = follower.results_of_rows(np.zeros(len(early_rows)), early_rows).ids
        for j in range(0, 1400, 4):  # past the first buffer (n + n // 4 + 1024 rows)
            writer.add([f"n{i}" for i in range(j, j + 4)], _codes(rng, 4))
            if j % 400 == 0:
                writer.delete([f"n{j}"])
        queries = _codes(rng, 5)
        follower.refresh()
        with open_index(tmp_path / "ix") as fresh:
            rows = np.arange(len(fresh) + 4)  # deleted rows included
            assert np.array_equal(follower.row_seqs(rows), fresh.row_seqs(rows))
            assert np.all(np.diff(fresh.row_seqs(rows)) > 0)
            assert [r.ids for r in follower.search(queries, 10)] == [r.ids for r in fresh.search(queries, 10)]
            assert len(follower) == len(fresh) == 50 + 1400 - 4
        assert follower.results_of_rows(np.zeros(len(early_rows)), early_rows).ids == early
        assert set(follower.get(["n1399", "n1", "b0", "n800"])) == {"n1399", "n1", "b0"}
    finally:
        follower.close()
        writer.close()
