"""The driver's watch on its cluster's head: a lost head ends the driver with a message saying so
(what the job kept, how to resume) instead of Ray's bare termination 60 s later."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest

from distilhash.distributed.head_watch import EXIT_HEAD_LOST, HeadWatch, note


def _listener() -> tuple[socket.socket, str]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    threading.Thread(target=lambda: [c.close() for c in iter(lambda: _accept(srv), None)], daemon=True).start()
    return srv, f"127.0.0.1:{srv.getsockname()[1]}"


def _accept(srv: socket.socket):
    try:
        return srv.accept()[0]
    except OSError:
        return None


def test_a_lost_head_ends_the_driver_with_what_was_kept_and_how_to_resume():
    srv, address = _listener()
    ended, out = threading.Event(), io.StringIO()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        ended.set()

    with HeadWatch(address, grace_s=0.6, every_s=0.1, exit=fake_exit, stream=out):
        note("The extraction's finished parts are kept in /x/shards")
        assert not ended.wait(1.0), "a head that answers must not end the driver"
        srv.close()
        assert ended.wait(10.0), "the watch did not notice the head was gone"
    message = out.getvalue()
    assert codes == [EXIT_HEAD_LOST]
    assert f"lost the Ray cluster's head: its GCS at {address}" in message
    assert "The extraction's finished parts are kept in /x/shards." in message
    assert "rerun the same command" in message and "Traceback" not in message


def test_a_stopped_watch_never_ends_the_process():
    srv, address = _listener()
    codes: list[int] = []
    watch = HeadWatch(address, grace_s=0.2, every_s=0.05, exit=codes.append, stream=io.StringIO()).start()
    watch.stop()
    srv.close()
    threading.Event().wait(0.6)
    assert codes == []
    note("no watch is running: nothing to tell")  # harmless without a watch


def test_ray_session_watches_a_cluster_it_connects_to_not_one_it_starts(monkeypatch):
    """The watch belongs to clusters given by address (a local cluster lives and dies with this process)."""
    from distilhash.distributed import head_watch, runtime

    started: list[str] = []

    class FakeRay:
        def is_initialized(self):
            return False

        def init(self, **_):
            pass

        def shutdown(self):
            pass

        def get_runtime_context(self):
            return type("Ctx", (), {"gcs_address": "127.0.0.1:1"})()

    class Recorder(head_watch.HeadWatch):
        def start(self):
            started.append(self.address)
            return self

    monkeypatch.setattr(runtime, "import_ray", FakeRay)
    monkeypatch.setattr(head_watch, "HeadWatch", Recorder)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with runtime.ray_session("127.0.0.1:1"):
        pass
    with runtime.ray_session(None, num_cpus=1):
        pass
    with runtime.ray_session("127.0.0.1:1", head_grace=None):
        pass
    assert started == ["127.0.0.1:1"]


def test_the_watch_waits_inside_rays_own_window(monkeypatch):
    """A head brought back within Ray's reconnect window (GCS fault tolerance) is waited for; the message comes 10 s before Ray would end the process."""
    from distilhash.distributed.head_watch import default_grace

    monkeypatch.delenv("RAY_gcs_rpc_server_reconnect_timeout_s", raising=False)
    assert default_grace() == 50.0 and HeadWatch("127.0.0.1:1").grace_s == 50.0
    monkeypatch.setenv("RAY_gcs_rpc_server_reconnect_timeout_s", "300")
    assert default_grace() == 290.0
    monkeypatch.setenv("RAY_gcs_rpc_server_reconnect_timeout_s", "8")
    assert default_grace() == 5.0
    assert "Ray would end it after 8 s" in HeadWatch("127.0.0.1:1", grace_s=1).message(1.0)


def test_a_service_refuses_searches_at_once_while_the_head_is_unreachable(tmp_path, monkeypatch):
    """`serve --engine ray` with its head killed: every search hung until the process ended; now a 503 says why."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from distilhash.distributed import head_watch
    from distilhash.serve import engines, routes
    from serve_fixtures import make_app

    watch = HeadWatch("127.0.0.1:1", grace_s=50.0)
    assert head_watch.unreachable_head() is None
    monkeypatch.setattr(head_watch, "_current", [watch])
    watch.silent_since = time.monotonic() - 4.0
    address, silent, left = head_watch.unreachable_head()
    assert address == "127.0.0.1:1" and 4.0 <= silent < 10.0 and 40.0 < left <= 46.0
    assert engines.cluster_refusal("local") is None  # only the Ray engine searches through the cluster
    message = engines.cluster_refusal("ray")
    assert message.startswith("the Ray cluster's head at 127.0.0.1:1 has not answered for 4 s")
    monkeypatch.setattr("distilhash.serve.guard.cluster_refusal", lambda engine: message)  # the toy world serves locally
    with TestClient(make_app(tmp_path)) as client:
        for r in (client.get(f"{routes.SEARCH}?q=red"), client.get(f"{routes.SIMILAR}?id=it000")):
            assert (r.status_code, r.json()["error"], r.headers["retry-after"]) == (503, message, "10")
        assert client.get(routes.ITEM_PREFIX + "it000").status_code == 200  # items are read by the service itself
        assert client.get(routes.HEALTH).status_code == 200
    watch.silent_since = None
    assert head_watch.unreachable_head() is None
