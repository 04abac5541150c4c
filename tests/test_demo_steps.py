"""The demo's runner: step times written with their provenance, and the way to the CLI printed."""

from __future__ import annotations

import json

import pytest

from distilhash.benchmark.results import check_provenance
from distilhash.demo import steps


def test_demo_writes_step_times_and_prints_how_to_use_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEMO_NO_SERVE", "1")
    monkeypatch.setenv("DEMO_SETUP_SECONDS", "12")
    monkeypatch.setattr(steps, "STEPS", [
        steps.Step("reused step", lambda: ["--help"], lambda: True, module="json.tool"),
        steps.Step("a step that runs", lambda: ["--help"], module="json.tool"),
    ])
    steps.main()
    out = capsys.readouterr().out

    rec = json.loads((tmp_path / "home" / "demo-timings.json").read_text())
    reused, ran = rec["steps"]
    assert reused["reused"] is True and reused["seconds"] is None
    assert ran["reused"] is False and ran["seconds"] >= 0.0 and ran["command"] == "python -m json.tool --help"
    assert rec["steps_seconds"] == ran["seconds"] and rec["setup_seconds"] == 12.0
    assert reused["cpu_seconds"] is None and 0.0 <= ran["cpu_seconds"] <= ran["seconds"] * 4 + 0.1  # the child's CPU time
    assert rec["steps_cpu_seconds"] == ran["cpu_seconds"]
    assert check_provenance(rec["provenance"]) == []
    assert rec["provenance"]["load_after"] is not None and rec["provenance"]["command"] == "make demo"

    assert "bin/activate" in out and f"export DISTILHASH_HOME={tmp_path / 'home'}" in out
    assert "distilhash search " in out and "demo-timings.json" in out


def test_a_failed_step_keeps_the_times_of_the_steps_before_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEMO_NO_SERVE", "1")
    monkeypatch.setattr(steps, "STEPS", [
        steps.Step("a step that runs", lambda: ["--help"], module="json.tool"),
        steps.Step("a step that fails", lambda: ["--no-such-option"], module="json.tool"),
    ])
    with pytest.raises(SystemExit) as stop:
        steps._main()
    assert stop.value.code == 2  # the failing command's exit status
    rec = json.loads((tmp_path / "home" / "demo-timings-failed.json").read_text())
    assert [r["title"] for r in rec["steps"]] == ["a step that runs"] and rec["steps"][0]["seconds"] >= 0.0
    assert not (tmp_path / "home" / "demo-timings.json").exists()
