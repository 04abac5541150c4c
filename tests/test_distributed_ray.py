"""The Ray engine on a local 2-CPU cluster: sharded extraction (resumable, identical features),
parallel encoding into a 4-shard index, the Ray fan-out. One cluster for the whole module."""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from conftest import make_tiny_dataset  # noqa: E402
from distilhash.data.dataset import save_dataset  # noqa: E402
from distilhash.data.split import SplitSpec, make_split  # noqa: E402
from distilhash.data.store import SPLIT_FILE  # noqa: E402
from distilhash.distributed.extract import extract_features_ray  # noqa: E402
from distilhash.distributed.runtime import ray_session  # noqa: E402
from distilhash.errors import FeatureError  # noqa: E402
from distilhash.teachers.cache import extract_features, load_features  # noqa: E402
from test_teachers import HashTeacher  # noqa: E402


class SlowHashTeacher(HashTeacher):
    """The toy teacher of the cache tests, taking a little time per call (so parts are in flight)."""

    def __init__(self, delay: float = 0.05):
        super().__init__()
        self.delay = delay

    def encode_texts(self, texts, batch_size=256, progress=False):
        time.sleep(self.delay)
        return super().encode_texts(texts, batch_size, progress)

    def encode_images(self, images, batch_size=64, progress=False):
        time.sleep(self.delay)
        return super().encode_images(images, batch_size, progress)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    for module in (__name__, HashTeacher.__module__):  # actors get the toy teacher classes by value
        ray.cloudpickle.register_pickle_by_value(sys.modules[module])
    # The workers keep the DISTILHASH_HOME of the session's start (the node check wants it readable):
    # an existing one of this module's, not whatever the caller exported (a fresh clone has no data/).
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTILHASH_HOME", str(tmp_path_factory.mktemp("ray-home")))
        with ray_session(num_cpus=2) as r:
            yield r


@pytest.fixture
def prepared(tmp_path):
    ds = make_tiny_dataset(n=60)
    d = save_dataset(ds, tmp_path / "tiny")
    make_split(60, SplitSpec(n_query=10, n_train=30, n_val=5, seed=0), ds.content_hash()).save(d / SPLIT_FILE)
    single = load_features(extract_features(d, SlowHashTeacher(0.0), tmp_path / "single", progress=False, chunk_size=10))
    return d, single


def _same_cache(a, b):
    assert a.ids == b.ids
    for name in ("image", "text", "label_text", "class_text", "labels"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for key in ("teacher", "teacher_fingerprint", "dataset_hash", "split_hash", "count", "template", "width"):
        assert a.manifest[key] == b.manifest[key]


def test_killed_worker_is_replaced_and_the_cache_is_complete_and_identical(cluster, prepared, tmp_path):
    d, single = prepared
    killed: list[int] = []

    def kill_once(part, pids):
        if not killed and len(pids) >= 2:
            os.kill(pids[1], signal.SIGKILL)  # a worker with parts in flight dies
            killed.append(pids[1])

    out = extract_features_ray(d, SlowHashTeacher(0.4), tmp_path / "ray", part_size=10, workers=2, progress=False,
                               on_part=kill_once)
    assert killed
    fs = load_features(out)
    _same_cache(fs, single)
    assert fs.manifest["engine"]["name"] == "ray" and fs.manifest["engine"]["parts"] == 6
    assert fs.manifest["engine"]["workers_lost"] >= 1
    assert not (out / "shards").exists()


def test_driver_stop_resumes_part_by_part_and_refuses_mismatched_parts(cluster, prepared, tmp_path):
    d, single = prepared
    out = tmp_path / "ray"
    extract_features_ray(d, SlowHashTeacher(0.0), out, part_size=10, workers=2, progress=False, stop_after_parts=2)
    with pytest.raises(FeatureError, match="interrupted|missing"):
        load_features(out)
    done = sorted(p.name for p in (out / "shards").glob("part-*") if (p / "part.json").is_file())
    assert len(done) >= 2
    with pytest.raises(FeatureError, match="unfinished extraction of something else"):
        extract_features_ray(d, SlowHashTeacher(0.0), out, part_size=10, workers=1, progress=False, template="bare")
    out2 = extract_features_ray(d, SlowHashTeacher(0.0), out, part_size=10, workers=2, progress=False)
    fs = load_features(out2)
    _same_cache(fs, single)
    assert fs.manifest["engine"]["parts_this_run"] == 6 - len(done)


def test_parallel_encoding_builds_a_sharded_index_equal_to_one_index(cluster, prepared, tmp_path):
    from distilhash.index import create_index, create_sharded_index, open_sharded_index
    from distilhash.methods.base import create_method
    from distilhash.pipeline.encode_engines import encode_with_engine

    d, feats = prepared
    from distilhash.data.store import open_prepared

    _, split = open_prepared(d)
    model = create_method("itq", n_bits=16, seed=0).fit(feats, split)
    model.save(tmp_path / "model")
    rows = np.arange(len(feats))
    on_ray = encode_with_engine("ray", tmp_path / "model", feats, rows, "image", part_size=16, progress=False)
    built = tmp_path / "sharded"
    with create_sharded_index(built, 4, kind="binary", n_bits=16) as w:
        w.add(feats.ids, on_ray, [{"row": int(i)} for i in rows])
    enc = model.encode("image", feats.image, "database")
    np.testing.assert_array_equal(on_ray.data, enc.data)
    with create_index(tmp_path / "single-index", kind="binary", n_bits=16) as single, \
            open_sharded_index(built, fanout="ray") as sharded:
        single.add(feats.ids, enc, [{"row": int(i)} for i in rows])
        assert len(sharded) == len(single) and sharded.n_shards == 4
        q = model.encode("text", feats.text[:12], "query")
        for k in (1, 5, 60):
            for a, b in zip(single.search(q, k), sharded.search(q, k)):
                assert a.ids == b.ids and a.metadata == b.metadata
                np.testing.assert_array_equal(a.distances, b.distances)


def test_index_build_engine_ray_equals_the_single_process_build(cluster, prepared, tmp_path):
    """`index build --engine ray --shards 4` (encoding in Ray actors of the test's 2-CPU cluster):
    the same codes as the local engine, item by item, and the same search results as the
    single-process builds (one index and 4 shards)."""
    from typer.testing import CliRunner

    from distilhash.cli.main import app
    from distilhash.data.store import open_prepared
    from distilhash.index import open_index
    from distilhash.pipeline.encode_engines import encode_with_engine
    from distilhash.methods.base import create_method

    d, feats = prepared
    _, split = open_prepared(d)
    models = {"itq": create_method("itq", n_bits=16, seed=0),
              "dcmh": create_method("dcmh", n_bits=16, hidden=[16], max_epochs=2, batch_size=16)}
    for name, m in models.items():
        m.fit(feats, split)
        m.save(tmp_path / name)
    rows = np.arange(len(feats))
    local = encode_with_engine("local", tmp_path / "itq", feats, rows, "image")  # numpy model; dcmh (torch) below
    on_ray = encode_with_engine("ray", tmp_path / "itq", feats, rows, "image", part_size=16, progress=False)
    np.testing.assert_array_equal(local.data, on_ray.data)

    def cli(*args, code=0):
        res = CliRunner().invoke(app, [str(a) for a in args])
        assert res.exit_code == code, res.output + str(res.exception)
        return res.output

    common = ["--model", tmp_path / "dcmh", "--dataset", d, "--features", tmp_path / "single",
              "--part", "all"]
    builds = {"one": [], "local4": ["--shards", "4"], "ray4": ["--shards", "4", "--engine", "ray", "--workers", "2"]}
    for out, extra in builds.items():
        cli("index", "build", tmp_path / out, *common, *extra)
    q = models["dcmh"].encode("text", feats.text[:15], "query")
    with open_index(tmp_path / "one") as one, open_index(tmp_path / "local4") as local4, \
            open_index(tmp_path / "ray4") as ray4:
        assert len(one) == len(local4) == len(ray4) == len(feats) and ray4.n_shards == 4
        assert ray4.manifest["extra"]["engine"] == "ray"
        for k in (1, 7, len(feats)):
            for a, b, c in zip(one.search(q, k), local4.search(q, k), ray4.search(q, k)):
                assert a.ids == b.ids == c.ids and a.metadata == b.metadata == c.metadata
                np.testing.assert_array_equal(a.distances, c.distances)
    (tmp_path / "codes.npz").write_bytes(b"")  # exists (the parse-time path check), refused for the engine
    assert "are already encoded" in cli("index", "build", tmp_path / "x", "--codes", tmp_path / "codes.npz",
                                                "--engine", "ray", code=1)


def test_ray_fanout_replaces_a_killed_shard_actor_and_sees_writes(cluster, prepared, tmp_path):
    """A shard actor SIGKILLed -> the next search is still exact (a new actor opened the shard);
    adds and deletes through the index are visible to the next search without reload(); a shard
    whose actor cannot be restarted is named in the error."""
    from distilhash.distributed.pool import ClusterError
    from distilhash.index import create_sharded_index, open_sharded_index
    from distilhash.methods.base import create_method

    d, feats = prepared
    from distilhash.data.store import open_prepared

    _, split = open_prepared(d)
    model = create_method("itq", n_bits=16, seed=0).fit(feats, split)
    enc = model.encode("image", feats.image, "database")
    q = model.encode("text", feats.text[:10], "query")
    ids = list(feats.ids)
    with create_sharded_index(tmp_path / "ix", 4, kind="binary", n_bits=16) as w:
        w.add(ids[:50], enc.take(np.arange(50)), [{"row": i} for i in range(50)])
    with open_sharded_index(tmp_path / "ix", writable=True, fanout="ray") as ix:
        before = [r.ids for r in ix.search(q, 7)]
        victim = ix.fanout.pids()[1]
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.5)
        assert [r.ids for r in ix.search(q, 7)] == before  # the lost shard's actor was replaced
        assert ix.fanout.restarts[1] == 1 and victim not in ix.fanout.pids()
        opens = ray.get([a[0].opened.remote() for a in ix.fanout.actors])
        ix.search(q, 7)
        assert ray.get([a[0].opened.remote() for a in ix.fanout.actors]) == opens  # no write: no reopen
        ix.add(ids[50:], enc.take(np.arange(50, 60)), [{"row": i} for i in range(50, 60)])
        gone = before[0][:3]
        ix.delete(gone)
        after = ix.search(q, 60)
        assert all(g not in r.ids for r in after for g in gone)
        assert set(ids[50:]) <= set(after[0].ids)
        fresh = open_sharded_index(tmp_path / "ix", fanout="threads")
        try:
            for a, b in zip(after, fresh.search(q, 60)):
                assert a.ids == b.ids
                np.testing.assert_array_equal(a.distances, b.distances)
        finally:
            fresh.close()
        shard_dir = ix.shards[2].directory
        os.kill(ix.fanout.pids()[2], signal.SIGKILL)
        shard_dir.rename(shard_dir.with_name("moved"))
        try:
            time.sleep(0.5)
            with pytest.raises(ClusterError, match="shard 2"):
                ix.search(q, 5)
        finally:
            shard_dir.with_name("moved").rename(shard_dir)


def test_parallel_encoding_survives_a_killed_worker(cluster, prepared, tmp_path):
    from distilhash.distributed.encode import RowStore, encode_parallel
    from distilhash.methods.base import create_method

    d, feats = prepared
    from distilhash.data.store import open_prepared

    _, split = open_prepared(d)
    model = create_method("itq", n_bits=16, seed=0).fit(feats, split)
    model.save(tmp_path / "model")
    x = np.ascontiguousarray(np.tile(feats.image, (20, 1)))  # 1200 rows, 24 parts of 50
    killed: list[int] = []

    def kill_once(part, pids):
        if not killed:  # the first ready worker dies with parts in flight and 20+ parts queued
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    np.save(tmp_path / "x.npy", x)  # the workers read their rows from the store themselves
    enc = encode_parallel(cluster, tmp_path / "model", RowStore(str(tmp_path / "x.npy")), "image", part_size=50,
                          workers=2, progress=False, on_part=kill_once)
    assert killed
    np.testing.assert_array_equal(enc.data, model.encode("image", x, "database").data)


def _shard_contents(directory):
    """Per shard: (ids, codes, metadata with the global order, order file bytes), read back from disk."""
    from distilhash.index import open_index

    out = []
    with open_index(directory) as ix:
        for s, shard in enumerate(ix.shards):
            ids = [i for i, _ in shard.iter_metadata()]
            got = shard.get(ids)
            out.append((ids, np.stack([got[i][0] for i in ids]) if ids else None, [got[i][1] for i in ids],
                        (directory / f"order-{s:03d}.bin").read_bytes()))
    return out


def _assert_same_shards(a, b):
    sa, sb = _shard_contents(a), _shard_contents(b)
    assert len(sa) == len(sb)
    for (ids_a, codes_a, md_a, order_a), (ids_b, codes_b, md_b, order_b) in zip(sa, sb):
        assert ids_a == ids_b and md_a == md_b and order_a == order_b
        np.testing.assert_array_equal(codes_a, codes_b)


def test_shard_writers_write_the_single_process_shards(cluster, prepared, tmp_path):
    """`build_index(engine="ray", shards=3)` on the retrieval part (rows not contiguous: the workers get row
    lists) with PQ codes: the workers' shards hold the same ids, codes, metadata (global order included)
    and order files as one process's sharded build, and nothing is left beside them."""
    from distilhash.data.store import open_prepared
    from distilhash.methods.base import create_method
    from distilhash.pipeline.index import build_index

    d, feats = prepared
    _, split = open_prepared(d)
    model = create_method("pq", n_bits=16, nbits_per_code=4, seed=0).fit(feats, split)
    model.save(tmp_path / "pq")
    common = dict(model=tmp_path / "pq", dataset=str(d), features=tmp_path / "single", part="retrieval", shards=3)
    local = build_index(tmp_path / "local3", **common)
    ray3 = build_index(tmp_path / "ray3", engine="ray", engine_options={"workers": 2, "part_size": 8, "progress": False},
                       **common)
    assert ray3["engine_run"]["parts"] > 2 and ray3["items"] == local["items"] == 50
    _assert_same_shards(tmp_path / "ray3", tmp_path / "local3")
    assert sorted(p.name for p in (tmp_path / "ray3").iterdir()) == sorted(p.name for p in (tmp_path / "local3").iterdir())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging directory left


def test_shard_writers_survive_a_killed_worker(cluster, prepared, tmp_path):
    """A worker SIGKILLed while parts are in flight: the build completes with shards equal to an undisturbed one."""
    from distilhash.data.store import open_prepared
    from distilhash.distributed.encode import RowStore
    from distilhash.distributed.shard_writers import build_sharded_ray
    from distilhash.methods.base import create_method

    d, feats = prepared
    _, split = open_prepared(d)
    model = create_method("itq", n_bits=16, seed=0).fit(feats, split)
    model.save(tmp_path / "model")
    store = RowStore(str(tmp_path / "single" / "image.npy"))
    killed: list[int] = []

    def kill_once(part, pids):
        if not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    runs = {}
    for name, hook in (("calm", None), ("killed", kill_once)):
        runs[name] = build_sharded_ray(cluster, tmp_path / name, store, n_shards=4, model_dir=tmp_path / "model",
                                       ids_path=tmp_path / "single" / "ids.json", dataset=str(d), modality="image",
                                       teacher=None, extra={}, workers=2, part_size=4, progress=False, on_part=hook)
    assert killed and runs["killed"]["workers_lost"] >= 1
    _assert_same_shards(tmp_path / "killed", tmp_path / "calm")


def test_a_shard_is_never_left_in_place_unless_it_verified(prepared, tmp_path):
    """The shard writer (run in this process): a bucket that changed after its writer reported it is refused,
    and the failed writer leaves no ``shard-NNN`` (nor its attempt directory) behind; a writer never puts a
    shard in place itself (the driver adopts the attempt it got: tests/test_shard_writers_stale.py)."""
    from distilhash.data.store import open_prepared
    from distilhash.distributed.shard_writers import ShardWorker
    from distilhash.errors import IndexCorruptError
    from distilhash.methods.base import create_method

    d, feats = prepared
    _, split = open_prepared(d)
    create_method("itq", n_bits=16, seed=0).fit(feats, split).save(tmp_path / "model")
    w = ShardWorker(str(tmp_path / "model"), str(tmp_path / "single" / "ids.json"), str(d), threads=1)
    out = tmp_path / "ix"
    (out / ".buckets").mkdir(parents=True)
    r = w.encode_buckets(0, "image", str(tmp_path / "single" / "image.npy"), (0, 60), "database", 0, 2, str(out))
    index = {"model_dir": None, "teacher": None, "extra": {}, "n_shards": 2}
    ok = w.write_shard(0, str(out), [(0, *r["buckets"][0])], r["meta"], index)
    assert ok["count"] == r["buckets"][0][0] and (out / ".buckets" / ok["attempt"] / "shard-000" / "manifest.json").is_file()
    bucket = out / ".buckets" / "p00000-s001.npz"
    bucket.write_bytes(bucket.read_bytes()[:-7] + b"garbage")
    with pytest.raises(IndexCorruptError, match="checksum"):
        w.write_shard(1, str(out), [(0, *r["buckets"][1])], r["meta"], index)
    assert sorted(p.name for p in out.iterdir()) == [".buckets"]
    assert sorted(p.name for p in (out / ".buckets").iterdir()) == ["p00000-s000.npz", "p00000-s001.npz", ok["attempt"]]


def test_each_encoding_worker_checks_its_node_before_its_parts_are_used(cluster, prepared, tmp_path, monkeypatch):
    """No separate node check: a worker whose node runs other code than the driver (here: the driver's
    own facts altered) fails the call with a ClusterError naming the node, not with codes."""
    import distilhash.distributed.preflight as preflight
    from distilhash.distributed.encode import RowStore, encode_parallel
    from distilhash.distributed.pool import ClusterError
    from distilhash.methods.base import create_method

    d, feats = prepared
    from distilhash.data.store import open_prepared

    _, split = open_prepared(d)
    create_method("itq", n_bits=16, seed=0).fit(feats, split).save(tmp_path / "model")
    real = preflight.node_facts
    monkeypatch.setattr(preflight, "node_facts", lambda paths: {**real(paths), "code": "0" * 16})
    with pytest.raises(ClusterError, match=r"node \w+ .*source hash .* but the driver has"):
        encode_parallel(cluster, tmp_path / "model", RowStore(str(tmp_path / "single" / "image.npy")), "image",
                        part_size=10, workers=2, progress=False)
