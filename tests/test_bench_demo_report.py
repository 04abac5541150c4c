"""The record of a `make demo` run: example-query table, open-vocabulary summary and step times."""

from __future__ import annotations

from distilhash.benchmark.demo_report import markdown


def test_markdown_of_a_demo_record():
    dom = {"method": {"p_at": 0.06, "r_at": 0.2, "map_all": 0.1, "n_queries": 117, "n_items": 1000},
           "random": {"p_at": 0.01, "r_at": 0.05, "map_all": 0.02}}
    rec = {"provenance": {"commit": "abcdef123456", "started_utc": "T0", "load_before": [3.0], "load_after": [4.0]},
           "examples": [{"query": "a cat", "label_column": "tag:cat", "precision": 0.6, "title_precision": 0.5, "encoder": "static"},
                        {"query": "a car", "label_column": "tag:car", "precision": 0.2, "title_precision": 0.1, "encoder": "static"}],
           "open_vocab": {"dcmq 64": {"options": {"precision_at": 10, "recall_at": 50}, "n_queries_listed": 176,
                                      "teacher": "T", "domains": {"drawings": dom}}},
           "timings": {"steps": [{"step": 1, "title": "prepare", "seconds": 12.0, "cpu_seconds": None, "reused": False}],
                       "steps_seconds": 12.0, "steps_cpu_seconds": None, "setup_seconds": 3.0}}
    text = markdown(rec)
    assert text.startswith("# `make demo`, commit abcdef1 (T0, load 3.0 -> 4.0)")
    assert "| a cat | `tag:cat` | 0.6 | 0.5 | static |" in text and "At least 0.5 by label: 1 of 2; mean by label 0.40, by title 0.30." in text
    assert "| dcmq 64 | 0.060 | 0.200 | 0.100 |" in text and "| random ranking | 0.010 | 0.050 | 0.020 |" in text
    assert "drawings: 117 queries with a relevant item among 1000." in text
    assert "| 1. prepare | 12.0 | - | False |" in text and "Steps in all: 12.0 s (- s of CPU); setup 3.0 s." in text


def test_the_record_names_the_teacher_copy_its_fingerprint_and_commands():
    from distilhash.benchmark.demo_report import teacher_lines

    assert teacher_lines(None) == []  # records of demos before the teacher was recorded
    lines = teacher_lines({"spec": "lite0-prior:x", "copy": "the copy shipped with distilhash (version 1)",
                           "fingerprint": "abc-def", "fitted_on_split": "s0", "split_here": "s0",
                           "reproduce": ["distilhash data prepare openclipart", "distilhash teacher fit --kind k"]})
    assert lines[0] == ("Teacher `lite0-prior:x`: the copy shipped with distilhash (version 1); fingerprint `abc-def`, "
                        "fitted on split `s0` (this dataset's split: `s0`). Reproduced by:")
    assert lines[2:6] == ["```bash", "distilhash data prepare openclipart", "distilhash teacher fit --kind k", "```"]
