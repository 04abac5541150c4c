"""The Ray index build's shard writers against a stale attempt, run in this process (no cluster needed).

A worker whose node froze while it wrote shard ``s`` is declared dead and ``s`` is written again by
another worker; the frozen one may wake up at any later moment of the build and finish its write.
Simulated by calling :meth:`ShardWorker.write_shard` for the same shard twice: one result is the
one the driver got and adopts, the other is the woken attempt's, run before or after the adoption.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import make_tiny_dataset
from distilhash.data.dataset import save_dataset
from distilhash.data.split import SplitSpec, make_split
from distilhash.data.store import SPLIT_FILE, open_prepared
from distilhash.distributed.shard_writers import BUCKETS, ShardWorker, adopt_shards
from distilhash.errors import IndexCorruptError
from distilhash.index.core import verify_index
from distilhash.methods.base import create_method
from distilhash.teachers.cache import extract_features, load_features
from test_teachers import HashTeacher

INDEX = {"model_dir": None, "teacher": None, "extra": {}, "n_shards": 2}


@pytest.fixture
def world(tmp_path):
    """A shard writer and a staging directory whose round 1 (the buckets) is done: ``(write, out)``,
    ``write(s)`` being one attempt at shard ``s`` (its result, as the driver would receive it)."""
    ds = make_tiny_dataset(n=60)
    d = save_dataset(ds, tmp_path / "tiny")
    make_split(60, SplitSpec(n_query=10, n_train=30, n_val=5, seed=0), ds.content_hash()).save(d / SPLIT_FILE)
    feats = load_features(extract_features(d, HashTeacher(), tmp_path / "feats", progress=False, chunk_size=10))
    _, split = open_prepared(d)
    create_method("itq", n_bits=16, seed=0).fit(feats, split).save(tmp_path / "model")
    w = ShardWorker(str(tmp_path / "model"), str(tmp_path / "feats" / "ids.json"), str(d), threads=1)
    out = tmp_path / "staging"
    (out / BUCKETS).mkdir(parents=True)
    r = w.encode_buckets(0, "image", str(tmp_path / "feats" / "image.npy"), (0, 60), "database", 0, 2, str(out))

    def write(s, where=out):
        return w.write_shard(s, str(where), [(0, *r["buckets"][s])], r["meta"], INDEX)

    return write, out


def _uuid(shard_dir) -> str:
    return json.loads((shard_dir / "manifest.json").read_text())["uuid"]


def _tree(d) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_a_writer_never_puts_a_shard_in_place_itself(world):
    write, out = world
    r = write(0)
    assert not (out / "shard-000").exists() and not (out / "order-000.bin").exists()
    assert (out / BUCKETS / r["attempt"] / "shard-000" / "manifest.json").is_file()
    adopt_shards(out, {0: r})
    assert _uuid(out / "shard-000") == r["uuid"] and (out / "order-000.bin").is_file()
    assert not verify_index(out / "shard-000").problems


def test_a_writer_that_wakes_after_the_adoption_cannot_replace_the_checked_shard(world):
    """Before: the woken writer replaced ``shard-000`` whole (same items, another uuid than the one checked)."""
    write, out = world
    checked = {s: write(s) for s in range(2)}
    adopt_shards(out, checked)
    before = _tree(out / "shard-000"), (out / "order-000.bin").read_bytes()
    late = write(0)  # the frozen attempt wakes up and finishes
    assert late["uuid"] != checked[0]["uuid"]
    assert _uuid(out / "shard-000") == checked[0]["uuid"]
    assert (_tree(out / "shard-000"), (out / "order-000.bin").read_bytes()) == before
    assert sorted(p.name for p in out.iterdir()) == [BUCKETS, "order-000.bin", "order-001.bin", "shard-000", "shard-001"]


def test_a_writer_that_wakes_before_the_adoption_is_not_adopted(world):
    """Before: its shard replaced the redo's and the driver refused the whole build ("not the shard its
    writer verified"); now the driver adopts the redo it got and the build goes on."""
    write, out = world
    lost = write(0)        # finished after its worker was declared dead: the driver never sees this result
    redo = write(0)
    adopt_shards(out, {0: redo})
    assert _uuid(out / "shard-000") == redo["uuid"] != lost["uuid"]
    assert (out / BUCKETS / lost["attempt"]).is_dir()  # never read; removed with .buckets


def test_a_writer_that_wakes_after_the_commit_writes_nothing(world, tmp_path):
    write, out = world
    adopt_shards(out, {s: write(s) for s in range(2)})
    shutil.rmtree(out / BUCKETS)            # the build's end: .buckets removed, the staging directory renamed
    final = tmp_path / "ix"
    os.replace(out, final)
    before = _tree(final)
    with pytest.raises(IndexCorruptError, match="is gone"):
        write(0)
    assert not out.exists() and _tree(final) == before


def test_the_driver_refuses_an_attempt_that_is_not_the_reported_one(world):
    write, out = world
    r = write(0)
    with pytest.raises(IndexCorruptError, match="not the shard its writer verified"):
        adopt_shards(out, {0: {**r, "uuid": "0" * 32}})
    with pytest.raises(IndexCorruptError, match="reported the attempt"):
        adopt_shards(out, {1: {**write(1), "attempt": "../elsewhere"}})
    with pytest.raises(IndexCorruptError, match="holds no shard"):
        adopt_shards(out, {1: {**write(1), "attempt": "shard-001.attempt-0123"}})
    assert not (out / "shard-001").exists()
