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


def test_the_demo_ends_with_its_figures_beside_the_committed_records(tmp_path):
    from distilhash.demo.record_compare import compare_lines

    dom = {"method": {"p_at": 0.1}}
    run = {"examples": [{"precision": 0.8, "title_precision": 0.2}, {"precision": 0.6, "title_precision": 0.4}],
           "open_vocab": {"dcmq 64 bits (this model)": {"domains": {"openclipart": dom}},
                          "float teacher": {"domains": {"openclipart": {"method": {"p_at": 0.113}}}}},
           "teacher": {"spec": "t", "fingerprint": "f1"}}
    assert compare_lines(run, tmp_path / "none.json")[0].startswith("(no committed demo record at")
    record = {**run, "examples": run["examples"][:1], "teacher": {"spec": "t", "fingerprint": "f0"},
              "provenance": {"commit": "abcdef123"}}
    (tmp_path / "demo.json").write_text(json.dumps(record))
    lines = compare_lines(run, tmp_path / "demo.json")
    assert "commit abcdef1" in lines[0] and "another copy or teacher: fingerprint f0" in lines[0]
    rows = {ln.split("  ")[1].strip(): ln for ln in lines[1:]}
    assert "0.700  (record 0.800)" in rows["examples by label"] and "0.300  (record 0.200)" in rows["examples by title"]
    assert list(rows)[2] == "float teacher openclipart P@10" and "0.113  (record 0.113)" in lines[3]
    assert "0.100  (record 0.100)" in rows["model openclipart P@10"]
    record["teacher"] = run["teacher"]
    (tmp_path / "demo.json").write_text(json.dumps(record))
    assert "the same copy" in compare_lines(run, tmp_path / "demo.json")[0]
    assert steps.RECORD.is_file()  # the committed record of this repository


def test_a_model_trained_with_other_options_than_the_records_is_named_as_the_cause(tmp_path):
    """Same teacher copy, the model's figures moved: when the record's model had other preset options (an earlier
    preset) the comparison names them, instead of guessing at the extraction's thread count."""
    from distilhash.demo.record_compare import compare_lines

    run = {"examples": [], "teacher": {"spec": "t", "fingerprint": "f"},
           "open_vocab": {"dcmq 64 bits (this model)": {"domains": {"openclipart": {"method": {"p_at": 0.095}}}},
                          "float teacher": {"domains": {"openclipart": {"method": {"p_at": 0.113}}}}},
           "model_options": {"target_text": "mix", "val_criterion": "teacher-top10"}}
    record = {**run, "open_vocab": {**run["open_vocab"], "dcmq 64 bits (this model)": {
        "domains": {"openclipart": {"method": {"p_at": 0.101}}}}}, "provenance": {"commit": "abc"},
        "model_options": {"target_text": "mix", "val_criterion": "labels"}}
    (tmp_path / "demo.json").write_text(json.dumps(record))
    last = compare_lines(run, tmp_path / "demo.json")[-1]
    assert "other options than the record's: val_criterion='teacher-top10' (record 'labels')" in last
    assert "target_text" not in last and "threads" not in last
    record["model_options"] = run["model_options"]
    (tmp_path / "demo.json").write_text(json.dumps(record))
    assert "DISTILHASH_THREADS=1" in compare_lines(run, tmp_path / "demo.json")[-1]


def test_a_run_without_example_searches_still_compares_with_the_record(tmp_path):
    """An empty examples file (a run stopped before its searches) gives no example rows, not a ZeroDivisionError."""
    from distilhash.demo.record_compare import compare_lines, figures

    assert figures([], {}) == {}
    record = {"examples": [{"precision": 0.8, "title_precision": 0.2}], "open_vocab": {}, "teacher": {}}
    (tmp_path / "demo.json").write_text(json.dumps(record))
    lines = compare_lines({"examples": [], "open_vocab": {}}, tmp_path / "demo.json")
    assert len(lines) == 1 and lines[0].startswith("This run beside the committed record")


def test_the_comparison_says_why_only_the_models_figures_moved(tmp_path):
    from distilhash.demo.record_compare import compare_lines

    def run(model_p10):
        return {"examples": [{"precision": 0.8, "title_precision": 0.3}],
                "open_vocab": {"float teacher": {"domains": {"openclipart": {"method": {"p_at": 0.113}}}},
                               "dcmq 64 bits (this model)": {"domains": {"openclipart": {"method": {"p_at": model_p10}}}}},
                "teacher": {"spec": "t", "fingerprint": "f"}}

    (tmp_path / "demo.json").write_text(json.dumps({**run(0.101), "provenance": {"commit": "abc"}}))
    assert not any("threads" in ln for ln in compare_lines(run(0.101), tmp_path / "demo.json"))
    assert "threads" in compare_lines(run(0.091), tmp_path / "demo.json")[-1]
