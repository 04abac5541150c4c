"""One error path for the command line: every command is wrapped by ``cli/errors.py``, and a
DistilhashError anywhere below a command is one ``error:`` line and status 1, never a traceback."""

from __future__ import annotations

import importlib
from pathlib import Path

from typer.testing import CliRunner

from distilhash.cli.checks import _commands
from distilhash.cli.main import app


def test_every_command_is_wrapped_once():
    """Every command of `distilhash`, and of each stage group used on its own (tests do), reports its errors."""
    from distilhash.cli.errors import Typer
    from distilhash.cli.main import STAGES

    groups = [m.app for m in map(importlib.import_module, (module for _, module, _ in STAGES)) if hasattr(m, "app")]
    assert groups and all(isinstance(g, Typer) for g in [app, *groups])
    commands = _commands(app)
    assert len(commands) > 20
    assert all(getattr(fn, "_distilhash_reported", False) for _, fn in commands), \
        [words for words, fn in commands if not getattr(fn, "_distilhash_reported", False)]


def test_no_cli_module_writes_its_own_error_block():
    root = Path(__file__).resolve().parents[1] / "src" / "distilhash" / "cli"
    own = [p.name for p in root.glob("*.py") if p.name != "errors.py"
           and ("except DistilhashError" in p.read_text() or 'secho(f"error: {exc}"' in p.read_text())]
    assert own == []


def test_a_library_error_is_one_line_and_status_1(tmp_path):
    empty = tmp_path / "not-an-index"
    empty.mkdir()  # exists (the option check passes), holds no index: the library refuses it
    r = CliRunner().invoke(app, ["index", "info", str(empty)])
    assert r.exit_code == 1, r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not-an-index" in lines[0], r.output
    assert isinstance(r.exception, SystemExit) and "Traceback" not in r.output


def test_a_usage_refusal_is_status_2(tmp_path):
    r = CliRunner().invoke(app, ["search", str(tmp_path)])
    assert r.exit_code == 2 and "give --text or --image" in r.output


def test_every_program_is_a_distilhash_sub_command():
    """No option parser outside cli/; the demo's steps are all `distilhash ...` commands."""
    from distilhash.demo.steps import STEPS

    src = Path(__file__).resolve().parents[1] / "src" / "distilhash"
    parsers = [str(p.relative_to(src)) for p in src.rglob("*.py") if "cli" not in p.parts and "argparse" in p.read_text()]
    assert parsers == []
    assert all(step.module == "distilhash.cli.main" for step in STEPS)
    words = {tuple(step.args()[:2]) for step in STEPS}
    assert {("query-encoder", "weak-match"), ("demo", "examples"), ("demo", "open-vocab")} <= words
    for cmd in (["query-encoder", "weak-match", "--help"], ["demo", "examples", "--help"], ["demo", "open-vocab", "--help"],
                ["demo", "run", "--help"], ["student", "pretrain", "--help"]):
        r = CliRunner().invoke(app, cmd)
        assert r.exit_code == 0, (cmd, r.output)
