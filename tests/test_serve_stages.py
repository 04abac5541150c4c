"""`distilhash serve` says on stderr what it loads while it starts, then the address (serve/stages.py)."""

from __future__ import annotations

import io
import signal
import subprocess

import pytest

from distilhash.serve.stages import StartupStages

pytest.importorskip("fastapi")

from serve_fixtures import fixtures_python, make_world  # noqa: E402


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_when_a_stage_starts_and_one_when_it_ends_or_fails():
    out = io.StringIO()
    stages = StartupStages(out)
    with stages.stage("loading the teacher x"):
        pass
    with pytest.raises(RuntimeError), stages.stage("warming up"):
        raise RuntimeError("boom")
    lines = out.getvalue().splitlines()
    assert lines[0] == "distilhash serve: loading the teacher x ..."
    assert lines[1].startswith("distilhash serve: loading the teacher x: done (") and lines[1].endswith(" s)")
    assert lines[2] == "distilhash serve: warming up ..." and "warming up: failed after" in lines[3]
    assert "\r" not in out.getvalue()  # no spinner in a log


def test_a_terminal_gets_a_spinner_that_ends_on_done():
    import time

    out = _Terminal()
    with StartupStages(out).stage("loading"):
        time.sleep(0.35)
    text = out.getvalue()
    assert text.startswith("distilhash serve: loading ...") and text.count("\r") >= 3  # redrawn ~10 times a second
    assert any(f"loading {c} 0 s" in text for c in "|/-\\")
    assert text.endswith("\n") and text.splitlines()[-1].split("\r")[-1].startswith("distilhash serve: loading ... done (")


def test_serve_says_what_it_loads_on_stderr_before_the_address(tmp_path):
    """The real start path (warm-up on): the stages, each with its time, then the address; stdout stays empty."""
    import socket

    world = make_world(tmp_path / "w")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv, env = fixtures_python("from distilhash.cli.main import app\n"
                                f"app(['serve', {str(world['image_index'])!r}, {str(world['text_index'])!r}, '--port', '{port}'])")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        while True:
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
            if "open http" in line:
                break
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(lines)
    opening = text.index("opening 2 indexes and the model ...")
    loaded = text.index("loading the teacher serve-toy (image and text towers) and warming up: done (")
    assert opening < loaded < text.index(f"open http://127.0.0.1:{port}/"), text
    # 40 items, all in the match sample: the weak-match threshold was set from the index's own captions, and it says so
    assert "image index of 40 items: weak-match threshold " in text and "searched its 40 captions in" in text, text
    assert out == ""
