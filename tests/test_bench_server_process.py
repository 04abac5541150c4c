"""The benchmark's server subprocess helper: a free loopback port, ready when it answers, stopped on exit."""

from __future__ import annotations

import os
import sys

import pytest

from distilhash.benchmark.server_process import ServerProcess, free_port, health_ok, rss_mib


def _http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_started_server_answers_then_is_stopped(tmp_path):
    (tmp_path / "ok").write_text("fine")
    with ServerProcess(lambda port: _http_server(port) + ["--directory", str(tmp_path)], tmp_path / "server.log",
                       ready=lambda port: health_ok(port, "/ok"), timeout_s=60) as s:
        assert health_ok(s.port, "/ok")
        pid = s.proc.pid
        assert rss_mib(pid)["VmRSS"] > 1
    assert s.proc.poll() is not None  # stopped when the block ends
    with pytest.raises(OSError):
        health_ok(s.port, "/ok")


def test_a_server_that_exits_is_reported_with_its_log(tmp_path):
    with pytest.raises(RuntimeError, match="exited with 3.*server.log"):
        with ServerProcess(lambda port: [sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path / "server.log", timeout_s=30):
            pass


def test_free_port_and_own_memory():
    assert 1024 <= free_port() < 65536
    mem = rss_mib(os.getpid())
    assert 0 < mem["VmRSS"] <= mem["VmHWM"]
