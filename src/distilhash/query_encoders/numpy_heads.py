"""Query heads evaluated with numpy: a saved model's query side without importing torch.

A PQ model's query is a float vector from a small head on teacher features; the index scores it
against the codes (ADC tables built in numpy). Loading the method itself imports torch (1-3 s
cold), which is most of a cold ``distilhash search``. ``NUMPY_HEADS`` maps a method name to a
loader that reads the model directory's ``method.json`` and ``weights.safetensors`` with numpy
and returns a :class:`NumpyHead`, or ``None`` when that model's options need the full method
(then the method is loaded as usual). ``tests/test_numpy_heads.py`` checks each head against
the method's own ``encode(..., role="query")``.

Registered: ``dcmq`` and ``float-student`` with frozen features (``backbone="frozen"``)::

    z = normalize(L2(GELU(L1 x)))      hidden_dim > 0     (dropout is off at query time)
    z = normalize(L1 x)                hidden_dim = 0
    z = z R                            option pq_rotation="opq": the saved ``rotation [D, D]``
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import Encoded
from distilhash.errors import ConfigError
from distilhash.registry import Registry

__all__ = ["NumpyHead", "NUMPY_HEADS", "numpy_head_for", "gelu"]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1e-7 absolute (Abramowitz & Stegun 7.1.26), enough for float32 activations."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU of ``torch.nn.GELU()``: ``x * (1 + erf(x / sqrt 2)) / 2``."""
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


@dataclass
class NumpyHead:
    """Per modality, a list of ``(weight [out, in], bias [out])`` layers with GELU between them; ``rotation``
    ``[D, D]``: the orthogonal rotation both modalities' unit outputs are multiplied by (DCMQ ``pq_rotation="opq"``:
    the codebooks live in the rotated space), None for none."""

    layers: dict[str, list[tuple[np.ndarray, np.ndarray]]]
    n_bits: int
    rotation: np.ndarray | None = None

    def encode(self, modality: str, features: np.ndarray) -> Encoded:
        """Teacher features float ``[n, D]`` -> the query ``Encoded`` (float unit rows ``[n, embed_dim]``)."""
        if modality not in self.layers:
            raise ConfigError(f"no numpy head for {modality!r} queries; expected one of {', '.join(self.layers)}")
        h = np.asarray(features, np.float32)
        stack = self.layers[modality]
        if h.ndim != 2 or h.shape[1] != stack[0][0].shape[1]:
            raise ConfigError(f"{modality} features of shape {h.shape}; the model expects [n, {stack[0][0].shape[1]}]")
        for i, (w, b) in enumerate(stack):
            h = h @ w.T + b
            if i < len(stack) - 1:
                h = gelu(h)
        h = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
        if self.rotation is not None:
            h = h @ self.rotation
        return Encoded("float", h.astype(np.float32, copy=False), self.n_bits)


NUMPY_HEADS: Registry[Callable[..., NumpyHead | None]] = Registry("numpy query head")


@NUMPY_HEADS.register("dcmq")
@NUMPY_HEADS.register("float-student")
def _dcmq(directory: Path, meta: dict[str, Any]) -> NumpyHead | None:
    from safetensors.numpy import load_file

    cfg = meta.get("config") or {}
    if cfg.get("backbone", "frozen") != "frozen":
        return None  # trainable encoders read raw words and pixels: the method answers
    tensors = load_file(str(directory / "weights.safetensors"))
    layers: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for modality in ("image", "text"):
        names = (f"{modality}.weight",) if int(cfg.get("hidden_dim", 0)) <= 0 else (f"{modality}.0.weight", f"{modality}.3.weight")
        if not all(n in tensors for n in names):
            return None  # a layout this reader does not know: let the method load it
        layers[modality] = [(np.ascontiguousarray(tensors[n], np.float32),
                             np.ascontiguousarray(tensors[n.replace("weight", "bias")], np.float32)) for n in names]
    embed_dim = layers["text"][-1][0].shape[0]
    rotation = tensors.get("rotation")  # pq_rotation="opq": queries must be rotated like the codes' embeddings
    if cfg.get("pq_rotation", "none") != "none" and rotation is None:
        return None  # the option without its tensor: let the method load it (and say what is wrong)
    return NumpyHead(layers, 32 * embed_dim, None if rotation is None else np.ascontiguousarray(rotation, np.float32))


def numpy_head_for(model_dir: str | Path) -> NumpyHead | None:
    """The numpy query head of a saved model, or None when its method has none (load the method instead)."""
    directory = Path(model_dir)
    try:
        meta = json.loads((directory / "method.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None  # load_method reports what is wrong with the directory
    name = meta.get("method")
    if name not in NUMPY_HEADS or not (directory / "weights.safetensors").is_file():
        return None
    return NUMPY_HEADS.get(name)(directory, meta)
