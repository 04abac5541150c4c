"""Each method page documents exactly its method's config fields, with the true defaults.

A page marks a config table with ``<!-- config: NAME -->`` (NAME a registered method); the table
below it has one row per field: the field in backticks (nested dataclasses as ``stage1.lr``), its
default in backticks (JSON, or the bare string), then the meaning. The rows must list every field
of ``type(create_method(NAME).config)`` but those in ``NOT_DOCUMENTED``, and nothing else, and each
default must equal the dataclass default, so adding, removing or changing a field without its
docs fails here.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from distilhash.methods.base import create_method

ROOT = Path(__file__).resolve().parents[1]

#: method -> page holding its config table
PAGES = {
    "dcmq": "docs/dcmq.md",
    "soda": "docs/soda.md",
    "lcdh": "docs/lcdh.md",
    "float-teacher": "docs/baselines.md",
    "lsh": "docs/baselines.md",
    "itq": "docs/baselines.md",
    "pq": "docs/baselines.md",
    "dcmh": "docs/baselines.md",
}
#: fields that are not hyperparameters a user sets
NOT_DOCUMENTED = {
    "progress",  # the progress-bar switch
    "quantize",  # fixed by the method: dcmq quantizes, float-student does not
}
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*`([^`]*)`\s*\|")


def config_defaults(config: Any, prefix: str = "") -> dict[str, Any]:
    """``{field: default}`` of a config dataclass instance, nested dataclasses flattened as ``a.b``."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.update(config_defaults(value, f"{prefix}{f.name}."))
        elif f.name not in NOT_DOCUMENTED:
            out[prefix + f.name] = value
    return out


def documented(page: str, method: str) -> dict[str, str]:
    """``{field: default as written}`` from the table after ``<!-- config: method -->`` in ``page``."""
    lines = (ROOT / page).read_text().splitlines()
    marker = f"<!-- config: {method} -->"
    assert marker in lines, f"{page} has no {marker} line before its config table"
    rows: dict[str, str] = {}
    for line in lines[lines.index(marker) + 1:]:
        if not line.startswith("|"):
            break
        m = ROW.match(line)
        if m:
            assert m.group(1) not in rows, f"{page}: field {m.group(1)} listed twice for {method}"
            rows[m.group(1)] = m.group(2)
    return rows


def same_default(written: str, value: Any) -> bool:
    try:
        parsed = json.loads(written)
    except json.JSONDecodeError:
        parsed = written
    if isinstance(value, tuple):
        value = list(value)
    return parsed == value


@pytest.mark.parametrize("method", sorted(PAGES))
def test_config_table_matches_the_dataclass(method: str) -> None:
    page = PAGES[method]
    truth = config_defaults(create_method(method).config)
    rows = documented(page, method)
    assert sorted(set(truth) - set(rows)) == [], f"{page}: {method} fields without a row"
    assert sorted(set(rows) - set(truth)) == [], f"{page}: rows for {method} fields that do not exist"
    wrong = {k: (rows[k], truth[k]) for k in truth if not same_default(rows[k], truth[k])}
    assert not wrong, f"{page}: {method} defaults written differently from the dataclass (written, true): {wrong}"


def test_defaults_compare_as_values() -> None:
    assert same_default("1e-3", 0.001) and same_default("8", 8.0) and same_default("null", None)
    assert same_default("row-col", "row-col") and same_default("[32, 64, 128]", [32, 64, 128])
    assert not same_default("true", False) and not same_default("0.1", 0.01)
