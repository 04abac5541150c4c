"""A light query text encoder distilled from the teacher's text tower (bag of n-grams -> ridge).

The service's text queries otherwise run the teacher's transformer (MiniLM: 50-100 ms of a core
per sentence here). This encoder regresses the teacher's text embedding from word n-gram counts::

    tokens(x)  = casefolded word tokens of x (regex ``\\w+``)
    phi(x)     = counts of the known unigrams and bigrams of x          [F]  (F <= max_features)
    f(x)       = normalize(b + W^T phi(x))                               [D]  (D = teacher width)

Fit (:func:`~distilhash.query_encoders.light_text_fit.fit_light_text`): ridge regression on the captions of ``split.fit`` against their
teacher embeddings, ``W = (Phi_c^T Phi_c + alpha I)^-1 Phi_c^T Y_c`` (``_c`` = column-centred),
``b = mean(Y) - mean(Phi) W``; ``alpha`` is chosen by the mean cosine ``<f(x), teacher(x)>`` on
the captions of ``split.val``. The query set is never used.

Out of vocabulary: ``oov_rate(x)`` = share of tokens of x not in the unigram vocabulary (1.0 for a
text without word tokens). The service answers a query whose rate exceeds ``max_oov`` with the
teacher instead and says so (:mod:`distilhash.serve.engine`).

Stored next to the model: ``<model_dir>/light-text/encoder.json`` (config, vocabulary, fit
report) + ``encoder.safetensors`` (``W`` float32 [F, D], ``b`` float32 [D]). Fitting:
:mod:`distilhash.query_encoders.light_text_fit`; for a trained model, from the command line::

    python -m distilhash.pipeline.light_text --model data/runs/demo-dcmq64 [--dataset emoji-scenes]

Only numpy / scipy here (no torch): encoding a query is a few dictionary look-ups and a sum of
rows (tens of microseconds).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import DataError

__all__ = ["LightTextConfig", "LightTextEncoder", "load_light_text", "light_text_dir", "tokenize", "STOP_WORDS",
           "LIGHT_DIR", "FORMAT"]

LIGHT_DIR = "light-text"
FORMAT = "distilhash-light-text/1"
_TOKEN = re.compile(r"\w+", re.UNICODE)

#: Words that carry no content of their own: they still count as features when known, but an
#: unknown one does not make a query out-of-vocabulary ("a guitar" is as unknown as "guitar").
STOP_WORDS: frozenset[str] = frozenset(
    "a an the of with and or in on at to for from by some any my your his her its their our is are was be "
    "this that these those into over under near".split())


def tokenize(text: str) -> list[str]:
    """Casefolded word tokens (``\\w+``): ``"Red heart, cat-face!"`` -> ``['red', 'heart', 'cat', 'face']``."""
    return _TOKEN.findall(text.casefold())


def light_text_dir(model_dir: str | Path) -> Path:
    """Where the light encoder of a model lives: ``<model_dir>/light-text``."""
    return Path(model_dir) / LIGHT_DIR


@dataclass
class LightTextConfig:
    """Fit settings (data).

    Attributes:
        bigrams: add word bigrams to the unigram features.
        min_count: an n-gram enters the vocabulary when it occurs in at least this many fit captions.
        max_features: keep at most this many n-grams (all unigrams first, then the most frequent bigrams).
        alphas: ridge penalties tried; the best mean validation cosine wins.
        max_oov: default fallback threshold recorded with the encoder (the service may override it): a
            query whose share of unknown content words (stop words aside) exceeds it is encoded by the
            teacher. 0 = any unknown content word falls back: the light encoder would otherwise drop the
            word and answer for the rest of the query.
    """

    bigrams: bool = True
    min_count: int = 2
    max_features: int = 6000
    alphas: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0)
    max_oov: float = 0.0


@dataclass
class LightTextEncoder:
    """Fitted encoder (see module docstring). ``vocab``: n-gram -> row of ``weights``."""

    vocab: dict[str, int]
    weights: np.ndarray  # float32 [F, D]
    bias: np.ndarray  # float32 [D]
    config: LightTextConfig = field(default_factory=LightTextConfig)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.weights.shape[1])

    def featurize(self, text: str) -> tuple[list[int], float]:
        """Known n-gram rows of ``text`` (with repeats) and its out-of-vocabulary rate.

        The rate is the share of unknown words among the content words (:data:`STOP_WORDS` aside;
        among all words when the text has only stop words).
        """
        toks = tokenize(text)
        if not toks:
            return [], 1.0
        v = self.vocab
        rows = [v[t] for t in toks if t in v]
        if self.config.bigrams:
            rows += [v[b] for b in (f"{a} {c}" for a, c in zip(toks, toks[1:])) if b in v]
        content = [t for t in toks if t not in STOP_WORDS] or toks
        return rows, sum(t not in v for t in content) / len(content)

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(features float32 [n, D] unit rows, oov_rate float32 [n])`` of ``texts``.

        A text with no known n-gram gets the bias direction (its oov_rate is 1.0).
        """
        if isinstance(texts, str):
            raise DataError("LightTextEncoder.encode takes a list of texts, not one string")
        n = len(texts)
        out = np.empty((n, self.width), np.float32)
        oov = np.empty(n, np.float32)
        for i, t in enumerate(texts):
            rows, oov[i] = self.featurize(t)
            v = self.bias + self.weights[rows].sum(0) if rows else self.bias.copy()
            out[i] = v / max(float(np.linalg.norm(v)), 1e-12)
        return out, oov

    # -- files -------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``encoder.json`` + ``encoder.safetensors`` into ``directory`` (atomic per file)."""
        from safetensors.numpy import save as st_save

        from distilhash.io_utils import atomic_write_bytes

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        terms = [""] * len(self.vocab)
        for t, i in self.vocab.items():
            terms[i] = t
        atomic_write_bytes(d / "encoder.safetensors", st_save({"weights": np.ascontiguousarray(self.weights, np.float32),
                                                               "bias": np.ascontiguousarray(self.bias, np.float32)}))
        meta = {"format": FORMAT, "config": asdict(self.config), "width": self.width, "terms": terms, "report": self.report}
        atomic_write_bytes(d / "encoder.json", json.dumps(meta, indent=1).encode())
        return d


def load_light_text(directory: str | Path) -> LightTextEncoder:
    """Read an encoder written by :meth:`LightTextEncoder.save`; DataError naming the file when it is wrong."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    d = Path(directory)
    meta_path, w_path = d / "encoder.json", d / "encoder.safetensors"
    for p in (meta_path, w_path):
        if not p.exists():
            raise DataError(f"no light text encoder at {d} ({p.name} missing); fit one with "
                            f"`python -m distilhash.pipeline.light_text --model MODEL_DIR`")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{meta_path}: not valid JSON ({exc})") from None
    if meta.get("format") != FORMAT:
        raise DataError(f"{meta_path}: format {meta.get('format')!r}; expected {FORMAT!r}")
    try:
        arrays = load_file(str(w_path))
    except (SafetensorError, OSError) as exc:
        raise DataError(f"{w_path}: unreadable ({exc})") from None
    w, b = arrays.get("weights"), arrays.get("bias")
    terms = meta.get("terms") or []
    if w is None or b is None or w.ndim != 2 or b.shape != (w.shape[1],) or w.shape[0] != len(terms):
        raise DataError(f"{w_path}: expected weights [F={len(terms)}, D] and bias [D]; got "
                        f"{None if w is None else w.shape} and {None if b is None else b.shape}")
    cfg = dict(meta.get("config") or {})
    if "alphas" in cfg:
        cfg["alphas"] = tuple(cfg["alphas"])
    return LightTextEncoder({t: i for i, t in enumerate(terms)}, w.astype(np.float32), b.astype(np.float32),
                            LightTextConfig(**cfg), meta.get("report") or {})
