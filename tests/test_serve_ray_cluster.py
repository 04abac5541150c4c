"""``engine="ray"`` service on a real two-node cluster (two raylets on this host, token auth), 4
shards x 2 replicas, HTTP clients searching while every process of node 1 is SIGKILLed by PID:
no failed request 2 s after the kill, no answer missing a shard without saying so, and no deleted
item returned by the searches right after a delete; and the command itself, `distilhash serve
--engine ray`, on its own local Ray cluster (slow suite: `make test-slow`)."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from distilhash.distributed.serve_failover import run_trial  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from serve_fixtures import make_world  # noqa: E402
from test_serve_ray import _app, _search, sharded_copy  # noqa: E402

pytestmark = pytest.mark.slow


def test_service_survives_a_node_loss_without_failed_or_silent_partial_answers(tmp_path):
    r = run_trial(tmp_path, clients=8, seconds=12.0, kill_at=4.0, n_items=4000, replicas=2, grace=2.0)
    assert r["killed_pids"] and r["after_kill_requests"] > 20, r
    assert r["failed_after_grace"] == 0, r
    assert r["silent_wrong"] == 0, r
    assert r["deleted"] > 0 and r["stale"] == 0 and r["partial_after_delete"] == 0, r


def test_distilhash_serve_engine_ray_serves_and_stops_cleanly(tmp_path):
    """The command itself: `distilhash serve IX --engine ray --replicas 2` starts its own local Ray cluster,
    answers like the local engine with the partial fields, and exits 0 on SIGTERM."""
    import json
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    from distilhash.serve.thumbs import THUMBS_FILE

    world = make_world(tmp_path / "w")
    ix = sharded_copy(world["image_index"], tmp_path / "ix")
    shutil.copy(world["image_index"] / THUMBS_FILE, ix / THUMBS_FILE)  # the toy dataset is not findable by name there
    with TestClient(_app(ix, engine="local")) as local:
        want = [x["id"] for x in _search(local, "boat cat", 6)["results"]]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tests = str(Path(__file__).parent)
    code = f"import sys; sys.path.insert(0, {tests!r}); import serve_fixtures; from distilhash.cli.main import app; app()"
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "DISTILHASH_API_KEY")}
    env.update(DISTILHASH_HOME=str(tmp_path / "home"), RAY_AUTH_MODE="token")
    (tmp_path / "home").mkdir()
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", str(ix), "--engine", "ray", "--replicas", "2",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "open http" in line or proc.poll() is not None:
                break
        assert "open http" in lines[-1], "".join(lines)[-3000:]
        url = f"http://127.0.0.1:{port}/api/search?q=boat+cat&k=6&direction=t2i"
        while True:  # the address is announced just before uvicorn listens
            try:
                with urllib.request.urlopen(url, timeout=60) as r:
                    body = json.loads(r.read())
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert body["partial"] is False and body["missing_shards"] == []
        assert [x["id"] for x in body["results"]] == want
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out = proc.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, out[-3000:]
