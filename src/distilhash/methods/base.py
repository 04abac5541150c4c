"""The method contract (:class:`MethodBase`) and the method registry.

A method follows the scikit-learn habit: hyperparameters are one config dataclass stored
untouched by ``__init__`` (unknown keys refused), ``fit`` learns state into attributes ending in
``_`` and returns self. Every method subclasses :class:`MethodBase` and declares what callers
may rely on in ``capabilities`` (never probed). An instance's ``method.capabilities`` follows its
config (``type(method).capabilities_for(method.config)``; e.g. ``dcmq`` with
``backbone="trainable"`` reads raw items); the class attribute
(``method_class(name).capabilities``) is what the default config declares, and
``method_class(name).capabilities_for(options)`` answers for given options before an instance exists:

* ``input="features"``: ``encode(modality, features [n, D], role)`` reads teacher features;
  ``input="raw"``: the method reads pixels / words, ``fit(..., dataset=)`` gets the dataset and
  ``encode_raw(modality, items, role)`` / ``encode_dataset(modality, dataset, rows, role)`` encode
  (``encode`` of teacher features is refused with a message saying so);
* ``bits_independent``: the code does not depend on ``n_bits`` (run once, not once per budget);
* ``streaming``: ``fit(..., store=, checkpoint_dir=, on_chunk=)`` absorbs ``split.retrieval``
  chunk by chunk into a code store the caller owns (the index stage persists the codes);
* ``data_parallel``: ``fit(..., data_parallel=)`` trains one replica of a torch.distributed group;
* ``indexable``: ``role="database"`` gives binary or pq codes, which an index stores; ``False`` for the
  float references (``float-teacher``, ``random``, ``float-student``), which ``distilhash eval`` scores;
* ``label_free_selection``: the model selection on ``split.val`` reads no labels (e.g. ``dcmq`` with
  ``val_criterion="teacher-top10"``), so it still chooses on a collection without labels.

``role="database"`` gives stored codes, ``role="query"`` what a query is scored with (the same
codes for binary methods; a continuous embedding for PQ methods, scored by asymmetric distance).
Fitted state records ``teacher_spec_`` (the teacher spec string of the features) and
``feature_width_`` (D). ``save(dir)`` writes ``method.json`` + ``weights.safetensors`` +
``fit_info.json``; :func:`load_method` restores it. Encoding an unfitted method raises
:class:`NotFittedError`.

Register a method with ``@METHODS.register("name")`` and declare its module in the lazy
registry below (one line) so that importing distilhash never imports training code; create one
with ``create_method(name, **cfg)`` or from a JSON file with :func:`method_from_json`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from distilhash.codes import Encoded
from distilhash.config_dataclass import ConfigData, read_json_object
from distilhash.errors import ConfigError, FeatureError
from distilhash.registry import Registry

__all__ = [
    "Capabilities",
    "MethodBase",
    "NotFittedError",
    "METHODS",
    "create_method",
    "method_from_json",
    "read_run_config",
    "list_methods",
    "load_method",
    "write_method_meta",
    "Modality",
    "Role",
    "MODALITIES",
    "ROLES",
    "WEIGHTS_FILE",
    "FIT_INFO_FILE",
]

Modality = Literal["image", "text"]
Role = Literal["query", "database"]
MODALITIES: tuple[str, ...] = ("image", "text")
ROLES: tuple[str, ...] = ("query", "database")
WEIGHTS_FILE = "weights.safetensors"
FIT_INFO_FILE = "fit_info.json"


class _DeclaredCapabilities:
    """The ``capabilities`` attribute of a method class: read on the class, the declared default;
    read on an instance, ``type(instance).capabilities_for(instance.config)``."""

    def __init__(self, default: Capabilities) -> None:
        self.default = default

    def __get__(self, instance: MethodBase | None, owner: type[MethodBase]) -> Capabilities:
        return self.default if instance is None else owner.capabilities_for(instance.config)


@dataclass(frozen=True)
class Capabilities:
    """What a method class declares to its callers (see module docstring)."""

    input: Literal["features", "raw"] = "features"
    bits_independent: bool = False
    streaming: bool = False
    data_parallel: bool = False
    indexable: bool = True
    label_free_selection: bool = False

    def __post_init__(self) -> None:
        if self.input not in ("features", "raw"):
            raise ConfigError(f"Capabilities.input={self.input!r}; expected 'features' or 'raw'")


class NotFittedError(ConfigError):
    """A method was asked to encode (or save) before ``fit`` or ``load``."""


class MethodBase:
    """Base of every retrieval method (module docstring). Subclasses set ``name``, ``config_class``
    and ``capabilities``, and implement ``fit``, ``encode`` (or the raw-input pair), ``_is_fitted``,
    ``state_tensors`` and ``set_state``."""

    name: ClassVar[str] = ""
    #: the hyperparameters: a dataclass deriving from :class:`~distilhash.config_dataclass.ConfigData`
    config_class: ClassVar[type[ConfigData]]
    #: what the default config declares; a subclass assigns a :class:`Capabilities` (wrapped on class creation)
    capabilities: ClassVar[Capabilities] = _DeclaredCapabilities(Capabilities())  # type: ignore[assignment]
    #: which safetensors flavour ``set_state`` receives: numpy arrays or torch tensors
    tensor_library: ClassVar[Literal["numpy", "torch"]] = "numpy"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("capabilities")
        if isinstance(declared, Capabilities):  # instance reads go through capabilities_for(config)
            cls.capabilities = _DeclaredCapabilities(declared)  # type: ignore[assignment]

    @classmethod
    def capabilities_for(cls, config: ConfigData | Mapping[str, Any] | None = None) -> Capabilities:
        """What an instance with ``config`` (a config dataclass or options) declares; default: the class's."""
        return cls.capabilities

    @classmethod
    def config_class_for(cls, config: Mapping[str, Any]) -> type[ConfigData]:
        """The config dataclass that holds options ``config``; default: ``config_class``."""
        return cls.config_class

    def __init__(self, **config: Any) -> None:
        self.config = type(self).config_class_for(config).from_dict(config, f"method {self.name!r}")
        self.fit_info_: dict[str, Any] = {}
        self.teacher_spec_: str = "unknown"
        self.feature_width_: int | None = None

    # ------------------------------------------------------------------ hyperparameters
    @property
    def n_bits(self) -> int:
        return int(self.config.n_bits)

    def config_dict(self) -> dict[str, Any]:
        """The hyperparameters as saved in ``method.json`` (the progress-bar switch is not one);
        ``create_method(name, **config_dict())`` rebuilds the method."""
        cfg = dataclasses.asdict(self.config)
        cfg.pop("progress", None)
        return cfg

    # ------------------------------------------------------------------ fitting
    def fit(self, features, split, **kwargs: Any) -> MethodBase:
        """Learn from ``features`` rows ``split.fit``; model selection may use ``split.val`` only."""
        raise NotImplementedError

    def _bind_features(self, features) -> None:
        """Record the teacher spec and feature width of the features being fitted on."""
        self.teacher_spec_ = str(features.teacher)
        self.feature_width_ = int(features.width)

    def _is_fitted(self) -> bool:
        return self.feature_width_ is not None

    @property
    def is_fitted(self) -> bool:
        return self._is_fitted()

    def require_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless ``fit`` or ``load`` has run."""
        if not self._is_fitted():
            raise NotFittedError(f"method {self.name!r} is not fitted: call fit() or load_method() first")

    # ------------------------------------------------------------------ encoding
    def encode(self, modality: str, features: np.ndarray, role: str = "database") -> Encoded:
        """Codes of float32 teacher features ``[n, D]`` of ``modality`` for ``role``."""
        self._refuse("features")
        raise NotImplementedError(f"method {self.name!r} does not implement encode()")

    def encode_raw(self, modality: str, items: Any, role: str = "database") -> Encoded:
        """Codes of raw items (uint8 pixels ``[n, H, W, 3]`` or a list of strings); raw-input methods only."""
        self._refuse("raw")
        raise NotImplementedError(f"method {self.name!r} does not implement encode_raw()")

    def encode_dataset(self, modality: str, dataset, indices, role: str = "database") -> Encoded:
        """Codes of dataset rows ``indices`` read from the dataset's raw items; raw-input methods only."""
        self._refuse("raw")
        raise NotImplementedError(f"method {self.name!r} does not implement encode_dataset()")

    def _refuse(self, wanted: str) -> None:
        """A clear error when an encode entry point does not match the declared input kind."""
        have = self.capabilities.input
        if have == "raw" and wanted == "features":
            raise FeatureError(f"method {self.name!r} reads raw pixels / words (capabilities.input='raw'), not teacher "
                               "features: call encode_raw(modality, items, role) or encode_dataset(modality, dataset, "
                               "rows, role)")
        if have == "features" and wanted == "raw":
            raise ConfigError(f"method {self.name!r} reads teacher features (capabilities.input='features'): "
                              "call encode(modality, features, role)")

    def encode_dataset_rows(self, modality: str, rows, role: str = "database", *, features=None,
                            dataset=None) -> Encoded:
        """Codes of dataset rows ``rows`` by the declared input: teacher features
        (``features.image[rows]`` / ``features.text[rows]``) or the dataset's raw items."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.capabilities.input == "raw":
            if dataset is None:
                raise ConfigError(f"method {self.name!r} reads raw pixels / words: encoding dataset rows needs the dataset")
            return self.encode_dataset(modality, dataset, rows, role)
        if features is None:
            raise ConfigError(f"method {self.name!r} encodes teacher features: pass the feature set")
        if modality not in MODALITIES:
            raise ConfigError(f"modality {modality!r}; expected one of {', '.join(MODALITIES)}")
        return self.encode(modality, (features.image if modality == "image" else features.text)[rows], role)

    def check_encode_args(self, modality: str, role: str, modalities: tuple[str, ...] = MODALITIES) -> None:
        """Fitted, a known modality and role (clear errors otherwise)."""
        self.require_fitted()
        if modality not in modalities:
            raise ConfigError(f"method {self.name!r}: modality {modality!r}; expected one of {', '.join(modalities)}")
        if role not in ROLES:
            raise ConfigError(f"method {self.name!r}: role {role!r}; expected one of {', '.join(ROLES)}")

    def check_features(self, modality: str, features: Any) -> np.ndarray:
        """``features`` as float32 ``[n, feature_width_]``; a FeatureError naming the shape otherwise."""
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.feature_width_:
            raise FeatureError(f"method {self.name!r}: {modality} features have shape {x.shape}; "
                               f"expected [n, {self.feature_width_}] teacher features")
        return x

    # ------------------------------------------------------------------ persistence
    def state_tensors(self) -> dict[str, Any]:
        """The fitted arrays to save (numpy arrays or torch tensors, by name)."""
        raise NotImplementedError

    def set_state(self, tensors: dict[str, Any], meta: dict[str, Any], directory: Path) -> None:
        """Restore the fitted state from ``tensors`` (as written by :meth:`state_tensors`) and ``meta``."""
        raise NotImplementedError

    def meta_extra(self) -> dict[str, Any]:
        """Extra JSON entries of ``method.json`` (beyond name, config, bits, teacher, feature width)."""
        return {}

    def save(self, directory: str | Path) -> None:
        """``weights.safetensors`` + ``fit_info.json`` + ``method.json`` (written last: the commit point)."""
        from distilhash.io_utils import atomic_write_json

        self.require_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        _save_weights(directory / WEIGHTS_FILE, self.state_tensors())
        atomic_write_json(directory / FIT_INFO_FILE, self.fit_info_)
        write_method_meta(self, directory, teacher=self.teacher_spec_, feature_width=self.feature_width_, **self.meta_extra())

    def load(self, directory: str | Path) -> MethodBase:
        """Restore what :meth:`save` wrote into this (freshly created) instance."""
        directory = Path(directory)
        meta = read_method_meta(directory)
        self.teacher_spec_ = str(meta.get("teacher") or "unknown")
        width = meta.get("feature_width")
        if width is not None and not isinstance(width, int):
            raise ConfigError(f"{directory / 'method.json'}: 'feature_width' is {width!r}; expected an integer")
        self.feature_width_ = width
        info = directory / FIT_INFO_FILE
        self.fit_info_ = json.loads(info.read_text()) if info.is_file() else dict(meta.get("fit_info", {}))
        self.set_state(_load_weights(directory / WEIGHTS_FILE, self.tensor_library), meta, directory)
        return self


def _save_weights(path: Path, tensors: dict[str, Any]) -> None:
    from distilhash.io_utils import atomic_write_bytes

    if any(not isinstance(v, np.ndarray) for v in tensors.values()):  # torch tensors
        from distilhash.training.checkpoint import save_tensors

        save_tensors(path, tensors)
        return
    from safetensors.numpy import save

    atomic_write_bytes(path, save({k: np.ascontiguousarray(v) for k, v in tensors.items()}))


def _load_weights(path: Path, library: str) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path.parent}: {path.name} is missing (a saved model directory expected)")
    try:
        if library == "torch":
            from safetensors.torch import load_file
        else:
            from safetensors.numpy import load_file
        return dict(load_file(str(path)))
    except Exception as exc:  # safetensors raises its own error types
        raise ConfigError(f"{path} cannot be read as safetensors: {exc}") from exc


#: name -> module that registers it (imported on first use). A new method adds one line here.
METHODS: Registry = Registry("method", modules={
    "float-teacher": "distilhash.methods.baselines",
    "lsh": "distilhash.methods.baselines",
    "itq": "distilhash.methods.baselines",
    "pq": "distilhash.methods.baselines",
    "random": "distilhash.methods.baselines",
    "dcmh": "distilhash.methods.dcmh",
    "dcmq": "distilhash.methods.dcmq",
    "float-student": "distilhash.methods.dcmq",
    "lcdh": "distilhash.methods.lcdh",
    "soda": "distilhash.methods.soda",
})


def method_class(name: str) -> type[MethodBase]:
    """The class registered as ``name`` (imports its module); capabilities are read from it."""
    return METHODS.get_class(name, MethodBase)


def create_method(name: str, **config: Any) -> MethodBase:
    """Create the method ``name`` with config overrides; unknown names list the valid ones."""
    return method_class(name)(**config)


def read_run_config(source: str | Path, method: str | None = None) -> tuple[str, dict[str, Any]]:
    """``(method name, config options)`` declared in a JSON file (or text): ``{"method": NAME,
    "config": {...}}`` — the shape of a saved ``method.json`` — or a bare object of options for
    ``method``. A file naming another method than ``method`` is refused."""
    obj = read_json_object(source)
    if "method" not in obj:
        if method is None:
            raise ConfigError(f"{source}: expected {{'method': NAME, 'config': {{...}}}}; 'method' is missing")
        return method, obj
    unknown = sorted(set(obj) - {"method", "config", "n_bits", "teacher", "feature_width", "image_size"})
    config = obj.get("config", {})
    if unknown or not isinstance(config, dict):
        raise ConfigError(f"{source}: expected {{'method': NAME, 'config': {{...}}}}"
                          + (f"; unknown keys {', '.join(unknown)}" if unknown else "; 'config' is not an object"))
    if method is not None and obj["method"] != method:
        raise ConfigError(f"{source} declares method {obj['method']!r}, not {method!r}")
    return str(obj["method"]), dict(config)


def method_from_json(source: str | Path, **overrides: Any) -> MethodBase:
    """A method declared in a JSON file or text (see :func:`read_run_config`), ``overrides`` on top."""
    name, config = read_run_config(source)
    return create_method(name, **{**config, **overrides})


def write_method_meta(method: MethodBase, directory: str | Path, **extra: Any) -> None:
    """Write ``directory/method.json``: name, config, bits and ``extra`` (teacher, feature width...)."""
    from distilhash.io_utils import atomic_write_json

    meta = {"method": method.name, "config": method.config_dict(), "n_bits": method.n_bits, **extra}
    atomic_write_json(Path(directory) / "method.json", meta)


def read_method_meta(directory: str | Path) -> dict[str, Any]:
    """``directory/method.json`` as a dict; a ConfigError if it is missing or not a saved model."""
    path = Path(directory) / "method.json"
    if not path.is_file():
        raise ConfigError(f"{directory} is not a saved model: method.json is missing")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or "method" not in meta:
        raise ConfigError(f"{path} names no method")
    return meta


def load_method(directory: str | Path) -> MethodBase:
    """Rebuild a fitted method saved with ``method.save(directory)``."""
    meta = read_method_meta(directory)
    method = create_method(meta["method"], **meta.get("config", {}))
    return method.load(Path(directory))


def list_methods() -> list[str]:
    """Names of every available method."""
    return METHODS.names()
