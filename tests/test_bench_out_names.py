"""``--out-name`` of bench/lcdh_lite0.py and bench/dcmq_trainable.py: results under that name, the default unchanged."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from test_bench_lcdh_students import STUDENTS
from test_bench_lcdh_students import _run as _bare_run

ROOT = Path(__file__).resolve().parents[1]


def _run(student: str, bits: int, seed: int, v: float) -> dict:
    rec = _bare_run(student, bits, seed, v)
    rec["provenance"].update(dataset_hash="D", split_hash="S")
    return rec


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_lcdh_lite0_report_is_written_under_the_out_name(tmp_path, monkeypatch):
    mod = _script("lcdh_lite0")
    out = tmp_path / "bench" / "results" / mod.BENCH
    monkeypatch.setattr(mod, "OUT", out)
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    monkeypatch.setattr(mod, "STUDENTS", STUDENTS)
    (out / "runs").mkdir(parents=True)
    for seed in (0, 1, 2):  # the committed grid's runs (named by the dataset) and a variant's (named by --out-name)
        (out / "runs" / f"openclipart__lite0__64b__s{seed}.json").write_text(json.dumps(_run("lite0", 64, seed, 0.4)))
        (out / "runs" / f"variant__lite0__64b__s{seed}.json").write_text(json.dumps(_run("lite0", 64, seed, 0.2)))
    assert mod.main(["--report", "--out-name", "variant"]) == 0
    rec = json.loads((out / "variant.json").read_text())
    assert rec["cells"]["lite0"]["64"]["i2t"]["mean"] == pytest.approx(0.2)  # only the variant's runs
    assert (out / "variant.md").is_file() and not (out / "openclipart.json").exists()
    assert mod.main(["--report"]) == 0  # default: the dataset's name, as before
    assert json.loads((out / "openclipart.json").read_text())["cells"]["lite0"]["64"]["i2t"]["mean"] == pytest.approx(0.4)
    args = mod.argparse.Namespace(out_name=None, dataset="openclipart")
    assert mod.result_name(args) == "openclipart" and mod.model_dir("lite0", 64, 0).name == "lite0_64b_s0"
    assert mod.model_dir("lite0", 64, 0, "variant").parent.name == "variant"


def test_dcmq_trainable_summary_takes_out_name(monkeypatch):
    mod = _script("dcmq_trainable")
    seen = {}
    monkeypatch.setattr(mod, "part_summary", lambda args: seen.update(result=args.result))
    monkeypatch.setenv("DISTILHASH_HOME", "/nonexistent-home-not-read")
    mod.main(["--part", "summary", "--out-name", "grouped_variant"])
    assert seen["result"] == "grouped_variant"
    mod.main(["--part", "summary", "--result", "older_spelling"])
    assert seen["result"] == "older_spelling"
    mod.main(["--part", "summary"])
    assert seen["result"] is None  # the dataset's result name, as before
