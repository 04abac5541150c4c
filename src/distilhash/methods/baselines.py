"""Classic baselines on a shared teacher space: float teacher, LSH, ITQ, PQ.

Every baseline reads the teacher's image and text features, which live in one shared space, and
fits its single projection / rotation / codebooks on **both modalities' ``split.fit`` rows**
(stacked), so that an image code and a text code are directly comparable. None of them selects
anything on data: ``fit_info_`` says so.

=================  ======================================================  =================
name               codes                                                   scored by
=================  ======================================================  =================
``float-teacher``  the teacher embeddings themselves (32·D bits)           cosine
``lsh``            ``sign((x - mu) W)``, ``W ~ N(0,1)``                    Hamming
``itq``            ``sign((x - mu) P R)``, PCA + learned rotation          Hamming
``pq``             M k-means codebooks of 256 words (bits = 8·M)           ADC (query float)
=================  ======================================================  =================

Example:
    >>> from distilhash.methods.base import create_method
    >>> m = create_method("itq", n_bits=32)  # doctest: +SKIP
    >>> m.fit(features, split).encode("image", features.image[:5], "query")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from distilhash.codes import Encoded, pack_bits
from distilhash.errors import ConfigError, FeatureError
from distilhash.finite import require_finite_rows
from distilhash.methods.base import METHODS, write_method_meta
from distilhash.quantizers.itq import ITQ
from distilhash.quantizers.lsh import SignRandomProjection
from distilhash.quantizers.pq import ProductQuantizer

__all__ = [
    "FeatureMethod",
    "FloatTeacher",
    "LSHMethod",
    "ITQMethod",
    "PQMethod",
    "make_config",
    "CENTERING",
]

MODALITIES = ("image", "text")
ROLES = ("query", "database")
#: How training rows are centred before projection: one mean for both modalities, one mean per
#: modality (removes the "modality gap" offset between image and text embeddings), or none.
CENTERING = ("joint", "modality", "none")


def make_config(cls: type, kwargs: dict[str, Any], method: str) -> Any:
    """Build the config dataclass ``cls`` from ``kwargs``; unknown keys name the valid ones."""
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise ConfigError(f"method {method!r}: unknown config key(s) {unknown}; valid keys: {sorted(valid)}")
    return cls(**kwargs)


class FeatureMethod:
    """Shared plumbing of methods working on teacher features.

    Subclasses set ``name``, ``Config``, implement ``_fit(image, text)`` (``split.fit`` rows),
    ``_encode(modality, x, role)``, and list their fitted arrays in ``_state()`` /
    ``_set_state()`` for persistence.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type]
    #: True for methods that need the raw dataset in ``fit(..., dataset=)`` (pixels, texts).
    needs_dataset: ClassVar[bool] = False

    def __init__(self, **config: Any) -> None:
        self.config = make_config(self.Config, config, self.name)
        self._check_config()
        self.fit_info_: dict[str, Any] = {}

    def _check_config(self) -> None:
        center = getattr(self.config, "center", None)
        if center is not None and center not in CENTERING:
            raise ConfigError(f"method {self.name!r}: center={center!r}; expected one of {CENTERING}")

    @property
    def n_bits(self) -> int:
        return int(self.config.n_bits)

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, features, split, **kwargs: Any) -> FeatureMethod:
        """Fit on the image and text rows of ``split.fit``; extra kwargs (``dataset=``) are ignored."""
        idx = np.asarray(split.fit, dtype=np.int64)
        if idx.size == 0:
            raise FeatureError(f"method {self.name!r}: split.fit is empty; nothing to fit on")
        self.feature_width_ = int(features.width)
        self.teacher_ = features.teacher
        image = np.asarray(features.image[idx], dtype=np.float32)
        text = np.asarray(features.text[idx], dtype=np.float32)
        source = f"dataset {features.manifest.get('dataset', '?')}, teacher {features.teacher}"
        fit_ids = [features.ids[i] for i in idx]
        for name, x in (("image", image), ("text", text)):
            require_finite_rows(x, f"method {self.name!r}: {name} features of split.fit ({source})", ids=fit_ids,
                                row_numbers=idx)
        self._fit_centering(image, text)
        self._fit(self._center("image", image), self._center("text", text))
        self.fit_info_ = {
            "epoch_policy": "none",
            "kept": "the only fitted state (no epochs, no model selection)",
            "fit_rows": int(idx.size),
            "fit_on": "image and text features of split.fit, stacked",
            **self._fit_details(),
        }
        return self

    def _fit_centering(self, image: np.ndarray, text: np.ndarray) -> None:
        mode = getattr(self.config, "center", "none")
        d = image.shape[1]
        if mode == "joint":
            mu = np.concatenate([image, text]).mean(axis=0)
            self.means_ = np.stack([mu, mu]).astype(np.float32)
        elif mode == "modality":
            self.means_ = np.stack([image.mean(axis=0), text.mean(axis=0)]).astype(np.float32)
        else:
            self.means_ = np.zeros((2, d), dtype=np.float32)

    def _center(self, modality: str, x: np.ndarray) -> np.ndarray:
        return x - self.means_[MODALITIES.index(modality)]

    def _fit(self, image: np.ndarray, text: np.ndarray) -> None:
        raise NotImplementedError

    def _fit_details(self) -> dict[str, Any]:
        return {}

    # -- encoding --------------------------------------------------------------------------
    def encode(self, modality: str, features: np.ndarray, role: str = "database") -> Encoded:
        """Encode float32 ``[n, D]`` teacher features of ``modality`` for ``role``."""
        if not hasattr(self, "means_"):
            raise ConfigError(f"method {self.name!r} is not fitted; call fit() or load() first")
        if modality not in MODALITIES:
            raise ConfigError(f"modality {modality!r}; expected one of {MODALITIES}")
        if role not in ROLES:
            raise ConfigError(f"role {role!r}; expected one of {ROLES}")
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.feature_width_:
            raise FeatureError(
                f"method {self.name!r}: {modality} features have shape {x.shape}; expected [n, {self.feature_width_}]"
            )
        require_finite_rows(x, f"method {self.name!r}: {modality} features to encode")
        return self._encode(modality, self._center(modality, x), role)

    def _encode(self, modality: str, x: np.ndarray, role: str) -> Encoded:
        raise NotImplementedError

    # -- persistence -----------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        pass

    def save(self, directory: str | Path) -> None:
        """``method.json`` + ``weights.safetensors`` (means and the subclass's fitted arrays)."""
        from safetensors.numpy import save_file

        from distilhash.io_utils import atomic_write_bytes

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {"means": self.means_, **self._state()}
        tmp = directory / ".weights.safetensors.tmp"
        save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(tmp))
        atomic_write_bytes(directory / "weights.safetensors", tmp.read_bytes())
        tmp.unlink()
        write_method_meta(self, directory, teacher=self.teacher_, feature_width=self.feature_width_, fit_info=self.fit_info_)

    def load(self, directory: str | Path) -> FeatureMethod:
        """Restore what :meth:`save` wrote into this freshly created instance."""
        import json

        from safetensors.numpy import load_file

        directory = Path(directory)
        path = directory / "weights.safetensors"
        if not path.is_file():
            raise ConfigError(f"{directory}: weights.safetensors is missing (saved {self.name!r} model expected)")
        meta = json.loads((directory / "method.json").read_text())
        state = load_file(str(path))
        if "means" not in state:
            raise ConfigError(f"{path}: tensor 'means' is missing")
        self.means_ = state.pop("means")
        self.feature_width_ = int(meta.get("feature_width", self.means_.shape[1]))
        self.teacher_ = meta.get("teacher", "unknown")
        self.fit_info_ = meta.get("fit_info", {})
        self._set_state(state)
        return self


def _binary(bits: np.ndarray, n_bits: int) -> Encoded:
    return Encoded("binary", pack_bits(bits), n_bits)


# ---------------------------------------------------------------------------- float teacher
@dataclass
class FloatTeacherConfig:
    """``n_bits`` is accepted for uniformity and ignored: the codes are the 32·D-bit embeddings."""

    n_bits: int | None = None
    seed: int = 0
    center: str = "none"


@METHODS.register("float-teacher")
class FloatTeacher(FeatureMethod):
    """The teacher's own float embeddings ranked by cosine: the semantic upper bound."""

    name = "float-teacher"
    Config = FloatTeacherConfig
    #: The harness runs bit-independent methods once, not once per bit budget.
    bits_independent: ClassVar[bool] = True

    @property
    def n_bits(self) -> int:
        return 32 * int(getattr(self, "feature_width_", 0))

    def _fit(self, image: np.ndarray, text: np.ndarray) -> None:
        pass

    def _encode(self, modality: str, x: np.ndarray, role: str) -> Encoded:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return Encoded("float", (x / np.maximum(norms, 1e-12)).astype(np.float32), 32 * x.shape[1])


# ---------------------------------------------------------------------------- LSH
@dataclass
class LSHConfig:
    n_bits: int = 64
    seed: int = 0
    center: str = "joint"


@METHODS.register("lsh")
class LSHMethod(FeatureMethod):
    """Sign random projection of the (centred) teacher features."""

    name = "lsh"
    Config = LSHConfig

    def _fit(self, image: np.ndarray, text: np.ndarray) -> None:
        # Centring is done by FeatureMethod (per config), so the projection itself is uncentred.
        self.srp_ = SignRandomProjection(self.n_bits, center=False, seed=self.config.seed).fit(image[:1])

    def _encode(self, modality: str, x: np.ndarray, role: str) -> Encoded:
        return _binary(self.srp_.encode(x), self.n_bits)

    def _state(self) -> dict[str, np.ndarray]:
        return {"projection": self.srp_.projection_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.srp_ = SignRandomProjection(self.n_bits, center=False, seed=self.config.seed)
        self.srp_.projection_ = state["projection"]
        self.srp_.mean_ = np.zeros(self.srp_.projection_.shape[0], np.float32)


# ---------------------------------------------------------------------------- ITQ
@dataclass
class ITQConfig:
    n_bits: int = 64
    seed: int = 0
    n_iter: int = 50
    center: str = "joint"


@METHODS.register("itq")
class ITQMethod(FeatureMethod):
    """ITQ (PCA + rotation) fitted on both modalities' training features."""

    name = "itq"
    Config = ITQConfig

    def _fit(self, image: np.ndarray, text: np.ndarray) -> None:
        self.itq_ = ITQ(self.n_bits, n_iter=self.config.n_iter, seed=self.config.seed).fit(np.concatenate([image, text]))

    def _fit_details(self) -> dict[str, Any]:
        h = self.itq_.loss_history_
        return {"iterations": self.config.n_iter, "quantization_loss_first_last": [h[0], h[-1]] if h else []}

    def _encode(self, modality: str, x: np.ndarray, role: str) -> Encoded:
        return _binary(self.itq_.encode(x), self.n_bits)

    def _state(self) -> dict[str, np.ndarray]:
        return {"itq_mean": self.itq_.mean_, "pca": self.itq_.pca_, "rotation": self.itq_.rotation_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.itq_ = ITQ(self.n_bits, n_iter=self.config.n_iter, seed=self.config.seed)
        self.itq_.mean_, self.itq_.pca_, self.itq_.rotation_ = state["itq_mean"], state["pca"], state["rotation"]


# ---------------------------------------------------------------------------- PQ
@dataclass
class PQConfig:
    """``n_bits = M * nbits_per_code``; with the default 8 bits per sub-code, M = n_bits / 8."""

    n_bits: int = 64
    seed: int = 0
    nbits_per_code: int = 8
    n_iter: int = 25
    center: str = "none"
    metric: str = "l2"


@METHODS.register("pq")
class PQMethod(FeatureMethod):
    """Product quantization: database items as M codeword indices, queries continuous (ADC)."""

    name = "pq"
    Config = PQConfig

    def _check_config(self) -> None:
        super()._check_config()
        c = self.config
        if c.n_bits % c.nbits_per_code:
            raise ConfigError(f"pq: n_bits={c.n_bits} must be a multiple of nbits_per_code={c.nbits_per_code}")
        if c.metric != "l2":
            raise ConfigError(f"pq: metric {c.metric!r} is not supported by k-means codebooks; use 'l2'")

    @property
    def M(self) -> int:
        return self.config.n_bits // self.config.nbits_per_code

    def _fit(self, image: np.ndarray, text: np.ndarray) -> None:
        c = self.config
        self.pq_ = ProductQuantizer(image.shape[1], self.M, c.nbits_per_code, n_iter=c.n_iter, seed=c.seed)
        self.pq_.fit(np.concatenate([image, text]))

    def _fit_details(self) -> dict[str, Any]:
        final = [h[-1] for h in self.pq_.mse_history_]
        return {"M": self.M, "K": self.pq_.ksub, "kmeans_iterations_max": self.config.n_iter, "final_subspace_mse_sum": float(sum(final))}

    def _encode(self, modality: str, x: np.ndarray, role: str) -> Encoded:
        if role == "query":
            q = self.pq_.pad(x)
            return Encoded("float", q, 32 * q.shape[1])
        return Encoded("pq", self.pq_.encode(x), self.n_bits, codebooks=self.pq_.centroids_, metric="l2")

    def _state(self) -> dict[str, np.ndarray]:
        return {"codebooks": self.pq_.centroids_}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        c = self.config
        self.pq_ = ProductQuantizer(self.feature_width_, self.M, c.nbits_per_code, n_iter=c.n_iter, seed=c.seed)
        self.pq_.centroids_ = state["codebooks"]
