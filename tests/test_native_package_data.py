"""The native kernels' C sources ship with the package and key the compiled library's cache."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from distilhash.index import native

ROOT = Path(__file__).resolve().parents[1]


def test_kernel_sources_are_package_resources():
    kernels = resources.files("distilhash.index") / "kernels"
    for name in (*native._SOURCES, *native._HEADERS):
        text = (kernels / name).read_text()
        assert text.strip(), name
    assert "hamming_knn" in (kernels / "scan.c").read_text()


def test_cache_key_follows_the_source(tmp_path, monkeypatch):
    for name in (*native._SOURCES, *native._HEADERS):
        (tmp_path / name).write_bytes((native.KERNEL_DIR / name).read_bytes())
    monkeypatch.setattr(native, "KERNEL_DIR", tmp_path)
    before = native._source_key()
    assert native._source_key() == before
    with (tmp_path / "scan.c").open("a") as fh:
        fh.write("\n/* changed */\n")
    assert native._source_key() != before
    (tmp_path / "heap.h").unlink()
    with pytest.raises(ImportError, match="heap.h is missing"):
        native._source_key()


def test_wheel_ships_the_kernel_sources(tmp_path):
    """Building the wheel (setuptools, no network) puts every C file native.py compiles into it."""
    project = tmp_path / "project"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp_path / "dist"), str(project)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("distilhash-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in (*native._SOURCES, *native._HEADERS):
        assert f"distilhash/index/kernels/{name}" in names


def _index_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("distilhash.index."):
            found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "distilhash.index":
            found.update(a.name for a in node.names)
    return found


def test_index_package_has_no_import_cycles():
    """Every import inside distilhash.index, function-level ones included, points one way."""
    pkg = ROOT / "src" / "distilhash" / "index"
    graph = {p.stem: _index_imports(p) & {q.stem for q in pkg.glob("*.py")} for p in pkg.glob("*.py")
             if p.stem != "__init__"}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [])
