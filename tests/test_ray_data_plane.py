"""The Ray fan-out's data plane on a local 2-CPU Ray session: searches go over the shard actors'
socket endpoints (bound to 127.0.0.1, authenticated) and give exactly the single-process answers,
ties included; a killed replica is hidden by the other one (the failed socket call is retried
through Ray, the dead actor replaced, and its replacement serves over the data plane again);
writes are visible to the next data-plane search; a shard with no live replica is named.
The two-node version (a node killed under clients) runs in the slow suite
(tests/test_distributed_cluster.py, tests/test_serve_ray_cluster.py)."""

from __future__ import annotations

import os
import signal
import socket
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from test_distributed_index import _binary_items, _pair, _pq_items, _same  # noqa: E402

from distilhash.codes import Encoded  # noqa: E402
from distilhash.distributed.runtime import ray_session  # noqa: E402


@pytest.fixture(scope="module")
def session():
    with ray_session(num_cpus=2) as r:
        yield r


def _on_disk(tmp_path):
    """A binary single index (open) and the same items in ``tmp_path/sharded`` (closed, for a fan-out to open); ids, codes."""
    ids, enc, md = _binary_items()
    single, sharded = _pair(tmp_path, ids, enc, md)
    sharded.close()
    return single, ids, enc


def _reopen(sharded, **options):
    from distilhash.index import open_sharded_index

    directory = sharded.directory
    sharded.close()
    return open_sharded_index(directory, fanout="ray", fanout_options=options)


def test_data_plane_answers_equal_one_index_with_ties_and_bypass_ray_calls(session, tmp_path):
    rng = np.random.default_rng(3)
    for name, (ids, enc, md) in (("binary", _binary_items()), ("pq", _pq_items())):
        single, sharded = _pair(tmp_path / name, ids, enc, md)
        # binary: codes of the index (many exact ties); pq: continuous queries (ADC; few codewords used: ties)
        queries = enc.take(np.arange(0, len(ids), 11)) if name == "binary" else rng.normal(size=(20, 8)).astype(np.float32)
        with _reopen(sharded, replicas=2) as ix:
            fan = ix.fanout
            assert len(fan.endpoints) == 8 and all(host == "127.0.0.1" for host, _ in fan.endpoints.values())
            for k in (1, 10, 50, 500):
                _same(single.search(queries, k), ix.search(queries, k))
            for q in range(3):  # one query per call, as the service sends them
                one = queries.take(np.array([q])) if isinstance(queries, Encoded) else queries[q:q + 1]
                _same(single.search(one, 7), ix.search(one, 7))
            assert fan.served["ray"] == 0 and fan.served["fallbacks"] == 0 and fan.served["data plane"] == 4 * 7
        if name == "binary":  # data_plane=False: the Ray-call transport, same answers
            with _reopen(_pair(tmp_path / "calls", ids, enc, md)[1], data_plane=False) as calls_only:
                assert calls_only.fanout.endpoints == {}
                _same(single.search(queries, 20), calls_only.search(queries, 20))
                assert calls_only.fanout.served["data plane"] == 0 and calls_only.fanout.served["ray"] == 4
        single.close()


def test_a_killed_replica_is_hidden_then_replaced_and_writes_are_seen_at_once(session, tmp_path):
    from distilhash.index import open_sharded_index

    single, ids, enc = _on_disk(tmp_path)
    single.close()
    queries = enc.take(np.arange(0, len(ids), 13))
    with open_sharded_index(tmp_path / "sharded", writable=True, fanout="ray",
                            fanout_options={"replicas": 2, "failover_wait": 2.0}) as ix:
        fan = ix.fanout
        want = ix.search(queries, 30)
        victim = fan.actors[1][0]  # the replicas take turns: one of the next two searches picks it
        os.kill(int(ray.get(victim.pid.remote())), signal.SIGKILL)
        time.sleep(0.3)
        for _ in range(4):  # no failure, no partial answer, the same answers
            got, missing = ix.search_partial(queries, 30)
            assert missing == [] and [r.ids for r in got] == [r.ids for r in want]
        assert fan.served["fallbacks"] >= 1 and fan.restarts[1] == 1 and victim not in fan.endpoints
        deadline = time.monotonic() + 30
        while len(fan.actors[1]) < 2 and time.monotonic() < deadline:  # the replacement comes into service
            ix.search(queries, 3)
            time.sleep(0.2)
        assert len(fan.actors[1]) == 2 and all(h in fan.endpoints for h in fan.actors[1])
        before = dict(fan.served)
        for _ in range(4):
            ix.search(queries, 5)
        assert fan.served["ray"] == before["ray"] and fan.served["data plane"] == before["data plane"] + 16
        # writes through the index are seen by the next data-plane search (read-your-writes, no stale result)
        gone = want[0].ids[:5]
        ix.delete(gone)
        after = ix.search(queries, 400)
        assert not set(gone) & {i for r in after for i in r.ids}
        assert fan.served["ray"] == before["ray"]
        with open_sharded_index(tmp_path / "sharded", fanout="threads") as ref:
            _same(ref.search(queries, 400), after)


def test_endpoints_refuse_unauthenticated_peers_and_a_shard_without_replicas_is_named(session, tmp_path):
    from distilhash.distributed.pool import ClusterError

    ids, enc, md = _binary_items()
    single, sharded = _pair(tmp_path, ids, enc, md)
    queries = enc.take(np.arange(0, len(ids), 17))
    with _reopen(sharded, replicas=1, failover_wait=1.0) as ix:
        fan = ix.fanout
        host, port = fan.endpoints[fan.actors[0][0]]
        with socket.create_connection((host, port), timeout=5) as raw:  # a peer without the secret gets nothing
            assert len(raw.recv(16)) == 16
            raw.sendall(b"\x00" * 48)
            assert raw.recv(100) == b""
        _same(single.search(queries, 9), ix.search(queries, 9))  # the endpoint still serves the fan-out
        shard_dir = ix.shards[2].directory
        shard_dir.rename(shard_dir.with_name("moved"))
        try:
            os.kill(int(ray.get(fan.actors[2][0].pid.remote())), signal.SIGKILL)
            time.sleep(0.3)
            got, missing = ix.search_partial(queries, 9)
            assert missing == [2]
            with pytest.raises(ClusterError, match="shard 2"):
                ix.search(queries, 9)
        finally:
            shard_dir.with_name("moved").rename(shard_dir)
    single.close()


def test_an_index_opened_by_a_relative_path_is_found_by_the_actors(session, tmp_path, monkeypatch):
    """`distilhash serve ix/big --engine ray` (the docs' own example) failed: the actors, which run in their
    raylet's working directory, were sent the relative shard paths ("no such index directory")."""
    from distilhash.index import open_sharded_index

    single, ids, enc = _on_disk(tmp_path)
    monkeypatch.chdir(tmp_path)  # after the session started: the actors' working directory is not this one
    queries = enc.take(np.arange(0, len(ids), 17))
    with open_sharded_index("sharded", fanout="ray", fanout_options={"replicas": 1}) as ix:
        _same(single.search(queries, 10), ix.search(queries, 10))
    single.close()


def test_a_shard_no_actor_can_open_is_named_without_python_class_paths(session, tmp_path):
    from distilhash.errors import ClusterError
    from distilhash.index import open_sharded_index

    _on_disk(tmp_path)[0].close()
    with open_sharded_index(tmp_path / "sharded", fanout="ray", fanout_options={"replicas": 1}) as ix:
        (tmp_path / "sharded" / "shard-002" / "manifest.json").unlink()  # new actors cannot open it any more
        with pytest.raises(ClusterError) as err:
            ix.fanout.reload()
    message = str(err.value)
    assert "shard 2 (" in message and "manifest.json is missing" in message and "distilhash.errors" not in message, message
