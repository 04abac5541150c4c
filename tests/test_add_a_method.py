"""docs/add-a-method.md, run as written: its module, its registry line and its test.

The module is written to a temporary package, the registry line is applied to ``METHODS`` for
the duration of the test only, and the page's own test function runs against it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from distilhash.methods.base import METHODS, Capabilities, method_class

DOC = Path(__file__).resolve().parents[1] / "docs" / "add-a-method.md"


def _block(text: str, marker: str) -> str:
    m = re.search(rf"<!-- {re.escape(marker)}[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert m, f"no python block after <!-- {marker} --> in {DOC}"
    return m.group(1)


@pytest.fixture
def walkthrough(tmp_path, monkeypatch):
    """The page's module importable as ``walkthrough_pkg.rp_sign`` and its registry line applied."""
    text = DOC.read_text()
    pkg = tmp_path / "walkthrough_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "rp_sign.py").write_text(_block(text, "module"))
    line = _block(text, "registry line").strip()
    name, module = re.fullmatch(r'"([^"]+)":\s*"([^"]+)",', line).groups()
    assert (name, module) == ("rp-sign", "distilhash.methods.rp_sign")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(METHODS._modules, name, "walkthrough_pkg.rp_sign")  # the one registry line
    yield text
    METHODS.unregister(name)
    for mod in ("walkthrough_pkg.rp_sign", "walkthrough_pkg"):
        sys.modules.pop(mod, None)


def test_the_walkthrough_method_works_through_the_contract(walkthrough, tmp_path):
    assert "walkthrough_pkg.rp_sign" not in sys.modules  # lazily imported on first use
    cls = method_class("rp-sign")
    assert cls.capabilities == Capabilities()
    namespace: dict = {}
    exec(compile(_block(walkthrough, "test"), str(DOC), "exec"), namespace)
    namespace["test_rp_sign"](tmp_path)

