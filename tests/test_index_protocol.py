"""One Index protocol: the single and the sharded index both implement it, and one open_index reads either."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.codes import Encoded
from distilhash.errors import ConfigError, IndexCorruptError
from distilhash.index import CodeIndex, Index, ShardedIndex, create_index, create_sharded_index, open_index, verify_index
from distilhash.index.layout import LAYOUTS, index_dirs, layout_of
from distilhash.index.protocol import INDEX_MEMBERS


def _codes(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return [f"i{j}" for j in range(n)], Encoded("binary", rng.integers(0, 256, (n, 2), dtype=np.uint8), 16)


@pytest.fixture
def both(tmp_path):
    ids, codes = _codes()
    for name, make in (("single", create_index), ("sharded", lambda d, **kw: create_sharded_index(d, 3, **kw))):
        with make(tmp_path / name, kind="binary", n_bits=16) as idx:
            idx.add(ids, codes, [{"n": j} for j in range(len(ids))])
    return tmp_path / "single", tmp_path / "sharded", codes


def test_open_index_recognises_each_layout_and_both_are_an_index(both):
    single_dir, sharded_dir, codes = both
    assert (layout_of(single_dir), layout_of(sharded_dir)) == ("single", "sharded")
    with open_index(single_dir) as one, open_index(sharded_dir) as many:
        assert type(one) is CodeIndex and type(many) is ShardedIndex
        for idx in (one, many):
            assert isinstance(idx, Index)
            assert all(hasattr(idx, m) for m in INDEX_MEMBERS)
            assert (idx.kind, idx.n_bits, idx.code_size, len(idx), idx.count) == ("binary", 16, 2, 50, 50)
        for a, b in zip(one.search(codes.take(np.arange(5)), k=7), many.search(codes.take(np.arange(5)), k=7)):
            assert a.ids == b.ids and a.metadata == b.metadata
            np.testing.assert_array_equal(a.distances, b.distances)


def test_the_protocol_names_what_callers_use():
    assert {"search", "add", "delete", "compact", "get", "iter_metadata", "info", "verify", "close", "__len__",
            "kind", "n_bits", "manifest", "directory", "writable"} <= set(INDEX_MEMBERS)
    assert not isinstance(object(), Index)


def test_writes_through_open_index_land_in_either_layout(both):
    single_dir, sharded_dir, _ = both
    for d in (single_dir, sharded_dir):
        with open_index(d, writable=True) as idx:
            assert idx.delete(["i3", "i4"]) == 2
        with open_index(d) as idx:
            assert len(idx) == 48 and idx.get(["i3"]) == {}
            with pytest.raises(ConfigError, match="read-only"):
                idx.delete(["i5"])


def test_verify_index_checks_every_shard_and_names_the_damaged_one(both):
    single_dir, sharded_dir, _ = both
    assert verify_index(single_dir).ok and verify_index(sharded_dir).ok
    victim = next(p for p in sorted((sharded_dir / "shard-001").iterdir()) if p.suffix == ".codes" or "codes" in p.name)
    victim.write_bytes(victim.read_bytes()[:-1] + bytes([victim.read_bytes()[-1] ^ 0xFF]))
    rep = verify_index(sharded_dir)
    assert not rep.ok and all(p.startswith("shard-001: ") for p in rep.problems)


def test_layout_options_reach_the_layout_that_takes_them(both):
    single_dir, sharded_dir, _ = both
    with open_index(sharded_dir, fanout="serial") as idx:
        assert idx.info()["fanout"] == "serial"
    with pytest.raises(ConfigError, match="single index, whose opener takes no option fanout"):
        open_index(single_dir, fanout="serial")


def test_each_layout_names_the_directories_its_writer_locks(both):
    """What a read-only service holds its reader locks on (``serve/readonly.py`` asks the layout)."""
    from distilhash.index.lock import IndexLockedError
    from distilhash.serve.readonly import hold_reader_locks, release_all

    single_dir, sharded_dir, _ = both
    assert index_dirs(single_dir) == [single_dir]
    assert index_dirs(sharded_dir) == [sharded_dir / f"shard-{s:03d}" for s in range(3)]
    held = hold_reader_locks([single_dir, sharded_dir])
    try:
        assert len(held) == 4
        with pytest.raises(IndexLockedError):
            open_index(sharded_dir, writable=True)
    finally:
        release_all(held)
    open_index(sharded_dir, writable=True).close()


def test_a_directory_with_no_index_is_refused_by_name(tmp_path):
    assert layout_of(tmp_path) == list(LAYOUTS)[-1]
    with pytest.raises(IndexCorruptError, match=str(tmp_path.name)):
        open_index(tmp_path)
