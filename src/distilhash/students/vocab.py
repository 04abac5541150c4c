"""Bag-of-words vocabulary built from training text (no torch).

Tokens are lower-cased runs of letters/digits (``[a-z0-9]+`` after Unicode lower-casing and
NFKD folding of accents). The vocabulary keeps tokens seen in at least ``min_count`` training
texts (document frequency), at most ``max_size`` of them (most frequent first, ties by token),
so that it is deterministic. Unknown tokens are counted, not silently lost: :meth:`Vocabulary.transform`
reports the fraction of out-of-vocabulary tokens in ``last_oov_rate``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distilhash.errors import ConfigError, DataError

__all__ = ["Vocabulary", "tokenize", "WEIGHTINGS"]

_TOKEN = re.compile(r"[a-z0-9]+")
#: how a token count c becomes a BoW entry (in place on float32 ``[n, V]`` counts)
_WEIGHT: dict[str, Callable[[np.ndarray], object]] = {
    "binary": lambda c: np.minimum(c, 1.0, out=c),  # 1 if present
    "count": lambda c: c,
    "log": lambda c: np.log1p(c, out=c),  # log(1 + c)
}
WEIGHTINGS = tuple(_WEIGHT)


def tokenize(text: str) -> list[str]:
    """``"Light-blue heart!"`` -> ``["light", "blue", "heart"]``."""
    folded = unicodedata.normalize("NFKD", str(text).lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _TOKEN.findall(folded)


@dataclass
class Vocabulary:
    """Token -> column map of a BoW text encoding.

    Attributes:
        tokens: the kept tokens; column j of a BoW vector counts ``tokens[j]``.
        weighting: ``binary`` (1 if present), ``count`` or ``log`` (log(1 + count)).
        normalize: divide each row by its L2 norm (rows without known token stay zero).
        info: how it was built (texts seen, tokens dropped by min_count / max_size).
    """

    tokens: list[str]
    weighting: str = "binary"
    normalize: bool = True
    info: dict[str, Any] = field(default_factory=dict)
    last_oov_rate: float = field(default=0.0, compare=False)

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ConfigError(f"BoW weighting {self.weighting!r}; expected one of {', '.join(WEIGHTINGS)}")
        self._index = {t: j for j, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, texts: Sequence[str], min_count: int = 2, max_size: int = 5000, weighting: str = "binary",
              normalize: bool = True) -> Vocabulary:
        """Build from training ``texts`` (document frequency >= ``min_count``, at most ``max_size`` tokens)."""
        if len(texts) == 0:
            raise DataError("cannot build a BoW vocabulary from zero training texts")
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(tokenize(text)))
        kept = sorted((t for t, c in df.items() if c >= min_count), key=lambda t: (-df[t], t))
        dropped_rare = len(df) - len(kept)
        dropped_size = max(0, len(kept) - max_size)
        kept = kept[:max_size]
        if not kept:
            raise DataError(f"BoW vocabulary is empty: no token occurs in >= {min_count} of the {len(texts)} training texts")
        info = {"n_texts": len(texts), "distinct_tokens": len(df), "kept": len(kept), "dropped_min_count": dropped_rare,
                "dropped_max_size": dropped_size, "min_count": min_count, "max_size": max_size}
        return cls(kept, weighting, normalize, info)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """float32 ``[n, V]`` BoW rows of ``texts``; sets ``last_oov_rate`` (unknown tokens / all tokens)."""
        out = np.zeros((len(texts), len(self.tokens)), np.float32)
        seen = oov = 0
        for i, text in enumerate(texts):
            for tok in tokenize(text):
                seen += 1
                j = self._index.get(tok)
                if j is None:
                    oov += 1
                else:
                    out[i, j] += 1.0
        _WEIGHT[self.weighting](out)
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, norms, out=out, where=norms > 0)
        self.last_oov_rate = oov / seen if seen else 0.0
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "weighting": self.weighting, "normalize": self.normalize, "info": self.info}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabulary:
        try:
            return cls(list(d["tokens"]), d.get("weighting", "binary"), bool(d.get("normalize", True)), d.get("info", {}))
        except KeyError as exc:
            raise ConfigError(f"vocabulary file lacks key {exc}; expected tokens, weighting, normalize") from None
