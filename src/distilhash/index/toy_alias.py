"""TOY (scratch, not for merging): an ``alias.json`` directory naming another index directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distilhash.index import core
from distilhash.index.core import IndexOptions, VerifyReport
from distilhash.index.protocol import Index

ALIAS = "alias.json"


def _target(directory: str | Path) -> Path:
    return (Path(directory) / json.loads((Path(directory) / ALIAS).read_text())["target"]).resolve()


def open_alias(directory: str | Path, **options: Any) -> Index:
    return core.open_index(_target(directory), **options)


def verify_alias(directory: Path, options: IndexOptions | None = None) -> VerifyReport:
    return core.verify_index(_target(directory), options)
