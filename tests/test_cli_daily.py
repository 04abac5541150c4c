"""The CLI as a daily tool (issue 29): captions in search output, the encoder of each query in --json,
names from `distilhash paths` where paths go, --help without type noise, `serve` naming itself and
stopping with exit status 0 on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distilhash.cli.main import app
from distilhash.paths import indexes_dir, resolve_named

pytest.importorskip("fastapi")

from serve_fixtures import fixtures_python, make_world  # noqa: E402  (registers the toy teacher and method)



def run(*args: object) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, f"exit {res.exit_code}: {res.output}{res.exception!r}"
    return res.output


def test_index_names_stand_for_paths_and_search_shows_captions(tmp_path):
    world = make_world(tmp_path / "w")
    indexes_dir().mkdir(parents=True, exist_ok=True)
    (indexes_dir() / "toy-image").symlink_to(world["image_index"])
    assert resolve_named("toy-image", "indexes") == indexes_dir() / "toy-image"
    assert resolve_named("no-such-index", "indexes") == Path("no-such-index")  # left alone: the command says it is missing
    assert resolve_named(str(world["text_index"]), "indexes") == world["text_index"]

    out = json.loads(run("search", "toy-image", "--text", "boat", "--k", "3", "--json"))
    assert out[0]["encoder"] == "teacher"
    assert [r["caption"].split()[0] for r in out[0]["results"]] == ["boat"] * 3
    table = run("search", "toy-image", "--text", "boat", "--k", "3")
    assert "caption" in table and "read by the teacher encoder" in table and '{"dataset"' not in table


def test_help_shows_no_bool_after_plain_flags():
    out = run("search", "--help")
    assert "--json" in out and "<bool>" not in out


def test_serve_names_itself_and_stops_cleanly_on_sigterm(tmp_path):
    world = make_world(tmp_path / "w")
    argv, env = fixtures_python("from distilhash.serve.server import start_service\n"
                                f"start_service([{str(world['image_index'])!r}], port=0, warmup=False, "
                                "announce=lambda s: print(s, flush=True))")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert first.startswith("distilhash serve: "), first
        line = first
        while "open http" not in line:  # the startup stages come first (serve/stages.py), the address last
            line = proc.stdout.readline()
            assert line, "the service ended before announcing its address"
        time.sleep(1.5)  # uvicorn installs its handlers once it runs
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest  # not killed by the signal uvicorn raises again after its shutdown
    assert "distilhash serve: stopped" in rest
