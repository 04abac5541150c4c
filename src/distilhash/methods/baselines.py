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
``random``         random unit vectors, ignoring the features (chance)     cosine
=================  ======================================================  =================

Example:
    >>> from distilhash.methods.base import create_method
    >>> m = create_method("itq", n_bits=32)  # doctest: +SKIP
    >>> m.fit(features, split).encode("image", features.image[:5], "query")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from distilhash.codes import Encoded, pack_bits
from distilhash.config_dataclass import ConfigData
from distilhash.errors import ConfigError, FeatureError
from distilhash.finite import require_finite_rows
from distilhash.methods.base import METHODS, MODALITIES, Capabilities, MethodBase
from distilhash.quantizers.itq import ITQ
from distilhash.quantizers.lsh import SignRandomProjection
from distilhash.quantizers.pq import ProductQuantizer

__all__ = [
    "BaselineMethod",
    "FloatTeacher",
    "LSHMethod",
    "ITQMethod",
    "PQMethod",
    "RandomRanking",
    "CENTERING",
]

#: How training rows are centred before projection: one mean for both modalities, one mean per
#: modality (removes the "modality gap" offset between image and text embeddings), or none.
CENTERING = ("joint", "modality", "none")


class BaselineMethod(MethodBase):
    """Shared plumbing of the baselines: centring, fitting on both modalities' ``split.fit`` rows.

    Subclasses set ``name``, ``config_class`` (with ``n_bits``, ``seed``, ``center``), implement
    ``_fit(image, text)`` (centred ``split.fit`` rows), ``_encode(modality, x, role)``, and list
    their fitted arrays in ``_state()`` / ``_set_state()`` for persistence.
    """

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.means_: np.ndarray | None = None
        self._check_config()

    def _check_config(self) -> None:
        if self.config.center not in CENTERING:
            raise ConfigError(f"method {self.name!r}: center={self.config.center!r}; expected one of {CENTERING}")

    def _is_fitted(self) -> bool:
        return self.means_ is not None

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, features, split, **kwargs: Any) -> BaselineMethod:
        """Fit on the image and text rows of ``split.fit``; extra kwargs (``progress=``) are ignored."""
        idx = np.asarray(split.fit, dtype=np.int64)
        if idx.size == 0:
            raise FeatureError(f"method {self.name!r}: split.fit is empty; nothing to fit on")
        self._bind_features(features)
        image = np.asarray(features.image[idx], dtype=np.float32)
        text = np.asarray(features.text[idx], dtype=np.float32)
        source = f"dataset {features.manifest.get('dataset', '?')}, teacher {features.teacher}"
        fit_ids = [features.ids[i] for i in idx]
        for name, x in (("image", image), ("text", text)):
            require_finite_rows(x, f"method {self.name!r}: {name} features of split.fit ({source})", ids=fit_ids,
                                row_numbers=idx)
        means = self._fit_centering(image, text)
        self._fit(image - means[0], text - means[1])
        self.means_ = means
        self.fit_info_ = {
            "epoch_policy": "none",
            "kept": "the only fitted state (no epochs, no model selection)",
            "fit_rows": int(idx.size),
            "fit_on": "image and text features of split.fit, stacked",
            **self._fit_details(),
        }
        return self

    def _fit_centering(self, image: np.ndarray, text: np.ndarray) -> np.ndarray:
        """Means ``[2, D]`` (image row, text row) subtracted before projection, per ``config.center``."""
        mode = self.config.center
        if mode == "joint":
            mu = np.concatenate([image, text]).mean(axis=0)
            return np.stack([mu, mu]).astype(np.float32)
        if mode == "modality":
            return np.stack([image.mean(axis=0), text.mean(axis=0)]).astype(np.float32)
        return np.zeros((2, image.shape[1]), dtype=np.float32)

    def _center(self, modality: str, x: np.ndarray) -> np.ndarray:
        return x - self.means_[MODALITIES.index(modality)]

    def _fit(self, image: np.ndarray, text: np.ndarray) -> None:
        raise NotImplementedError

    def _fit_details(self) -> dict[str, Any]:
        return {}

    # -- encoding --------------------------------------------------------------------------
    def encode(self, modality: str, features: np.ndarray, role: str = "database") -> Encoded:
        """Encode float32 ``[n, D]`` teacher features of ``modality`` for ``role``."""
        self.check_encode_args(modality, role)
        x = self.check_features(modality, features)
        require_finite_rows(x, f"method {self.name!r}: {modality} features to encode")
        return self._encode(modality, self._center(modality, x), role)

    def _encode(self, modality: str, x: np.ndarray, role: str) -> Encoded:
        raise NotImplementedError

    # -- persistence -----------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        pass

    def state_tensors(self) -> dict[str, np.ndarray]:
        return {"means": self.means_, **self._state()}

    def set_state(self, tensors: dict[str, Any], meta: dict[str, Any], directory: Path) -> None:
        if "means" not in tensors:
            raise ConfigError(f"{directory}: tensor 'means' is missing from the weights")
        self.means_ = tensors.pop("means")
        if self.feature_width_ is None:
            self.feature_width_ = int(self.means_.shape[1])
        self._set_state(tensors)


def _binary(bits: np.ndarray, n_bits: int) -> Encoded:
    return Encoded("binary", pack_bits(bits), n_bits)


# ---------------------------------------------------------------------------- float teacher
@dataclass
class FloatTeacherConfig(ConfigData):
    """``n_bits`` is accepted for uniformity and ignored: the codes are the 32·D-bit embeddings."""

    n_bits: int | None = None
    seed: int = 0
    center: str = "none"


@METHODS.register("float-teacher")
class FloatTeacher(BaselineMethod):
    """The teacher's own float embeddings ranked by cosine: the semantic upper bound."""

    name = "float-teacher"
    config_class = FloatTeacherConfig
    #: The harness runs bit-independent methods once, not once per bit budget.
    capabilities: ClassVar[Capabilities] = Capabilities(bits_independent=True, indexable=False)

    @property
    def n_bits(self) -> int:
        return 32 * int(self.feature_width_ or 0)

    def _fit(self, image: np.ndarray, text: np.ndarray) -> None:
        pass

    def _encode(self, modality: str, x: np.ndarray, role: str) -> Encoded:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return Encoded("float", (x / np.maximum(norms, 1e-12)).astype(np.float32), 32 * x.shape[1])


# ---------------------------------------------------------------------------- random ranking
@dataclass
class RandomRankingConfig(ConfigData):
    """``n_bits`` is accepted for uniformity and ignored; ``width`` is the random vectors' width."""

    n_bits: int | None = None
    seed: int = 0
    center: str = "none"
    width: int = 16


@METHODS.register("random")
class RandomRanking(BaselineMethod):
    """The chance level, measured: every item gets a random vector (seeded by seed, modality, role and
    the item's row content), so a query's ranking of the database is a random permutation."""

    name = "random"
    config_class = RandomRankingConfig
    capabilities: ClassVar[Capabilities] = Capabilities(bits_independent=True, indexable=False)

    @property
    def n_bits(self) -> int:
        return 32 * self.config.width

    def _fit(self, image: np.ndarray, text: np.ndarray) -> None:
        pass

    def _encode(self, modality: str, x: np.ndarray, role: str) -> Encoded:
        import hashlib

        out = np.empty((len(x), self.config.width), np.float32)
        for i, row in enumerate(x):
            h = int.from_bytes(hashlib.sha256(np.ascontiguousarray(row).tobytes()).digest()[:8], "little")
            out[i] = np.random.default_rng([self.config.seed, MODALITIES.index(modality), h]).standard_normal(self.config.width)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return Encoded("float", out, 32 * self.config.width)


# ---------------------------------------------------------------------------- LSH
@dataclass
class LSHConfig(ConfigData):
    n_bits: int = 64
    seed: int = 0
    center: str = "joint"


@METHODS.register("lsh")
class LSHMethod(BaselineMethod):
    """Sign random projection of the (centred) teacher features."""

    name = "lsh"
    config_class = LSHConfig

    def _fit(self, image: np.ndarray, text: np.ndarray) -> None:
        # Centring is done by BaselineMethod (per config), so the projection itself is uncentred.
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
class ITQConfig(ConfigData):
    n_bits: int = 64
    seed: int = 0
    n_iter: int = 50
    center: str = "joint"


@METHODS.register("itq")
class ITQMethod(BaselineMethod):
    """ITQ (PCA + rotation) fitted on both modalities' training features."""

    name = "itq"
    config_class = ITQConfig

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
class PQConfig(ConfigData):
    """``n_bits = M * nbits_per_code``; with the default 8 bits per sub-code, M = n_bits / 8."""

    n_bits: int = 64
    seed: int = 0
    nbits_per_code: int = 8
    n_iter: int = 25
    center: str = "none"
    metric: str = "l2"
    #: "none" | "opq": rotate queries and items by an orthogonal R fitted by OPQ (:mod:`distilhash.quantizers.opq`)
    rotation: str = "none"


@METHODS.register("pq")
class PQMethod(BaselineMethod):
    """Product quantization: database items as M codeword indices, queries continuous (ADC)."""

    name = "pq"
    config_class = PQConfig

    def _check_config(self) -> None:
        super()._check_config()
        c = self.config
        if c.n_bits % c.nbits_per_code:
            raise ConfigError(f"pq: n_bits={c.n_bits} must be a multiple of nbits_per_code={c.nbits_per_code}")
        if c.metric != "l2":
            raise ConfigError(f"pq: metric {c.metric!r} is not supported by k-means codebooks; use 'l2'")
        if c.rotation not in ("none", "opq"):
            raise ConfigError(f"pq: rotation={c.rotation!r}; expected none or opq")

    @property
    def M(self) -> int:
        return self.config.n_bits // self.config.nbits_per_code

    def _fit(self, image: np.ndarray, text: np.ndarray) -> None:
        c = self.config
        self.pq_ = ProductQuantizer(image.shape[1], self.M, c.nbits_per_code, n_iter=c.n_iter, seed=c.seed)
        stacked = np.concatenate([image, text])
        self.rotation_: np.ndarray | None = None
        if c.rotation == "opq":
            from distilhash.quantizers.opq import opq_rotation

            self.rotation_ = opq_rotation(stacked, self.M, c.nbits_per_code, seed=c.seed)
            stacked = stacked @ self.rotation_
        self.pq_.fit(stacked)
        self.stacked_rows_ = 2 * image.shape[0]

    def _fit_details(self) -> dict[str, Any]:
        final = [h[-1] for h in self.pq_.mse_history_]
        details: dict[str, Any] = {"M": self.M, "K": self.pq_.ksub, "kmeans_iterations_max": self.config.n_iter,
                                   "final_subspace_mse_sum": float(sum(final))}
        rows, k = self.stacked_rows_, self.pq_.ksub
        if rows < k:  # k-means cannot place K centroids: the codebooks just copy the training rows
            fewer = max(b for b in range(1, 9) if self.n_bits % b == 0 and 2 ** b <= max(rows, 2))
            details["notes"] = [
                f"pq: {rows} training rows (image + text of split.fit) for K={k} centroids per sub-codebook: the "
                f"codebooks are the training rows themselves (mse {float(sum(final)):.3g}), so items are coded as "
                f"their nearest training item per subspace; for codebooks that are real clusters use fewer bits per sub-code "
                f"(--set nbits_per_code={fewer}, K={2 ** fewer})"]
        return details

    def _encode(self, modality: str, x: np.ndarray, role: str) -> Encoded:
        if self.rotation_ is not None:  # queries and items alike: distances unchanged
            x = x @ self.rotation_
        if role == "query":
            q = self.pq_.pad(x)
            return Encoded("float", q, 32 * q.shape[1])
        return Encoded("pq", self.pq_.encode(x), self.n_bits, codebooks=self.pq_.centroids_, metric="l2")

    def _state(self) -> dict[str, np.ndarray]:
        return {"codebooks": self.pq_.centroids_, **({} if self.rotation_ is None else {"rotation": self.rotation_})}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        c = self.config
        self.pq_ = ProductQuantizer(self.feature_width_, self.M, c.nbits_per_code, n_iter=c.n_iter, seed=c.seed)
        self.pq_.centroids_ = state["codebooks"]
        if c.rotation == "opq" and "rotation" not in state:
            raise ConfigError("pq: rotation=opq in method.json but no 'rotation' tensor in the weights")
        self.rotation_ = state.get("rotation") if c.rotation == "opq" else None
