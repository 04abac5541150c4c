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
def cluster():
    for module in (__name__, HashTeacher.__module__):  # actors get the toy teacher classes by value
        ray.cloudpickle.register_pickle_by_value(sys.modules[module])
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
        if not killed:
            os.kill(pids[1], signal.SIGKILL)  # a worker with parts in flight dies
            killed.append(pids[1])

    out = extract_features_ray(d, SlowHashTeacher(), tmp_path / "ray", part_size=10, workers=2, progress=False,
                               on_part=kill_once)
    assert killed
    fs = load_features(out)
    _same_cache(fs, single)
    assert fs.manifest["engine"]["name"] == "ray" and fs.manifest["engine"]["parts"] == 6
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
    from distilhash.distributed.encode import build_sharded_index_ray
    from distilhash.distributed.sharded_index import open_sharded_index
    from distilhash.index import create_index
    from distilhash.methods.base import create_method

    d, feats = prepared
    from distilhash.data.store import open_prepared

    _, split = open_prepared(d)
    model = create_method("itq", n_bits=16, seed=0).fit(feats, split)
    model.save(tmp_path / "model")
    rows = np.arange(len(feats))
    built = build_sharded_index_ray(tmp_path / "model", feats, rows, tmp_path / "sharded", n_shards=4, modality="image",
                                    part_size=16, progress=False)
    enc = model.encode("image", feats.image, "database")
    with create_index(tmp_path / "single-index", kind="binary", n_bits=16) as single, \
            open_sharded_index(built, fanout="ray") as sharded:
        single.add(feats.ids, enc, [{"row": int(i)} for i in rows])
        assert len(sharded) == len(single) and sharded.n_shards == 4
        q = model.encode("text", feats.text[:12], "query")
        for k in (1, 5, 60):
            for a, b in zip(single.search(q, k), sharded.search(q, k)):
                assert a.ids == b.ids and a.metadata == b.metadata
                np.testing.assert_array_equal(a.distances, b.distances)
