"""Config dataclasses as data: built from keyword arguments or JSON, written back as JSON.

Every config of the project (method hyperparameters, student pretraining, ...) is a dataclass.
:func:`build_config` is the one path from ``{key: value}`` to such a dataclass: an unknown key is
refused with a message listing the valid ones (a typo never silently falls back to a default).
:class:`ConfigData` gives a dataclass ``from_kwargs`` / ``from_dict`` / ``from_json`` and
``to_dict`` / ``to_json``, so that a run can be declared in a file.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Toy(ConfigData):
    ...     n_bits: int = 64
    ...     lr: float = 1e-3
    >>> Toy.from_json('{"n_bits": 32}')
    Toy(n_bits=32, lr=0.001)
    >>> Toy.from_kwargs(nbits=32)
    Traceback (most recent call last):
    ...
    distilhash.errors.ConfigError: Toy: unknown option(s) nbits; valid keys: lr, n_bits
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from distilhash.errors import ConfigError

__all__ = ["ConfigData", "build_config", "read_json_object"]

C = TypeVar("C")


def build_config(cls: type[C], values: Mapping[str, Any], where: str | None = None) -> C:
    """``cls(**values)`` for the dataclass ``cls``; unknown keys raise ConfigError naming the valid ones.

    ``where`` names the thing configured in the message (default: the class name).
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    valid = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown option(s) {', '.join(unknown)}; valid keys: {', '.join(valid)}")
    return cls(**dict(values))


def read_json_object(source: str | Path) -> dict[str, Any]:
    """A JSON object from a file path or a JSON text (``{...}``); a clear error otherwise."""
    text, name = str(source), "JSON text"
    if not text.lstrip().startswith("{"):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        text, name = path.read_text(), str(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{name}: expected a JSON object of options, got {type(obj).__name__}")
    return obj


class ConfigData:
    """Mixin for config dataclasses: construction from kwargs / dict / JSON and serialisation to JSON."""

    @classmethod
    def from_kwargs(cls: type[C], /, **values: Any) -> C:
        """Build from keyword arguments (unknown keys are refused, see :func:`build_config`)."""
        return build_config(cls, values)

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any], where: str | None = None) -> C:
        return build_config(cls, values, where)

    @classmethod
    def from_json(cls: type[C], source: str | Path) -> C:
        """Build from a JSON file (path) or JSON text holding an object of options."""
        return build_config(cls, read_json_object(source), f"{cls.__name__} from {source}")

    def to_dict(self) -> dict[str, Any]:
        """Every field (nested dataclasses as dicts), JSON-serialisable."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self, path: str | Path | None = None) -> str:
        """The config as indented JSON; also written (atomically) to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        if path is not None:
            from distilhash.io_utils import atomic_write_bytes

            atomic_write_bytes(Path(path), text.encode())
        return text
