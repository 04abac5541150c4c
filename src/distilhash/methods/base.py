"""The method protocol and registry.

A method follows the scikit-learn habit: hyperparameters are stored untouched by ``__init__``
(one config dataclass), ``fit`` learns state into attributes ending in ``_`` and returns self.

``encode(modality, features, role)`` turns teacher features of one modality into
:class:`~distilhash.codes.Encoded` items: ``role="database"`` gives stored codes,
``role="query"`` gives what a query is scored with (the same codes for binary methods; a
continuous embedding for PQ methods, scored by asymmetric distance).

Register a method with ``@METHODS.register("name")``; create with ``create_method(name, **cfg)``.
Method modules are imported lazily by :func:`create_method`, so importing distilhash never
imports training code.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import ConfigError
from distilhash.registry import Registry

__all__ = [
    "Method",
    "ConfigMethod",
    "METHODS",
    "create_method",
    "list_methods",
    "load_method",
    "write_method_meta",
    "Modality",
    "Role",
]

Modality = Literal["image", "text"]
Role = Literal["query", "database"]


@runtime_checkable
class Method(Protocol):
    """A fitted retrieval method."""

    name: str
    n_bits: int

    def fit(self, features, split, **kwargs: Any) -> Method:
        """Learn from ``features.take(split.fit)``; may use ``split.val`` for model selection."""
        ...

    def encode(self, modality: Modality, features: np.ndarray, role: Role = "database") -> Encoded:
        """Encode float32 ``[n, D]`` teacher features of ``modality``."""
        ...

    def config_dict(self) -> dict[str, Any]:
        """The hyperparameters, JSON-serialisable, such that ``create_method(name, **cfg)`` rebuilds it."""
        ...

    def save(self, directory: Path) -> None:
        """Write ``method.json`` (via :func:`write_method_meta`) and the fitted state (safetensors)."""
        ...

    def load(self, directory: Path) -> Method:
        """Restore the fitted state written by :meth:`save` into this (freshly created) instance."""
        ...


class ConfigMethod:
    """Shared plumbing of a method whose hyperparameters are one config dataclass.

    Subclasses set ``config_class`` (a dataclass with ``from_kwargs``, ``to_dict`` and an
    ``n_bits`` field); ``__init__`` stores the config untouched, as in scikit-learn.
    """

    config_class: ClassVar[type]

    def __init__(self, **config: Any) -> None:
        self.config = self.config_class.from_kwargs(**config)

    @property
    def n_bits(self) -> int:
        return int(self.config.n_bits)

    def config_dict(self) -> dict[str, Any]:
        """The config as saved in ``method.json`` (the progress-bar switch is not a hyperparameter)."""
        cfg = self.config.to_dict()
        cfg.pop("progress", None)
        return cfg


METHODS: Registry = Registry("method")

#: name -> module that registers it (imported on first use). A new method adds one line here.
_METHOD_MODULES: dict[str, str] = {
    "float-teacher": "distilhash.methods.baselines",
    "lsh": "distilhash.methods.baselines",
    "itq": "distilhash.methods.baselines",
    "pq": "distilhash.methods.baselines",
    "dcmh": "distilhash.methods.dcmh",
    "dcmq": "distilhash.methods.dcmq",
    "float-student": "distilhash.methods.dcmq",
    "lcdh": "distilhash.methods.lcdh",
    "soda": "distilhash.methods.soda",
}


def declare_method_module(name: str, module: str) -> None:
    """Tell the registry which module registers ``name`` (for lazy import)."""
    _METHOD_MODULES[name] = module


def _import_all() -> None:
    for module in sorted(set(_METHOD_MODULES.values())):
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


def create_method(name: str, **config: Any) -> Method:
    """Create the method ``name`` with config overrides; unknown names list the valid ones."""
    if name not in METHODS and name in _METHOD_MODULES:
        importlib.import_module(_METHOD_MODULES[name])
    if name not in METHODS:
        _import_all()
    return METHODS.create(name, **config)


def write_method_meta(method: Method, directory: str | Path, **extra: Any) -> None:
    """Write ``directory/method.json``: name, config, bits and ``extra`` (teacher, feature width...)."""
    from distilhash.io_utils import atomic_write_json

    meta = {"method": method.name, "config": method.config_dict(), "n_bits": method.n_bits, **extra}
    atomic_write_json(Path(directory) / "method.json", meta)


def load_method(directory: str | Path) -> Method:
    """Rebuild a fitted method saved with ``method.save(directory)``."""
    directory = Path(directory)
    path = directory / "method.json"
    if not path.is_file():
        raise ConfigError(f"{directory} is not a saved model: method.json is missing")
    meta = json.loads(path.read_text())
    method = create_method(meta["method"], **meta.get("config", {}))
    return method.load(directory)


def list_methods() -> list[str]:
    """Names of every available method."""
    _import_all()
    return METHODS.names()
