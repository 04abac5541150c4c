"""Configuration given as data: ``KEY=VALUE`` overrides from a command line or a file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from distilhash.errors import ConfigError

__all__ = ["parse_overrides", "parse_nested_overrides"]


def _number_problem(value: Any) -> str | None:
    """Why a parsed override value holds a number no option takes (non-finite, beyond 64 bits), else None."""
    import math

    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, float) and not math.isfinite(v):
            return f"{v} is not a finite number"
        elif isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63:
            return f"the integer has {len(str(abs(v)))} digits; no option takes more than 64 bits"
    return None


def parse_overrides(pairs: Iterable[str], option: str = "--set") -> dict[str, Any]:
    """``["lr=0.001", "pq_mode=soft", "progress=false"]`` -> ``{"lr": 0.001, "pq_mode": "soft", "progress": False}``.

    Values are parsed as JSON when they are JSON, else kept as strings; ``-`` in a key becomes ``_``.
    Raises :class:`~distilhash.errors.ConfigError` for an item without ``=`` (naming ``option``), and
    for numbers no option takes (``1e999`` = infinity, integers beyond 64 bits).
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {pair!r}: expected KEY=VALUE")
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        problem = _number_problem(parsed)
        if problem is not None:
            raise ConfigError(f"{option} {key.strip()}: {problem}")
        out[key.strip().replace("-", "_")] = parsed
    return out


def parse_nested_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """Like :func:`parse_overrides`, but ``a.b=1`` nests (``{"a": {"b": 1}}``) and ``none`` means None.

    ``["epochs=3", "tower.image_size=48", "max_minutes=none"]`` ->
    ``{"epochs": 3, "tower": {"image_size": 48}, "max_minutes": None}``.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        ((key, value),) = parse_overrides([pair]).items()
        if isinstance(value, str) and value.lower() == "none":
            value = None
        target = out
        parts = key.split(".")
        for p in parts[:-1]:
            target = target.setdefault(p, {})
        target[parts[-1]] = value
    return out
