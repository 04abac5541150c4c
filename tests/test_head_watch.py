"""The driver's watch on its cluster's head: a lost head ends the driver with a message saying so
(what the job kept, how to resume) instead of Ray's bare termination 60 s later."""

from __future__ import annotations

import io
import socket
import threading

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
