"""The benchmark harness: suites as data, one JSON per run, the markdown report and plots."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from typer.testing import CliRunner

from distilhash.benchmark.report import write_report
from distilhash.benchmark.results import check_provenance
from distilhash.benchmark.runner import compact_curves, run_suite
from distilhash.benchmark.sources import FEATURE_SOURCES, Loaded
from distilhash.benchmark.suite import load_suite, parse_suite, repo_root
from distilhash.training.synthetic import synthetic_features
from distilhash.errors import ConfigError
from distilhash.methods.base import METHODS
from distilhash.methods.base import Capabilities
from distilhash.methods.baselines import BaselineMethod, LSHConfig, LSHMethod

SYN = {"name": "syn", "source": "synthetic", "options": {"model": "low-rank", "n": 700, "n_labels": 10, "width": 32,
                                                          "n_query": 100, "n_train": 300, "n_val": 60}}


def _suite(tmp_path: Path, **over) -> Path:
    obj = {
        "name": "tiny",
        "datasets": [SYN],
        "bits": [16, 32],
        "seeds": [0, 1],
        "methods": ["float-teacher", "lsh", {"name": "itq", "label": "itq-modality", "config": {"center": "modality"}},
                    {"name": "pq", "seeds": [0], "bits": [16]},
                    {"name": "dcmh", "seeds": [0], "bits": [16], "config": {"max_epochs": 2, "hidden": [16]}}],
        "eval": {"top_n": [10, 50]},
        "threads": 1,
        "isolate": False,
        **over,
    }
    path = tmp_path / "bench" / "suites" / f"{obj['name']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("bench")
    suite = load_suite(_suite(tmp))
    records = run_suite(suite, tmp / "results", progress=False, echo=lambda *_: None)
    return suite, tmp / "results", records


def test_suite_expands_to_datasets_methods_bits_seeds(tmp_path):
    suite = load_suite(_suite(tmp_path))
    ids = [s.run_id for s in suite.runs()]
    assert "syn__float-teacher__float__s0" in ids and "syn__float-teacher__16b__s0" not in ids  # bits-independent: once
    assert {i for i in ids if "__lsh__" in i} == {f"syn__lsh__{b}b__s{s}" for b in (16, 32) for s in (0, 1)}
    assert [i for i in ids if "dcmh" in i] == ["syn__dcmh__16b__s0"]  # per-method bits and seeds override
    spec = next(s for s in suite.runs() if s.label == "itq-modality")
    assert spec.method == "itq" and spec.method_config()["center"] == "modality" and "n_bits" in spec.method_config()
    assert len(suite.runs(only=["lsh"])) == 4


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"bogus": 1}, "unknown keys"),
        ({"methods": ["lsh", "lsh"]}, "appear twice"),
        ({"bits": "16"}, "list of integers"),
        ({"eval": {"topn": [5]}}, "eval: unknown option"),
        ({"methods": [{"name": "lsh", "cfg": {}}]}, r"methods\[0\]: unknown option"),
    ],
)
def test_bad_suites_are_config_errors(bad, message):
    base = {"name": "x", "datasets": [SYN], "bits": [16], "seeds": [0], "methods": ["lsh"]}
    with pytest.raises(ConfigError, match=message):
        parse_suite({**base, **bad})


def test_unknown_method_lists_valid_names(tmp_path):
    suite = load_suite(_suite(tmp_path, methods=["no-such-method"]))
    with pytest.raises(ConfigError, match="valid names"):
        suite.runs()


def test_run_json_is_well_formed(tiny_results):
    suite, root, records = tiny_results
    assert len(records) == len(suite.runs()) and all(r["status"] == "ok" for r in records)
    files = sorted((root / "tiny").glob("*.json"))
    assert len(files) == len(records)
    rec = json.loads((root / "tiny" / "syn__dcmh__16b__s0.json").read_text())
    for key in ("provenance", "dataset", "teacher", "method", "seed", "epoch_policy", "timing", "memory", "metrics", "spec_hash"):
        assert key in rec, key
    prov = rec["provenance"]
    assert check_provenance(prov) == [] and prov["benchmark"] == "tiny" and prov["seeds"] == [0]
    assert prov["split_hash"] == rec["dataset"]["split_hash"] and "split.val" in prov["model_selection"]
    assert rec["dataset"]["split_hash"] and rec["dataset"]["dataset_hash"] and rec["dataset"]["split_sizes"]["fit"] == 240
    assert rec["method"]["config"]["n_bits"] == 16 and rec["seed"] == 0
    assert rec["epoch_policy"]["kept_epoch"] in (1, 2) and "reason" in rec["epoch_policy"]
    assert rec["timing"]["fit_seconds"] > 0 and rec["timing"]["encode_items_per_second"] > 0
    assert rec["memory"]["peak_rss_mib"] > 10 and len(rec["provenance"]["load_before"]) == 3
    for d in ("i2t", "t2i"):
        m = rec["metrics"][d]
        assert 0 <= m["map_all"] <= 1 and set(m["map_at"]) == {"10", "50"}
        assert set(m["precision_at"]) == {"10", "50"} and set(m["recall_at"]) == {"10", "50"}
        assert len(m["pr_curve"]) == 2 and len(m["precision_curve"]) == 2 and m["n_queries"] == 100
    ft = json.loads((root / "tiny" / "syn__float-teacher__float__s0.json").read_text())
    assert ft["codes"]["i2t"]["database_kind"] == "float" and ft["epoch_policy"]["epoch_policy"] == "none"


def test_markdown_table_has_every_method_and_bits_and_plots(tiny_results):
    suite, root, records = tiny_results
    md = (root / "tiny" / "report.md").read_text()
    assert "mAP@all, image → text" in md and "mAP@all, text → image" in md
    assert "| method | 16 bits | 32 bits |" in md
    for label in ("float-teacher", "lsh", "itq-modality", "dcmh"):
        assert re.search(rf"^\| {re.escape(label)}[ (|]", md, re.M), label
    lsh_row = next(line for line in md.splitlines() if line.startswith("| lsh |"))
    assert lsh_row.count("±") == 2  # two seeds: mean ± std in both bit columns
    dcmh_row = next(line for line in md.splitlines() if line.startswith("| dcmh |"))
    assert "—" in dcmh_row  # dcmh ran at 16 bits only
    links = re.findall(r"\]\((plots/[^)]+\.png)\)", md)
    assert any("pr_16b" in l for l in links) and any("pn_32b" in l for l in links)
    for link in links:
        assert (root / "tiny" / link).stat().st_size > 1000
    assert "shared" in md and "kept epoch" in md and "expected mAP@all of a random ranking" in md
    # every trained cell states its budget and how many runs stopped on their own; spreads say what they cover
    dcmh_budget = next(line for line in md.splitlines() if line.startswith("| dcmh | 16 | 1 |"))
    assert "cap 2" in dcmh_budget and "stopped early 0/1" in dcmh_budget
    assert re.search(r"^\| lsh \| 16 \| 2 \| not trained by epochs \|", md, re.M)
    assert "sample std, ddof = 1) cover method seeds [0, 1], one teacher fit" in md


def test_run_records_state_budget_teacher_identity_and_exact_chance(tiny_results):
    from distilhash.eval.chance import random_map_exact

    suite, root, records = tiny_results
    rec = json.loads((root / "tiny" / "syn__dcmh__16b__s0.json").read_text())
    b = rec["budget"]
    assert b["cap"] == 2 and b["epochs_run"] == 2 and b["stopped_early"] is False and b["kept_epoch"] in (1, 2)
    assert "fingerprint" in rec["teacher_identity"] and rec["teacher_identity"]["spec"] == rec["teacher"]
    lsh = json.loads((root / "tiny" / "syn__lsh__16b__s0.json").read_text())
    assert lsh["budget"]["unit"] == "none" and lsh["budget"]["stopped_early"] is None
    from distilhash.benchmark.sources import load_source
    from distilhash.benchmark.suite import RunSpec

    loaded = load_source(RunSpec.from_dict(rec["spec"]).dataset)
    y, sp = loaded.features.labels, loaded.split
    assert rec["chance"]["map_all_random_ranking"] == pytest.approx(random_map_exact(y[sp.query], y[sp.retrieval]))
    assert rec["chance"]["map_all_random_ranking"] > rec["chance"]["relevant_share"]
    pq = json.loads((root / "tiny" / "syn__pq__16b__s0.json").read_text())
    c = pq["codes"]["i2t"]
    assert c["bytes_per_item_with_shared"] == pytest.approx(c["database_bytes_per_item"] + c["shared_bytes"] / c["n_database"])


def test_pq_runs_report_code_vs_code_and_codebook_bytes(tiny_results):
    suite, root, records = tiny_results
    pq = json.loads((root / "tiny" / "syn__pq__16b__s0.json").read_text())
    assert pq["codes"]["i2t"]["query_kind"] == "float" and pq["codes"]["i2t"]["database_kind"] == "pq"
    assert pq["codes"]["i2t"]["shared_bytes"] > 0  # the codebooks are stored once per index
    sym = pq["metrics_code_vs_code"]
    assert set(sym) == {"i2t", "t2i"} and all(sym[d]["query_kind"] == "pq" and 0 <= sym[d]["map_all"] <= 1 for d in sym)
    assert sym["i2t"]["map_all"] != pq["metrics"]["i2t"]["map_all"]  # a different ranking, not a copy
    lsh = json.loads((root / "tiny" / "syn__lsh__16b__s0.json").read_text())
    assert "metrics_code_vs_code" not in lsh and lsh["codes"]["i2t"]["shared_bytes"] == 0
    md = (root / "tiny" / "report.md").read_text()
    assert "### PQ codes: asymmetric vs code-vs-code" in md and "shared bytes (codebooks)" in md
    row = next(line for line in md.splitlines() if line.startswith("| pq | image → text |"))
    assert f"{sym['i2t']['map_all']:.4f}" in row


def test_results_are_reused_unless_forced(tiny_results, tmp_path):
    suite, root, records = tiny_results
    sub = parse_suite({**json.loads(Path(suite.path).read_text()), "methods": ["lsh"], "seeds": [0]})
    again = run_suite(sub, root, progress=False, plots=False, echo=lambda *_: None)
    first = {r["run_id"]: r["provenance"]["started_utc"] for r in records}
    assert all(r["provenance"]["started_utc"] == first[r["run_id"]] for r in again)
    forced = run_suite(sub, root, force=True, progress=False, plots=False, echo=lambda *_: None)
    assert all(r["provenance"]["finished_utc"] for r in forced) and len(forced) == 2


def test_a_partial_run_rewrites_the_report_of_the_whole_suite(tiny_results, tmp_path):
    """--only re-runs a subset; the report it writes still covers every stored run of the suite."""
    import shutil

    suite, root, records = tiny_results
    copy = tmp_path / "results"
    shutil.copytree(root, copy)
    run_suite(suite, copy, only=["lsh"], progress=False, plots=False, echo=lambda *_: None)
    report = (copy / suite.name / "report.md").read_text()
    methods = {r["spec"]["label"] for r in records if r.get("status") == "ok"}
    assert len(methods) > 1 and all(f"| {m} |" in report for m in methods), methods


# -- methods that need the raw dataset, failing methods ------------------------------------
@dataclass
class _NeedsConfig(LSHConfig):
    pass


class _NeedsDataset(LSHMethod):
    name = "test-needs-dataset"
    config_class = _NeedsConfig
    capabilities: ClassVar[Capabilities] = Capabilities(input="raw")

    def fit(self, features, split, *, dataset=None, **kw):
        if dataset is None:
            raise AssertionError("dataset not passed")
        super().fit(features, split)
        self.fit_info_["dataset_items"] = len(dataset)
        self.features_ = features  # stands in for the raw items this toy "reads"
        return self

    def encode_dataset(self, modality, dataset, indices, role="database"):
        assert len(dataset) == len(self.features_)
        rows = self.features_.image if modality == "image" else self.features_.text
        return LSHMethod.encode(self, modality, rows[indices], role)


class _Broken(BaselineMethod):
    name = "test-broken"
    config_class = LSHConfig

    def _fit(self, image, text):
        raise ValueError("deliberately broken")


for _cls in (_NeedsDataset, _Broken):
    if _cls.name not in METHODS:
        METHODS.register(_cls.name)(_cls)


def _with_dataset(entry) -> Loaded:
    feats, split = synthetic_features(**entry.options)
    return Loaded(feats, split, lambda: list(range(len(feats))), {"teacher": "synthetic"})


if "test-with-dataset" not in FEATURE_SOURCES:
    FEATURE_SOURCES.register("test-with-dataset")(_with_dataset)


def test_dataset_is_passed_to_methods_that_declare_they_need_it(tmp_path):
    ds = {**SYN, "source": "test-with-dataset"}
    suite = load_suite(_suite(tmp_path, datasets=[ds], bits=[16], seeds=[0], methods=["test-needs-dataset", "lsh"]))
    records = run_suite(suite, tmp_path / "results", progress=False, plots=False, echo=lambda *_: None)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert records[0]["epoch_policy"]["dataset_items"] == 700


def test_failed_run_is_recorded_and_the_suite_goes_on(tmp_path):
    suite = load_suite(_suite(tmp_path, bits=[16], seeds=[0], methods=["test-broken", "test-needs-dataset", "lsh"]))
    messages: list[str] = []
    records = run_suite(suite, tmp_path / "results", progress=False, plots=False, echo=messages.append)
    status = {r["spec"]["label"]: r for r in records}
    assert status["test-broken"]["status"] == "failed" and "deliberately broken" in status["test-broken"]["traceback"]
    assert "synthetic" in status["test-needs-dataset"]["error"]  # synthetic source has no raw dataset
    assert status["lsh"]["status"] == "ok"
    md = (tmp_path / "results" / "tiny" / "report.md").read_text()
    assert "## Failed runs" in md and "deliberately broken" in md
    assert any("FAILED" in m for m in messages)


@pytest.mark.parametrize("jobs", [1, 2])
def test_isolated_runs_report_their_own_peak_memory(tmp_path, jobs):
    suite = load_suite(_suite(tmp_path, bits=[16], seeds=[0, 1][:jobs], methods=["lsh"], isolate=True))
    records = run_suite(suite, tmp_path / "results", jobs=jobs, progress=False, plots=False, echo=lambda *_: None)
    assert [r["run_id"] for r in records] == [s.run_id for s in suite.runs()]
    for rec in records:
        assert rec["status"] == "ok" and "own process" in rec["memory"]["scope"] and rec["memory"]["peak_rss_mib"] > 10
        assert rec["provenance"]["machine"]["concurrent_runs"] == jobs


def test_compact_curves_thins_parallel_arrays():
    long = {"pr_curve": [list(range(1000)), list(range(1000))], "map_all": 0.5, "x": {"a": list(range(500)), "b": list(range(500))}}
    out = compact_curves(long, 50)
    assert len(out["pr_curve"][0]) <= 50 and out["pr_curve"][0][-1] == 999 and out["map_all"] == 0.5
    assert len(out["x"]["a"]) <= 50 and out["x"]["a"] == out["x"]["b"]


def test_cli_dry_run_and_report_only(tmp_path, tiny_results):
    from distilhash.cli.main import app

    path = _suite(tmp_path)
    res = CliRunner().invoke(app, ["bench", str(path), "--dry-run"])
    assert res.exit_code == 0, res.output
    assert "syn__lsh__32b__s1" in res.output and "to run" in res.output
    res = CliRunner().invoke(app, ["bench", "no-such-suite"])
    assert res.exit_code == 1 and "known suites" in res.output


@pytest.mark.parametrize("name", ["quick", "full"])
def test_committed_suites_parse_and_cover_the_baselines(name):
    path = repo_root() / "bench" / "suites" / f"{name}.json"
    suite = load_suite(path)
    labels = {s.label for s in suite.runs()}
    assert {"float-teacher", "lsh", "itq", "pq", "dcmh"} <= labels
    assert {s.bits for s in suite.runs() if s.label == "itq"} == {16, 32, 64, 128}
    assert suite.expected_minutes


@pytest.mark.parametrize("name", ["quick", "full"])
def test_committed_baseline_suites_give_every_cell_three_seeds(name):
    """Issue 23: a cell's spread is a sample std over >= 3 runs; only the deterministic float teacher runs once."""
    suite = load_suite(repo_root() / "bench" / "suites" / f"{name}.json")
    seeds: dict[tuple[str, int | None], set[int]] = {}
    for s in suite.runs():
        seeds.setdefault((s.label, s.bits), set()).add(s.seed)
    thin = {cell: len(found) for cell, found in seeds.items() if cell[0] != "float-teacher" and len(found) < 3}
    assert thin == {}
