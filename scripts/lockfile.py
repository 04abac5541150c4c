"""Checks around requirements.lock (the hash-pinned install set made by scripts/lock.sh).

    python scripts/lockfile.py inputs-hash                 the fingerprint of the lock's inputs
    python scripts/lockfile.py check-fresh                 exit 1 when pyproject.toml's dependencies
                                                           changed after the lock was made
    .venv/bin/python scripts/lockfile.py check-installed [--sync | --allow-extra]
                                                           the venv holds exactly the locked versions;
                                                           --sync uninstalls what the lock does not list,
                                                           --allow-extra only reports it

The fingerprint covers what the resolution depends on: ``requires-python``, the dependencies and
every extra of ``[project]``, ``[build-system] requires`` and scripts/lock-constraints.txt. Other
edits of pyproject.toml (pytest options, package data) leave the lock fresh. Standard library
only, so setup.sh can run it before the virtual environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
CONSTRAINTS = ROOT / "scripts" / "lock-constraints.txt"
#: The extras setup.sh installs and the lock covers.
EXTRAS = ("all", "dev", "ray")
#: The line lock.sh appends: ``# inputs-sha256: <hex>``.
INPUTS_LINE = re.compile(r"^# inputs-sha256: ([0-9a-f]{64})\s*$", re.M)
#: A pinned requirement line of the lock: ``name==version \``.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.M)
#: Installed but never listed in a lock: the installer itself and the project (installed --no-deps).
NOT_LOCKED = {"pip", "distilhash"}


def normalize(name: str) -> str:
    """PEP 503 name: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _lines(path: Path) -> list[str]:
    return [s for line in path.read_text().splitlines() if (s := line.split("#", 1)[0].strip())]


def inputs_hash(pyproject: Path = ROOT / "pyproject.toml", constraints: Path = CONSTRAINTS) -> str:
    """sha256 over the parts of pyproject.toml (and the lock constraints) that decide the lock."""
    data = tomllib.loads(pyproject.read_text())
    project = data.get("project", {})
    inputs = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "build-system": data.get("build-system", {}).get("requires", []),
        "constraints": _lines(constraints) if constraints.is_file() else [],
        "extras": list(EXTRAS),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recorded_hash(lock: Path = LOCK) -> str | None:
    """The fingerprint lock.sh wrote into ``lock`` (None when absent)."""
    m = INPUTS_LINE.search(lock.read_text()) if lock.is_file() else None
    return m.group(1) if m else None


def pins(lock: Path = LOCK) -> dict[str, str]:
    """``{normalized name: version}`` of every package the lock pins."""
    return {normalize(n): v for n, v in PIN.findall(lock.read_text())}


def installed() -> dict[str, str]:
    """``{normalized name: version}`` of the distributions importable by this interpreter.

    Copies vendored inside another package are not installs and are left out: once imported, Ray
    puts its own ``ray/thirdparty_files`` (psutil, colorama) on ``sys.path``."""
    from importlib.metadata import distributions

    return {normalize(d.metadata["Name"]): d.version for d in distributions()
            if d.metadata["Name"] and not _vendored(Path(str(d.locate_file(""))))}


def _vendored(site: Path) -> bool:
    """True for a distribution found in a package's private folder (``.../ray/thirdparty_files``)."""
    return site.name == "thirdparty_files" and site.parent.name == "ray"


def check_fresh(lock: Path = LOCK) -> list[str]:
    """Problems that make ``lock`` unusable for the current pyproject.toml (empty when fresh)."""
    if not lock.is_file():
        return [f"{lock.name} is missing: run `make lock` (scripts/lock.sh)"]
    rec = recorded_hash(lock)
    if rec is None:
        return [f"{lock.name} has no '# inputs-sha256:' line: regenerate it with `make lock`"]
    if rec != inputs_hash():
        return [f"pyproject.toml's dependencies (or scripts/lock-constraints.txt) changed after {lock.name} "
                "was made: run `make lock` and commit the new lock"]
    return []


def compare_installed(locked: dict[str, str], have: dict[str, str]) -> tuple[list[str], list[str]]:
    """(mismatches, extras): locked packages missing or at another version; installed ones not locked."""
    wrong = [f"{n}: locked {v}, installed {have.get(n, 'nothing')}" for n, v in sorted(locked.items())
             if have.get(n) != v]
    extra = sorted(n for n in have if n not in locked and n not in NOT_LOCKED)
    return wrong, extra


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["inputs-hash", "check-fresh", "check-installed"])
    p.add_argument("--lock", type=Path, default=LOCK)
    p.add_argument("--sync", action="store_true", help="check-installed: uninstall packages the lock does not list")
    p.add_argument("--allow-extra", action="store_true", help="check-installed: report unlisted packages, exit 0")
    a = p.parse_args(argv)
    if a.command == "inputs-hash":
        print(inputs_hash())
        return 0
    if a.command == "check-fresh":
        problems = check_fresh(a.lock)
        for msg in problems:
            print(f"lock: {msg}", file=sys.stderr)
        return 1 if problems else 0
    wrong, extra = compare_installed(pins(a.lock), installed())
    if extra and a.sync:
        print(f"lock: removing packages that {a.lock.name} does not list: {' '.join(extra)}")
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", *extra], check=True)
        extra = []
    for msg in wrong:
        print(f"lock: {msg}", file=sys.stderr)
    if extra:
        print(f"lock: installed but not in {a.lock.name}: {' '.join(extra)}", file=sys.stderr)
    return 1 if wrong or (extra and not a.allow_extra) else 0


if __name__ == "__main__":
    raise SystemExit(main())
