"""The static query text encoder: a model2vec distillation of the teacher's text tower + a ridge map.

The teacher's text tower (MiniLM: ~13 ms of a core per sentence) is replaced at query time by a
static subword model distilled from it with `model2vec <https://github.com/MinishLab/model2vec>`_
(one vector per token of the tower's own tokenizer, so every text has features: no vocabulary
gaps, no fallback), followed by a linear map into the teacher's text space::

    ids(x)  = the tower tokenizer's subword ids of x (no special tokens, [UNK] dropped)   [T]
    s(x)    = normalize(sum_t E[ids_t])          E: the static table float32 [V, d]       [d]
    f(x)    = normalize(s(x) W + b)              W float32 [d, D], b [D] (D = teacher width)

``E`` is model2vec's output (mean pooling of the tower's contextual token embeddings, PCA to
``d``, SIF weights folded in); ``W, b`` are fitted by ridge regression on the ``split.train``
captions against their teacher text embeddings
(:mod:`distilhash.query_encoders.static_text_fit`; the command ``distilhash query-encoder fit``).
When training ``E`` and ``W, b`` together on the ``split.fit`` captions beats that on ``split.val``,
the tuned ``E, W, b`` are stored instead (:mod:`distilhash.query_encoders.static_text_tune`).

Stored as a folder (default ``<model_dir>/static-text``)::

    model.safetensors, tokenizer.json, config.json    the model2vec model (StaticModel.from_pretrained loads it)
    map.safetensors                                    W float32 [d, D], b float32 [D]
    encoder.json                                       format, fingerprint, settings, fit report

Encoding reads the folder with numpy, ``tokenizers`` and ``safetensors`` only (no torch, no
model2vec import: a cold ``distilhash search`` stays well under a second); it gives what
``StaticModel.encode`` gives, followed by the map.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import DataError

__all__ = ["StaticTextEncoder", "load_static_text", "load_static_model", "static_text_dir", "STATIC_DIR", "FORMAT", "MAP_FILE", "META_FILE"]

STATIC_DIR = "static-text"
FORMAT = "distilhash-static-text/1"
MAP_FILE = "map.safetensors"
META_FILE = "encoder.json"
_M2V_FILES = ("model.safetensors", "tokenizer.json", "config.json")


def static_text_dir(model_dir: str | Path) -> Path:
    """Where the static encoder of a model lives by default: ``<model_dir>/static-text``."""
    return Path(model_dir) / STATIC_DIR


@dataclass
class StaticTextEncoder:
    """A loaded static encoder (see module docstring): ``encode(texts) -> float32 [n, D]`` unit rows.

    Args:
        tokenizer: the tower's ``tokenizers.Tokenizer`` (padding off, truncation at ``max_tokens``).
        table: ``E`` float32 ``[V, d]``.
        weights, bias: the map ``W [d, D]``, ``b [D]``.
        meta: ``encoder.json`` (fingerprint, settings, fit report).
    """

    tokenizer: Any
    table: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    unk_id: int | None = None
    max_chars: int | None = None

    @property
    def width(self) -> int:
        """D, the teacher text width the encoder maps into."""
        return int(self.weights.shape[1])

    @property
    def fingerprint(self) -> str:
        return str(self.meta.get("fingerprint", ""))

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids per text, as model2vec's ``StaticModel.tokenize`` gives them."""
        if self.max_chars is not None:
            texts = [t[: self.max_chars] for t in texts]
        encs = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        unk = self.unk_id
        return [[i for i in e.ids if i != unk] for e in encs]

    def static_features(self, texts: Sequence[str]) -> np.ndarray:
        """``s(x)``: the model2vec embeddings, float32 ``[n, d]`` unit rows (zeros for a text with no token)."""
        if isinstance(texts, str):
            raise DataError("StaticTextEncoder takes a list of texts, not one string")
        ids = self.token_ids(texts)
        out = np.zeros((len(ids), self.table.shape[1]), np.float32)
        for i, row in enumerate(ids):
            if row:
                out[i] = self.table[row].sum(0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``f(x)`` of each text: float32 ``[n, D]`` unit rows in the teacher's text space."""
        if len(texts) == 1 and not isinstance(texts, str):  # a service query: the same sums without the batch overhead
            return self._encode_one(texts[0])[None]
        y = self.static_features(texts) @ self.weights + self.bias
        return (y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)).astype(np.float32, copy=False)

    def _encode_one(self, text: str) -> np.ndarray:
        ids = self.token_ids([text])[0]
        if ids:
            s = self.table[ids].sum(0)
            y = s @ self.weights * np.float32(1.0 / max(math.sqrt(float(s @ s)), 1e-12)) + self.bias
        else:
            y = self.bias.copy()
        return y * np.float32(1.0 / max(math.sqrt(float(y @ y)), 1e-12))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc})") from None


def load_static_model(directory: str | Path) -> StaticTextEncoder:
    """The model2vec model of a folder alone (identity map: ``encode`` gives ``s(x)``); DataError naming what is wrong."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    d = Path(directory)
    for name in _M2V_FILES:
        if not (d / name).is_file():
            raise DataError(f"no static text encoder at {d} ({name} missing); fit one with "
                            "`distilhash query-encoder fit --model MODEL_DIR`")
    m2v = _read_json(d / "config.json")
    try:
        static = load_file(str(d / "model.safetensors"))
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    except (SafetensorError, OSError, ValueError, Exception) as exc:  # tokenizers raises a bare Exception
        raise DataError(f"{d}: the static model cannot be read ({str(exc)[:200]})") from None
    table = static.get("embeddings")
    if table is None or table.ndim != 2:
        raise DataError(f"{d / 'model.safetensors'}: expected 'embeddings' [V, d]; got {None if table is None else table.shape}")
    if "weights" in static or "mapping" in static:
        raise DataError(f"{d}: a vocabulary-quantized model2vec model is not supported (distil without vocabulary_quantization)")
    if table.shape[0] != tok.get_vocab_size():
        raise DataError(f"{d}: {table.shape[0]} token vectors for a tokenizer of {tok.get_vocab_size()} tokens")
    tok.no_padding()
    max_tokens = m2v.get("max_length", 512)
    if max_tokens:
        tok.enable_truncation(int(max_tokens))
    unk_token = getattr(tok.model, "unk_token", None)
    unk = tok.token_to_id(unk_token) if unk_token is not None else None
    median = int(np.median([len(t) for t in tok.get_vocab()]))  # model2vec cuts texts at max_length * median token length
    width = table.shape[1]
    return StaticTextEncoder(tok, np.ascontiguousarray(table, np.float32), np.eye(width, dtype=np.float32),
                             np.zeros(width, np.float32), {}, unk, int(max_tokens) * median if max_tokens else None)


def load_static_text(directory: str | Path) -> StaticTextEncoder:
    """Read a static encoder folder (model2vec model + map); DataError naming the file that is missing or wrong."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    d = Path(directory)
    for name in (META_FILE, MAP_FILE):
        if not (d / name).is_file():
            raise DataError(f"no static text encoder at {d} ({name} missing); fit one with "
                            "`distilhash query-encoder fit --model MODEL_DIR`")
    meta = _read_json(d / META_FILE)
    if meta.get("format") != FORMAT:
        raise DataError(f"{d / META_FILE}: format {meta.get('format')!r}; expected {FORMAT!r}")
    enc = load_static_model(d)
    try:
        fitted = load_file(str(d / MAP_FILE))
    except (SafetensorError, OSError) as exc:
        raise DataError(f"{d / MAP_FILE}: unreadable ({exc})") from None
    w, b = fitted.get("weights"), fitted.get("bias")
    if w is None or b is None or w.ndim != 2 or w.shape[0] != enc.table.shape[1] or b.shape != (w.shape[1],):
        raise DataError(f"{d / MAP_FILE}: expected weights [{enc.table.shape[1]}, D] and bias [D]; got "
                        f"{None if w is None else w.shape} and {None if b is None else b.shape}")
    enc.weights, enc.bias, enc.meta = np.ascontiguousarray(w, np.float32), np.ascontiguousarray(b, np.float32), meta
    return enc
