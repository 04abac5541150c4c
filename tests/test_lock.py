"""requirements.lock: fresh for pyproject.toml, complete, hash-pinned, CPU torch, and what setup installed."""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def _lockfile():
    spec = importlib.util.spec_from_file_location("lockfile", ROOT / "scripts" / "lockfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lockfile = _lockfile()


def _entries(text: str) -> dict[str, list[str]]:
    """``{name==version: [hashes]}`` of a lock's text."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            current = line.split()[0]
            out[current] = []
        elif current and "--hash=sha256:" in line:
            out[current].append(line.split("sha256:", 1)[1].split()[0])
    return out


def _project_requirements(extras: tuple[str, ...]) -> list[Requirement]:
    """The dependencies plus the given extras, self-references (``distilhash[a,b]``) expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    reqs, todo, seen = [Requirement(r) for r in project["dependencies"]], list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for r in map(Requirement, optional[extra]):
            if lockfile.normalize(r.name) == "distilhash":
                todo += sorted(r.extras)
            else:
                reqs.append(r)
    return reqs


def test_the_lock_was_made_from_the_current_dependencies():
    assert lockfile.check_fresh(LOCK) == [], "run `make lock` and commit requirements.lock"


def test_every_locked_package_is_exact_and_hash_pinned():
    entries = _entries(LOCK.read_text())
    assert len(entries) > 50
    unhashed = [pin for pin, hashes in entries.items() if not hashes]
    assert unhashed == []
    assert all("==" in pin for pin in entries), [p for p in entries if "==" not in p]
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for hashes in entries.values() for h in hashes)


def test_torch_is_the_cpu_build_and_no_cuda_package_is_locked():
    entries = _entries(LOCK.read_text())
    torch = [pin for pin in entries if pin.startswith("torch==")]
    assert torch == ["torch==2.13.0+cpu"]
    assert len(entries["torch==2.13.0+cpu"]) == 1, "one wheel: the CPU build for this platform"
    cuda = [pin for pin in entries if re.match(r"(nvidia-|cuda-|triton==)", pin)]
    assert cuda == []


def test_every_project_requirement_is_locked_at_a_version_it_accepts():
    pins = lockfile.pins(LOCK)
    reqs = _project_requirements(lockfile.EXTRAS)
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    reqs += [Requirement(r) for r in build]
    bad = [str(r) for r in reqs
           if (v := pins.get(lockfile.normalize(r.name))) is None or not r.specifier.contains(v, prereleases=True)]
    assert bad == [], "requirements of pyproject.toml that the lock misses or pins outside their range"


def test_the_fingerprint_follows_dependencies_and_ignores_other_settings(tmp_path):
    text = (ROOT / "pyproject.toml").read_text()
    base = tmp_path / "pyproject.toml"
    base.write_text(text)
    before = lockfile.inputs_hash(base)
    base.write_text(text.replace('addopts = "', 'addopts = "-q '))
    assert lockfile.inputs_hash(base) == before, "a pytest option is no dependency"
    base.write_text(text.replace('"threadpoolctl>=3.1,<4",', '"threadpoolctl>=3.1,<4",\n  "model2vec>=0.4",'))
    assert lockfile.inputs_hash(base) != before, "a new dependency makes the lock stale"
    constraints = tmp_path / "c.txt"
    constraints.write_text("torch==2.13.0+cpu  # comment\n")
    assert lockfile.inputs_hash(base, constraints) != lockfile.inputs_hash(base, tmp_path / "none.txt")


def test_check_fresh_names_the_fix(tmp_path):
    stale = tmp_path / "requirements.lock"
    stale.write_text("numpy==2.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\n# inputs-sha256: " + "1" * 64 + "\n")
    assert any("make lock" in m for m in lockfile.check_fresh(stale))
    assert any("missing" in m for m in lockfile.check_fresh(tmp_path / "absent.lock"))
    stale.write_text("numpy==2.0.0\n")
    assert any("inputs-sha256" in m for m in lockfile.check_fresh(stale))


def test_compare_installed_reports_wrong_versions_and_extras():
    wrong, extra = lockfile.compare_installed(
        {"numpy": "2.4.6", "torch": "2.13.0+cpu", "scipy": "1.17.1"},
        {"numpy": "2.4.6", "torch": "2.14.1", "pip": "23.2.1", "distilhash": "0.1.0", "left-over": "1.0"})
    assert wrong == ["scipy: locked 1.17.1, installed nothing", "torch: locked 2.13.0+cpu, installed 2.14.1"]
    assert extra == ["left-over"]


@pytest.mark.skipif(not (Path(sys.prefix) / ".setup-stamp").is_file(),
                    reason="not running in a virtual environment made by scripts/setup.sh")
def test_this_environment_holds_exactly_the_locked_versions():
    wrong, extra = lockfile.compare_installed(lockfile.pins(LOCK), lockfile.installed())
    assert wrong == [], "run `make setup` (scripts/setup.sh installs from requirements.lock)"
    if extra:  # installed by hand after setup (setup reports them, leaves them in place)
        warnings.warn(f"installed but not in requirements.lock: {extra}", stacklevel=1)


def test_the_debian_list_names_each_package_once_with_a_version():
    specs = [line.split() for line in (ROOT / "scripts" / "debian-packages.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    names = [spec[0].split("=", 1)[0] for spec in specs]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.+-]+=[0-9][\w.+:~-]*", spec[0]) for spec in specs), specs
    assert all(spec[1:] in ([], ["optional"]) for spec in specs), specs
    required = {n for n, spec in zip(names, specs) if len(spec) == 1}
    assert {"openclipart-svg", "openclipart-png", "fonts-noto-color-emoji", "unicode-data", "unicode-cldr-core"} <= required


def test_copies_vendored_by_ray_are_not_counted_as_installs():
    """Ray puts ray/thirdparty_files (psutil, colorama) on sys.path when imported: not an install."""
    assert lockfile._vendored(Path("/venv/lib/python3.11/site-packages/ray/thirdparty_files"))
    assert not lockfile._vendored(Path("/venv/lib/python3.11/site-packages"))
    assert not lockfile._vendored(Path("/elsewhere/thirdparty_files"))
