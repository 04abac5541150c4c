"""The calibrated weak-match signal of text queries: do the query's words read like this collection's captions?

A query ``q`` is a **weak match** when its *letters score* is below a threshold calibrated on
held-out real captions:

    letters(q) = mean log-probability per character of q's words under a character-trigram model of
                 the reference captions' words (:class:`CharTrigrams`; the reference captions are the
                 training captions, ``split.fit``, training texts and display captions)

``"qwxz blorf"`` scores far below any caption; an unseen but real word (``"Ramarro"``, ``"Tibet"``)
scores like one. Threshold rule (:func:`threshold_at`): the ``false_alarm`` quantile (4 %) of the
scores of the ``split.val`` display captions — one standard error (~1 point for 400 captions) below
the 5 % goal so that the goal holds on new captions. ``split.query`` is never used to choose it;
the retired ``weak_match.py`` (bench/README.md) measured the false alarms on it and the share of nonsense flagged
(``bench/results/weak_match/weak_match.md``).

The answer also reports, without using it for the flag, the **nearest caption** similarity: cosine of
the query's teacher text features to the nearest reference caption's. It cannot be calibrated on
held-out data here: the teacher's heads were fitted on ``split.train``, which holds ``split.val``, so
val captions sit closer to the training captions than new text does (a rule using it flagged 6.4 %
of the query captions at a threshold that flagged 3.9 % of val; bench/results/weak_match).

Why not the best hit's distance next to the query's typical distance (:mod:`distilhash.serve.match`)?
Every query, nonsense included, has *some* nearest codes that stand out from random items: on the
demo, "qwxz blorf" stood out by 2.8 standard deviations and "a butterfly" by 2.7.

What it cannot see: real words about something the collection does not hold ("quantum physics")
read like captions and are not flagged.

Stored next to a model as ``<model_dir>/weak-match/`` (:func:`weak_match_dir`): ``reference.npy``
(float16 ``[n, D]``, unit rows) and ``weak-match.json`` (threshold, the character model, provenance).
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import DataError

__all__ = ["CaptionReference", "CharTrigrams", "threshold_at", "weak_match_dir", "RULE"]

RULE = "caption-letters"
_REFERENCE, _INFO = "reference.npy", "weak-match.json"
_LETTERS = re.compile(r"[a-z]+")
#: byte -> symbol number of the padded letters text (space 0, a-z 1-26); CharTrigrams reads nothing else
_SYMBOL = bytes.maketrans(b" " + string.ascii_lowercase.encode(), bytes(range(27)))


def weak_match_dir(model_dir: str | Path) -> Path:
    """Where a model's weak-match calibration lives: ``<model_dir>/weak-match``."""
    return Path(model_dir) / "weak-match"


def threshold_at(real_scores: np.ndarray, false_alarm: float = 0.04) -> float:
    """The threshold rule: the real captions' score with a share ``false_alarm`` of them strictly below it."""
    scores = np.asarray(real_scores, np.float64)
    if not scores.size or not 0.0 < false_alarm < 1.0:
        raise DataError(f"threshold_at: needs real scores and a false-alarm share in (0, 1), got {scores.size} scores, {false_alarm}")
    return float(np.quantile(scores, false_alarm, method="lower"))


class CharTrigrams:
    """A character-trigram model of words (lower-case letters, words separated by one space).

    ``logprob(text)``: mean over the text's characters (and the word ends) of
    ``log (n(abc) + k) / (n(ab) + 27 k)`` with add-``k`` smoothing.
    """

    def __init__(self, trigrams: dict[str, int] | None = None, k: float = 0.1) -> None:
        self.tri: Counter = Counter(trigrams or {})
        self.k = k
        self._table: np.ndarray | None = None  # _logp_table, made on first use
        self.bi: Counter = Counter()
        for t, n in self.tri.items():
            self.bi[t[:2]] += n

    @staticmethod
    def _padded(text: str) -> str:
        return "  " + " ".join(_LETTERS.findall(text.lower())) + " "

    @classmethod
    def fit(cls, texts: Sequence[str], k: float = 0.1) -> CharTrigrams:
        tri: Counter = Counter()
        for t in texts:
            s = cls._padded(t)
            tri.update(s[i - 2:i + 1] for i in range(2, len(s)))
        return cls(dict(tri), k)

    def logprob(self, text: str) -> float:
        s = self._padded(text)
        if len(s) <= 3:
            return math.log(1.0 / 27)  # no letters: as likely as a random character
        c = np.frombuffer(s.encode("ascii").translate(_SYMBOL), np.uint8).astype(np.intp)
        return float(np.mean(self._logp_table()[(c[:-2] * 27 + c[1:-1]) * 27 + c[2:]]))

    def _logp_table(self) -> np.ndarray:
        """float64 ``[27**3]``: ``log (n(abc) + k) / (n(ab) + 27 k)`` of every trigram over space + a-z
        (symbol numbers of :data:`_SYMBOL`), made once: a per-character Python loop was most of the
        weak-match note's cost per query, and the table gives the same values."""
        if self._table is None:
            alphabet = " " + string.ascii_lowercase
            self._table = np.array([math.log((self.tri.get(a + b + c, 0) + self.k) / (self.bi.get(a + b, 0) + 27 * self.k))
                                    for a in alphabet for b in alphabet for c in alphabet])
        return self._table

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "trigrams": dict(sorted(self.tri.items()))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharTrigrams:
        return cls(d["trigrams"], float(d["k"]))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class CaptionReference:
    """Reference captions (features + character model) and the threshold (module docstring).

    Args:
        features: float ``[n, D]`` teacher text features of the reference captions (normalised here).
        chars: the character model of the reference captions.
        threshold: letters scores below it are weak matches (None until calibrated).
        info: provenance and calibration figures (saved in ``weak-match.json``).
    """

    def __init__(self, features: np.ndarray, chars: CharTrigrams, threshold: float | None = None,
                 info: dict[str, Any] | None = None) -> None:
        feats = np.asarray(features)
        if feats.ndim != 2 or not len(feats):
            raise DataError(f"weak-match reference: expected features [n, D] with n >= 1, got shape {feats.shape}")
        self.features = _unit(feats).astype(np.float16)
        # float32 [D, n] copy for the per-query scan: converting the float16 rows on every batch cost
        # about 7x the matmul itself (a tenth of the service's CPU per text query at 1M items).
        self._features_t = np.ascontiguousarray(self.features.astype(np.float32).T)
        self.chars = chars
        self.threshold = threshold
        self.info = dict(info or {})

    @property
    def width(self) -> int:
        return int(self.features.shape[1])

    def signals(self, texts: Sequence[str], query_features: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """float64 ``[nq, 2]``: (nearest-caption cosine, letters log-probability) of each query."""
        q = _unit(np.atleast_2d(query_features))
        if q.shape[1] != self.width:
            raise DataError(f"weak-match reference: query features have width {q.shape[1]}; the reference has {self.width}")
        if len(texts) != len(q):
            raise DataError(f"weak-match reference: {len(texts)} texts for {len(q)} feature rows")
        best = np.full(len(q), -1.0, np.float32)
        for s in range(0, self._features_t.shape[1], chunk):
            best = np.maximum(best, (q @ self._features_t[:, s:s + chunk]).max(axis=1))
        return np.c_[best.astype(np.float64), [self.chars.logprob(t) for t in texts]]

    @staticmethod
    def score(signals: np.ndarray) -> np.ndarray:
        """float64 ``[nq]``: the score the flag uses (the letters column of :meth:`signals`; higher = more like a caption)."""
        return np.atleast_2d(signals)[:, 1]

    def summaries(self, texts: Sequence[str], query_features: np.ndarray) -> list[dict[str, Any]]:
        """Per query ``{"rule", "score", "threshold", "weak", "nearest_caption", "letters"}``."""
        if self.threshold is None:
            raise DataError("weak-match reference: not calibrated (no threshold); run distilhash query-encoder weak-match --model MODEL")
        sig = self.signals(texts, query_features)
        return [{"rule": RULE, "score": round(float(s), 3), "threshold": round(float(self.threshold), 3), "weak": bool(s < self.threshold),
                 "nearest_caption": round(float(c), 3), "letters": round(float(lp), 3)}
                for s, (c, lp) in zip(self.score(sig), sig)]

    def save(self, directory: str | Path) -> Path:
        """Write ``reference.npy`` and ``weak-match.json`` into ``directory``."""
        from distilhash.io_utils import atomic_save_npy, atomic_write_json

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(out / _REFERENCE, self.features)
        atomic_write_json(out / _INFO, {"rule": RULE, "threshold": self.threshold,
                                        "n_reference": len(self.features), "width": self.width, **self.info,
                                        "chars": self.chars.to_dict()})
        return out

    @classmethod
    def load(cls, directory: str | Path) -> CaptionReference:
        """The calibration saved by :meth:`save`; DataError naming the file when it is missing or damaged."""
        d = Path(directory)
        try:
            info = json.loads((d / _INFO).read_text())
            feats = np.load(d / _REFERENCE)
            chars = CharTrigrams.from_dict(info.pop("chars"))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"weak-match calibration at {d}: cannot be read ({exc}); run distilhash query-encoder weak-match --model MODEL") from None
        if info.get("rule") != RULE or not isinstance(info.get("threshold"), (int, float)):
            raise DataError(f"{d / _INFO}: expected rule {RULE!r} and a numeric threshold")
        keep = {k: v for k, v in info.items() if k not in ("rule", "threshold")}
        return cls(feats, chars, float(info["threshold"]), keep)

