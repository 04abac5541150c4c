"""The service over a sharded index searched by Ray shard actors (``engine="ray"``, 2 replicas per
shard) on a local 2-CPU Ray session: the same answers as the in-process engine, writes visible to
the next search, a killed actor hidden by its replica, and a shard with no live replica flagged
in the answer (``partial``, ``missing_shards``), never dropped silently. The two-node version
(a node killed under clients) is in tests/test_serve_ray_cluster.py (slow suite)."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from fastapi.testclient import TestClient  # noqa: E402
from serve_fixtures import COLOURS, WORDS, make_world, png_bytes  # noqa: E402

from distilhash.distributed.runtime import ray_session  # noqa: E402

KEY = "ray-serve-key"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DISTILHASH_HOME", str(tmp_path_factory.mktemp("ray-home")))
        with ray_session(num_cpus=2) as r:
            yield r


def sharded_copy(single, directory, shards: int = 4):
    """A sharded index holding the items of the single index ``single`` (same ids, codes, metadata, order)."""
    from distilhash.index import create_sharded_index, open_index

    with open_index(single) as one:
        ids = [i for i, _ in one.iter_metadata()]
        got = one.get(ids)
        m = one.manifest
    codes = np.stack([got[i][0] for i in ids])
    with create_sharded_index(directory, shards, kind="binary", n_bits=8, model_dir=m["model_dir"], teacher=m["teacher"],
                              extra=m["extra"]) as w:
        w.add(ids, codes, [got[i][1] for i in ids])
    return directory


def _app(index_dir, engine="ray", **options):
    from distilhash.serve.app import create_app

    extra = {"engine": engine, "engine_options": options} if engine == "ray" else {}
    return create_app(index_dir, api_key=KEY, **extra)


def _search(c, q, k=8):
    r = c.get("/api/search", params={"q": q, "k": k, "direction": "t2i"})
    assert r.status_code == 200, r.text
    return r.json()


def test_ray_engine_answers_like_the_local_engine_and_reads_its_writes(session, tmp_path):
    world = make_world(tmp_path / "w")
    ix = sharded_copy(world["image_index"], tmp_path / "ix")
    queries = ["boat", "cat dog", "moon", "star tree"]
    with TestClient(_app(ix, engine="local")) as local:
        expected = [_search(local, q)["results"] for q in queries]
    with TestClient(_app(ix, replicas=2)) as c:
        fan = c.app.state.service.targets["image"].index.fanout
        assert fan.name == "ray" and [len(a) for a in fan.actors] == [2, 2, 2, 2]
        for q, want in zip(queries, expected):
            body = _search(c, q)
            assert body["partial"] is False and body["missing_shards"] == []
            assert [(x["id"], x["distance"]) for x in body["results"]] == [(x["id"], x["distance"]) for x in want]
        # read-your-writes: an added item is found by the very next search, a deleted one never again
        moon = COLOURS[WORDS.index("moon")]
        r = c.post("/api/items", data={"id": "new-moon", "caption": "moon"}, files={"image": ("m.png", png_bytes(moon), "image/png")},
                   headers={"X-API-Key": KEY})
        assert r.status_code == 201, r.text
        hit = c.post("/api/search/image", files={"file": ("q.png", png_bytes(moon), "image/png")}, data={"k": "8", "direction": "i2i"}).json()
        assert "new-moon" in [x["id"] for x in hit["results"]] and hit["partial"] is False
        gone = [x["id"] for x in _search(c, "boat")["results"][:3]]
        for item in gone:
            assert c.delete(f"/api/items/{item}", headers={"X-API-Key": KEY}).status_code == 200
        for _ in range(3):  # every replica answers in turn: none may be stale
            assert not set(gone) & {x["id"] for x in _search(c, "boat", 40)["results"]}
        # "more like this" goes through the same search
        sim = c.get("/api/search/similar", params={"id": "it001", "k": 5}).json()
        assert sim["partial"] is False and sim["results"][0]["id"] == "it001"


def test_a_killed_actor_is_hidden_by_its_replica_and_a_shard_without_any_is_flagged(session, tmp_path):
    world = make_world(tmp_path / "w")
    ix = sharded_copy(world["image_index"], tmp_path / "ix")
    with TestClient(_app(ix, replicas=2, failover_wait=1.0)) as c:
        fan = c.app.state.service.targets["image"].index.fanout
        want = [(x["id"], x["distance"]) for x in _search(c, "fish", 40)["results"]]
        os.kill(int(ray.get(fan.actors[1][0].pid.remote())), signal.SIGKILL)
        for _ in range(4):  # no failed request, no partial answer: the other replica answers
            body = _search(c, "fish", 40)
            assert body["partial"] is False and [(x["id"], x["distance"]) for x in body["results"]] == want
        # shard 2 loses both replicas and cannot be reopened (its directory is gone): flagged, not silent
        shard_dir = c.app.state.service.targets["image"].index.shards[2].directory
        shard_dir.rename(shard_dir.with_name("moved"))
        try:
            for h in list(fan.actors[2]):
                os.kill(int(ray.get(h.pid.remote())), signal.SIGKILL)
            time.sleep(0.5)
            body = _search(c, "fish", 40)
            assert body["partial"] is True and body["missing_shards"] == [2]
            from distilhash.index.sharded import shard_of

            assert body["results"] and all(shard_of(x["id"], 4) != 2 for x in body["results"])
            assert [x["id"] for x in body["results"]] == [i for i, _ in want if shard_of(i, 4) != 2]
        finally:
            shard_dir.with_name("moved").rename(shard_dir)
        deadline = time.monotonic() + 30  # the directory is back: a replacement opens it, answers are whole again
        while (body := _search(c, "fish", 40))["partial"] and time.monotonic() < deadline:
            time.sleep(0.3)
        assert body["partial"] is False and [(x["id"], x["distance"]) for x in body["results"]] == want


def test_the_ray_engine_is_refused_where_it_cannot_serve(session, tmp_path):
    from distilhash.serve.engine import ServiceError

    world = make_world(tmp_path / "w")
    with pytest.raises(ServiceError, match="single index.*sharded"):
        _app(world["image_index"], replicas=2)
    with pytest.raises(ServiceError, match="no option colour"):
        _app(world["image_index"], colour=2)
    from distilhash.serve.app import create_app

    ix = sharded_copy(world["image_index"], tmp_path / "ix")
    with pytest.raises(ServiceError, match="search_workers 1"):
        create_app(ix, engine="ray", search_workers=2)


def test_cli_options_of_the_ray_engine_are_checked(tmp_path):
    from typer.testing import CliRunner

    from distilhash.cli.main import app

    world = make_world(tmp_path / "w")
    r = CliRunner().invoke(app, ["serve", str(world["image_index"]), "--replicas", "2"])
    assert r.exit_code == 2 and "--engine ray" in r.output
    r = CliRunner().invoke(app, ["serve", str(world["image_index"]), "--ray-calls-only"])
    assert r.exit_code == 2 and "--engine ray" in r.output
    r = CliRunner().invoke(app, ["serve", str(world["image_index"]), "--engine", "dask"])
    assert r.exit_code == 2 and "local or ray" in r.output


def test_shard_actors_are_placed_on_the_nodes_that_hold_the_shard():
    """A shard readable on every node is placed freely; one readable on some nodes only is pinned to them;
    one no node can read is an error naming it."""
    from types import SimpleNamespace

    from distilhash.distributed.pool import ClusterError
    from distilhash.distributed.ray_fanout import RayFanout

    fake = SimpleNamespace(index=SimpleNamespace(shards=[SimpleNamespace(directory=f"/ix/shard-00{s}") for s in range(3)]))
    facts = {"n0": {"unreadable": {"shard 1": "/ix/shard-001"}}, "n1": {"unreadable": {"order 2": "/ix/order-002.bin"}}}
    assert RayFanout._find_homes(fake, facts) == [None, {"n1"}, {"n0"}]
    facts["n1"]["unreadable"]["shard 1"] = "/ix/shard-001"
    with pytest.raises(ClusterError, match=r"shard 1 \(/ix/shard-001\)"):
        RayFanout._find_homes(fake, facts)

