"""Methods beside a bench script's own: suite records of the same split and teacher reused, the rest fitted here;
and an online student's encoders timed against its teacher's."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from distilhash.benchmark.compare import compare_at, suite_runs
from distilhash.benchmark.fit_score import fit_and_score
from distilhash.methods.base import create_method
from distilhash.training.synthetic import synthetic_features


def _suite_record(root, suite, label, bits, seed, split_hash, teacher, value, status="ok"):
    path = root / suite / f"{label}__{bits}__s{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"status": status, "teacher": teacher, "seed": seed, "dataset": {"split_hash": split_hash},
                                "method": {"label": label, "bits": bits},
                                "metrics": {"i2t": {"map_all": value}, "t2i": {"map_all": value / 2}}}))
    return path


def test_suite_runs_keeps_only_ok_records_of_the_split_and_teacher(tmp_path):
    good = _suite_record(tmp_path, "quick", "itq", 16, 0, "S", "T", 0.4)
    _suite_record(tmp_path, "quick", "lsh", 16, 0, "other split", "T", 0.3)
    _suite_record(tmp_path, "full", "pq", 16, 0, "S", "other teacher", 0.3)
    _suite_record(tmp_path, "full", "dcmh", 16, 0, "S", "T", 0.3, status="failed")
    (tmp_path / "quick" / "report.json").write_text("[1, 2]")  # not a run record
    (tmp_path / "quick" / "broken.json").write_text("{")
    found = suite_runs(tmp_path, "S", "T")
    assert list(found) == [("itq", 16, 0)] and found[("itq", 16, 0)]["_path"] == str(good)


def test_compare_at_reuses_records_then_the_fallback_then_fits():
    fs, split = synthetic_features(n=300, n_labels=6, width=16, n_query=40, n_train=220, n_val=40, seed=3)
    found = {("itq", 16, 0): {"metrics": {"i2t": {"map_all": 0.9}, "t2i": {"map_all": 0.8}}, "_path": "rec.json"},
             ("float-teacher", 64, 0): {"metrics": {"i2t": {"map_all": 0.7}, "t2i": {"map_all": 0.6}}, "_path": "ft.json"}}
    asked: list[str] = []

    def fallback(name, bits):
        asked.append(name)
        return {"i2t": 0.5, "t2i": 0.5, "source": "committed"} if name == "dcmq" else None

    logged: list[str] = []
    out = compare_at(fs, split, 16, 0, found, ["itq", "float-teacher", "dcmq", "lsh", "no-such-method"], fallback,
                     log=logged.append)
    assert out["itq"] == {"i2t": 0.9, "t2i": 0.8, "source": "rec.json"}
    assert out["float-teacher"]["source"] == "ft.json"  # a float method is found at any bit length
    assert out["dcmq"]["source"] == "committed" and asked == ["dcmq", "lsh", "no-such-method"]
    want = fit_and_score(create_method("lsh", n_bits=16, seed=0), fs, split, curves=False).map_all()
    assert {d: out["lsh"][d] for d in ("i2t", "t2i")} == want and out["lsh"]["seconds"] > 0
    assert "error" in out["no-such-method"] and len(logged) == 2  # the fitted and the failed one are logged


def test_student_teacher_speed_times_both_and_counts_parameters(monkeypatch):
    import torch

    import distilhash.teachers.registry as registry
    from distilhash.benchmark.online_stream import run_online
    from distilhash.benchmark.student_speed import student_teacher_speed
    from tests.test_lcdh import FAST, synth

    torch.set_num_threads(1)
    ds, fs, split = synth()
    method = run_online(ds, split, fs, bits=16, seed=0, overrides={k: v for k, v in FAST.items() if k != "n_bits"},
                        log=False)["_method"]
    seen: dict[str, int] = {}

    class FakeTeacher:
        text_cache_dir = "cache"
        tower = torch.nn.Linear(4, 5)  # 25 parameters
        text = SimpleNamespace(model=torch.nn.Linear(2, 3))  # 9

        def encode_images(self, pixels, batch_size=64):
            seen["images"] = len(pixels)
            return np.zeros((len(pixels), 4), np.float32)

        def encode_texts(self, texts, batch_size=256):
            assert self.text_cache_dir is None  # the encoder is timed, not its cache
            seen["texts"] = len(texts)
            return np.zeros((len(texts), 4), np.float32)

    monkeypatch.setattr(registry, "create_teacher", lambda spec: FakeTeacher())
    sp = student_teacher_speed(method, ds, split, "fake", n_student=30, n_teacher=10)
    assert sp["student"]["items"] == 30 and sp["teacher"]["items"] == 10 == seen["images"] == seen["texts"]
    assert sp["teacher"]["source"] == "fitted teacher" and sp["teacher"]["spec"] == "fake"
    for k in ("images_per_s", "texts_per_s"):
        assert sp["speedup"][k] == pytest.approx(sp["student"][k] / sp["teacher"][k])
    z, counts = sp["sizes"], method.parameter_counts()
    assert (z["teacher_image_params"], z["teacher_text_params"], z["teacher_bytes_float32"]) == (25, 9, 4 * 34)
    assert z["student_bytes_float32"] == 4 * (counts["student_image"] + counts["student_text"])


def test_image_encode_rounds_times_the_teacher_and_each_student_batch():
    from distilhash.benchmark.student_speed import image_encode_rounds

    sizes: list[tuple] = []

    class Teacher:
        image_size = 12  # the Teacher protocol's members only: no batch_size attribute

        def encode_images(self, px, batch_size=64, progress=False):
            sizes.append(("teacher", px.shape[1], batch_size))
            return np.zeros((len(px), 2))

    class Student:
        image_size_ = 6
        config = SimpleNamespace(eval_batch=0)

        def encode_raw(self, modality, px):
            sizes.append((f"student@{self.config.eval_batch}", px.shape[1]))
            return np.zeros((len(px), 2))

        def parameter_counts(self):
            return {"student_image": 10}

        def config_dict(self):
            return {"image_size": 6}

    ds = SimpleNamespace(images=SimpleNamespace(size=8, array=lambda idx, s: np.zeros((len(idx), s, s, 3), np.uint8)))
    rec = image_encode_rounds(Teacher(), "T", {"cnn": Student()}, ds, np.arange(20), n_teacher=5, batches=[2, 8], rounds=2)
    names = list(rec["best_images_per_s"])
    assert names == ["teacher image tower (T, 12 px, batch 16)", "student cnn (6 px, batch 2)", "student cnn (6 px, batch 8)"]
    assert rec["teacher"] == names[0] and set(rec["speedup_vs_teacher"]) == set(names[1:])
    assert all(len(v) == 2 for v in rec["per_round_images_per_s"].values()) and len(rec["load_per_round"]) == 2
    assert ("teacher", 12, 16) in sizes and ("student@2", 6) in sizes and ("student@8", 6) in sizes
    assert rec["students"]["cnn"] == {"image_size": 6, "parameters": {"student_image": 10}, "config": {"image_size": 6}}


def test_committed_summary_gives_the_dcmq_cell_of_the_same_split_and_teacher_only(tmp_path):
    import json

    from distilhash.benchmark.compare import committed_summary

    cell = {"i2t": {"mean": 0.5, "n": 3}, "t2i": {"mean": 0.4, "n": 3}}
    summary = {"dcmq": {"64": {"map_all": cell}}}
    path = tmp_path / "dcmq.json"
    path.write_text(json.dumps({"provenance": {"split_hash": "s1"}, "meta": {"teacher": "t"}, "summary": summary}))
    got = committed_summary(path, "dcmq", 64, "s1", "t")
    assert got["i2t"] == 0.5 and got["t2i"] == 0.4 and got["source"] == f"{path} (committed; mean over 3 seeds)"
    assert committed_summary(path, "dcmq", 64, "s2", "t") is None  # another split
    assert committed_summary(path, "dcmq", 64, "s1", "other") is None  # another teacher's codes
    assert committed_summary(path, "dcmq", 32, "s1", "t") is None and committed_summary(path, "itq", 64, "s1", "t") is None
    assert committed_summary(tmp_path / "missing.json", "dcmq", 64, "s1", "t") is None
    path.write_text(json.dumps({"provenance": {}, "meta": {"teacher": "t"}, "summary": summary}))
    assert committed_summary(path, "dcmq", 64, "s1", "t") is None  # no split recorded: not taken as this one
    path.write_text(json.dumps({"provenance": {"split_hash": "s1"}, "summary": summary}))
    assert committed_summary(path, "dcmq", 64, "s1", "t") is None  # no teacher recorded: not taken as this one
    path.write_text(json.dumps({"meta": {"split_hash": "s1", "teacher": "t"}, "summary": summary}))
    assert committed_summary(path, "dcmq", 64, "s1", "t")["i2t"] == 0.5  # a record without provenance: its meta names both
