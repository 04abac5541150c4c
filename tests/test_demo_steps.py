"""The demo's runner: step times written with their provenance, and the way to the CLI printed."""

from __future__ import annotations

import json

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
