"""`distilhash train` and `distilhash encode` end to end on a tiny prepared dataset + feature cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from distilhash.codes_file import load_encoded
from distilhash.cli.main import app
from distilhash.configs import parse_overrides

FAST = ["--set", "epochs=2", "--set", "embed_dim=16", "--set", "hidden_dim=32", "--set", "batch_size=32",
        "--set", "n_codewords=16", "--threads", "1", "--no-progress"]


def test_parse_overrides_types():
    assert parse_overrides(["lr=0.001", "pq_mode=soft", "progress=false", "epochs=3", "x=null"]) == {
        "lr": 0.001, "pq_mode": "soft", "progress": False, "epochs": 3, "x": None}


def test_parse_overrides_names_the_bad_item():
    from distilhash.errors import ConfigError

    with pytest.raises(ConfigError, match="'epochs3'.*KEY=VALUE"):
        parse_overrides(["lr=0.1", "epochs3"])
    with pytest.raises(ConfigError, match="--index-option '=5'"):
        parse_overrides(["=5"], option="--index-option")


def test_train_then_encode(tiny_prepared, tmp_path):
    teacher, split = tiny_prepared
    runner = CliRunner()
    out = tmp_path / "model"
    res = runner.invoke(app, ["train", "dcmq", "--dataset", "tiny", "--teacher", teacher, "--bits", "16", "--seed", "1",
                              "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    assert "validation" in res.output and "query" in res.output and "mAP@all" in res.output
    record = json.loads((out / "train.json").read_text())
    assert record["n_bits"] == 16 and record["seed"] == 1 and record["split_hash"] == split.hash
    assert record["config"]["n_codewords"] == 16 and record["epoch_policy"]["kept_epoch"] >= 1
    assert set(record["map_all"]) == {"val", "query"} and 0 <= record["map_all"]["query"]["i2t"] <= 1
    # the run names its teacher by fingerprint, not only by feature path, and states its budget
    assert record["teacher_identity"]["spec"] == teacher and record["teacher_identity"]["fingerprint"]
    assert record["budget"]["cap"] >= record["budget"]["epochs_run"] >= record["budget"]["kept_epoch"] >= 1
    assert isinstance(record["budget"]["stopped_early"], bool)
    assert (out / "weights.safetensors").is_file() and (out / "method.json").is_file()

    enc = tmp_path / "retrieval.npz"
    res = runner.invoke(app, ["encode", str(out), "--dataset", "tiny", "--teacher", teacher, "--part", "retrieval",
                              "--out", str(enc), "--threads", "1"])
    assert res.exit_code == 0, res.output
    codes, meta = load_encoded(enc)
    assert codes["image"].kind == "pq" and codes["image"].data.shape == (len(split.retrieval), 4)
    assert codes["text"].codebooks.shape == (4, 16, 4)
    assert np.array_equal(meta["indices"], split.retrieval) and meta["role"] == "database"

    res = runner.invoke(app, ["encode", str(out), "--dataset", "tiny", "--teacher", teacher, "--part", "query",
                              "--modality", "text", "--role", "query", "--out", str(tmp_path / "q.npz")])
    assert res.exit_code == 0, res.output
    codes, _ = load_encoded(tmp_path / "q.npz")
    assert set(codes) == {"text"} and codes["text"].kind == "float" and codes["text"].data.shape == (40, 16)

    # without --teacher, the stages after training read the teacher the model was trained on
    res = runner.invoke(app, ["encode", str(out), "--dataset", "tiny", "--part", "retrieval", "--out", str(tmp_path / "r2.npz")])
    assert res.exit_code == 0, res.output
    again, _ = load_encoded(tmp_path / "r2.npz")
    assert np.array_equal(again["image"].data, codes_db_image := load_encoded(enc)[0]["image"].data)
    res = runner.invoke(app, ["eval", str(out), "--out", str(tmp_path / "ev")])  # dataset and teacher: the model's
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ev" / "report.json").read_text())["teacher"] == teacher
    res = runner.invoke(app, ["index", "build", str(tmp_path / "ix"), "--model", str(out), "--dataset", "tiny"])
    assert res.exit_code == 0, res.output
    assert codes_db_image.shape[0] == len(split.retrieval)


def test_train_errors_are_clear(tiny_prepared, tmp_path):
    teacher, _ = tiny_prepared
    runner = CliRunner()
    res = runner.invoke(app, ["train", "dcmq", "--dataset", "tiny", "--teacher", teacher, "--set", "pq_mode=magic",
                              "--out", str(tmp_path / "m"), "--no-progress"])
    assert res.exit_code == 1 and "pq_mode" in res.output
    res = runner.invoke(app, ["train", "no-such-method", "--dataset", "tiny", "--teacher", teacher, "--no-progress"])
    assert res.exit_code == 1 and "valid names" in res.output
    res = runner.invoke(app, ["train", "dcmq", "--dataset", "missing-ds", "--no-progress"])
    assert res.exit_code == 1 and "no prepared dataset" in res.output
    res = runner.invoke(app, ["encode", str(tmp_path / "nowhere"), "--dataset", "tiny", "--teacher", teacher,
                              "--out", str(tmp_path / "x.npz")])
    assert res.exit_code == 2 and "Invalid value" in res.output  # a missing model directory: refused while parsing (cli/checks.py)


def test_train_a_run_declared_in_a_file(tiny_prepared, tmp_path):
    """--config: a saved method.json (or a bare object of options) declares the run; --set applies on top."""
    teacher, _ = tiny_prepared
    runner = CliRunner()
    (tmp_path / "lsh.json").write_text(json.dumps({"n_bits": 16, "center": "modality"}))
    res = runner.invoke(app, ["train", "lsh", "--dataset", "tiny", "--teacher", teacher, "--config", str(tmp_path / "lsh.json"),
                              "--out", str(tmp_path / "a"), "--no-progress"])
    assert res.exit_code == 0, res.output
    first = json.loads((tmp_path / "a" / "method.json").read_text())
    assert first["config"]["center"] == "modality" and first["n_bits"] == 16
    res = runner.invoke(app, ["train", "lsh", "--dataset", "tiny", "--teacher", teacher, "--config",
                              str(tmp_path / "a" / "method.json"), "--set", "center=none", "--out", str(tmp_path / "b"),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "b" / "method.json").read_text())
    assert again["config"] == {**first["config"], "center": "none"}
    res = runner.invoke(app, ["train", "itq", "--dataset", "tiny", "--teacher", teacher, "--config",
                              str(tmp_path / "a" / "method.json"), "--no-progress"])
    assert res.exit_code == 1 and "declares method 'lsh', not 'itq'" in res.output


def test_training_into_a_saved_model_is_refused_unless_overwrite(tiny_prepared, tmp_path):
    """A second train into the same --out would silently change the codes behind its indexes."""
    teacher, _ = tiny_prepared
    runner = CliRunner()
    args = ["train", "itq", "--dataset", "tiny", "--bits", "16", "--out", str(tmp_path / "m"), "--no-progress", "--no-eval"]
    res = runner.invoke(app, args)  # no --teacher: the dataset's only feature cache
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "m" / "method.json").read_text())["teacher"] == teacher
    before = (tmp_path / "m" / "weights.safetensors").read_bytes()
    res = runner.invoke(app, [*args, "--seed", "3"])
    assert res.exit_code == 1 and "already holds a trained model" in res.output and "--overwrite" in res.output
    assert (tmp_path / "m" / "weights.safetensors").read_bytes() == before
    res = runner.invoke(app, [*args, "--seed", "3", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "m" / "method.json").read_text())["config"]["seed"] == 3


def test_train_without_teacher_names_the_choices(tiny_prepared, tmp_path):
    from distilhash.paths import features_dir

    runner = CliRunner()
    only = next(features_dir().glob("tiny__*"))
    only.rename(only.with_name("elsewhere__x"))  # no cache left for 'tiny'
    res = runner.invoke(app, ["train", "itq", "--dataset", "tiny", "--out", str(tmp_path / "m"), "--no-progress"])
    assert res.exit_code == 1 and "no teacher feature cache" in res.output and "teacher extract" in res.output


def test_teacher_extract_says_when_it_reused_a_complete_cache(tiny_prepared):
    teacher, _ = tiny_prepared  # the fixture already extracted this cache
    res = CliRunner().invoke(app, ["teacher", "extract", "--dataset", "tiny", "--teacher", teacher])
    assert res.exit_code == 0, res.output
    assert "already complete" in res.output and "reused" in res.output


def test_train_with_a_named_preset(tiny_prepared, tmp_path):
    """--preset: a method's named option set (methods/presets.py); --set applies on top; an unknown name lists the known."""
    from distilhash.methods.presets import preset_options

    teacher, _ = tiny_prepared
    runner = CliRunner()
    fast = ["--set", "epochs=2", "--set", "batch_size=32", "--set", "n_codewords=16", "--threads", "1", "--no-progress"]
    res = runner.invoke(app, ["train", "dcmq", "--dataset", "tiny", "--teacher", teacher, "--bits", "16", "--preset", "open-vocab",
                              "--set", "embed_dim=16", *fast, "--no-eval", "--out", str(tmp_path / "ov")])
    assert res.exit_code == 0, res.output
    config = json.loads((tmp_path / "ov" / "method.json").read_text())["config"]
    wanted = {**preset_options("dcmq", "open-vocab"), "embed_dim": 16}
    assert {k: config[k] for k in wanted} == wanted
    res = runner.invoke(app, ["train", "dcmq", "--dataset", "tiny", "--teacher", teacher, "--preset", "fastest", "--no-progress"])
    assert res.exit_code != 0 and "no preset 'fastest'" in res.output and "open-vocab" in res.output


def test_train_pq_prints_the_fit_note_when_rows_are_fewer_than_centroids(tiny_prepared, tmp_path):
    """tiny has 120 fit items (240 stacked rows) < K=256: `train pq` prints the note and names the option."""
    teacher, _ = tiny_prepared
    res = CliRunner().invoke(app, ["train", "pq", "--dataset", "tiny", "--teacher", teacher, "--bits", "16",
                                   "--out", str(tmp_path / "pq"), "--threads", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "note: pq: 240 training rows" in " ".join(res.output.split()) and "nbits_per_code=4" in res.output
    res = CliRunner().invoke(app, ["train", "pq", "--dataset", "tiny", "--teacher", teacher, "--bits", "16",
                                   "--set", "nbits_per_code=4", "--out", str(tmp_path / "pq4"), "--threads", "1",
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "training rows" not in res.output


def test_index_build_on_a_float_model_says_what_to_index_instead(tiny_prepared, tmp_path):
    """`train float-teacher` points at `eval`, not at an index; `index build` on it names the model and the fix."""
    teacher, _ = tiny_prepared
    model = tmp_path / "float"
    res = CliRunner().invoke(app, ["train", "float-teacher", "--dataset", "tiny", "--teacher", teacher,
                                   "--out", str(model), "--threads", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert f"next: distilhash eval {model}" in res.output and "index build" not in res.output
    res = CliRunner().invoke(app, ["index", "build", str(tmp_path / "ix"), "--model", str(model), "--dataset", "tiny"])
    assert res.exit_code != 0
    text = " ".join(res.output.split())
    assert f"model {model} gives 'float' database codes" in text and "dcmq, pq, itq or lsh" in text
    assert not (tmp_path / "ix").exists()
