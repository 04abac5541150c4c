"""A light query text encoder distilled from the teacher's text tower (bag of n-grams -> ridge).

The service's text queries otherwise run the teacher's transformer (MiniLM: 50-100 ms of a core
per sentence here). This encoder regresses the teacher's text embedding from word n-gram counts::

    tokens(x)  = casefolded word tokens of x (regex ``\\w+``)
    phi(x)     = counts of the known unigrams and bigrams of x          [F]  (F <= max_features)
    f(x)       = normalize(b + W^T phi(x))                               [D]  (D = teacher width)

Fit (:func:`fit_light_text`): ridge regression on the captions of ``split.fit`` against their
teacher embeddings, ``W = (Phi_c^T Phi_c + alpha I)^-1 Phi_c^T Y_c`` (``_c`` = column-centred),
``b = mean(Y) - mean(Phi) W``; ``alpha`` is chosen by the mean cosine ``<f(x), teacher(x)>`` on
the captions of ``split.val``. The query set is never used.

Out of vocabulary: ``oov_rate(x)`` = share of tokens of x not in the unigram vocabulary (1.0 for a
text without word tokens). The service answers a query whose rate exceeds ``max_oov`` with the
teacher instead and says so (:mod:`distilhash.serve.engine`).

Stored next to the model: ``<model_dir>/light-text/encoder.json`` (config, vocabulary, fit
report) + ``encoder.safetensors`` (``W`` float32 [F, D], ``b`` float32 [D]). Fit from the
command line::

    python -m distilhash.serve.light_text --model data/runs/demo-dcmq64 [--dataset emoji-scenes]

Only numpy / scipy here (no torch): encoding a query is a few dictionary look-ups and a sum of
rows (tens of microseconds).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import ConfigError, DataError, FeatureError

__all__ = ["LightTextConfig", "LightTextEncoder", "fit_light_text", "fit_for_model", "load_light_text",
           "light_text_dir", "tokenize", "LIGHT_DIR", "FORMAT"]

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
                            f"`python -m distilhash.serve.light_text --model MODEL_DIR`")
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


# -- fitting ---------------------------------------------------------------------------------
def _vocabulary(texts: Sequence[str], cfg: LightTextConfig) -> tuple[dict[str, int], dict[str, int]]:
    """n-gram -> row (unigrams first, then bigrams by frequency), and counts of what was dropped."""
    uni: Counter[str] = Counter()
    bi: Counter[str] = Counter()
    for t in texts:
        toks = tokenize(t)
        uni.update(set(toks))
        if cfg.bigrams:
            bi.update({f"{a} {c}" for a, c in zip(toks, toks[1:])})
    keep_uni = sorted((w for w, n in uni.items() if n >= cfg.min_count), key=lambda w: (-uni[w], w))
    keep_bi = sorted((w for w, n in bi.items() if n >= cfg.min_count), key=lambda w: (-bi[w], w))
    terms = (keep_uni + keep_bi)[: cfg.max_features]
    dropped = {"unigrams_below_min_count": len(uni) - len(keep_uni), "bigrams_below_min_count": len(bi) - len(keep_bi),
               "over_max_features": max(0, len(keep_uni) + len(keep_bi) - cfg.max_features)}
    return {t: i for i, t in enumerate(terms)}, dropped


def _design(enc: LightTextEncoder, texts: Sequence[str]):
    """Sparse counts ``Phi`` [n, F] (CSR, float64) and the oov rates."""
    from scipy import sparse

    indptr, indices, oov = [0], [], []
    for t in texts:
        rows, r = enc.featurize(t)
        indices += rows
        indptr.append(len(indices))
        oov.append(r)
    data = np.ones(len(indices), np.float64)
    phi = sparse.csr_matrix((data, np.asarray(indices, np.int64), np.asarray(indptr, np.int64)),
                            shape=(len(texts), len(enc.vocab)))
    phi.sum_duplicates()
    return phi, np.asarray(oov, np.float64)


def _cosines(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    t = target / np.maximum(np.linalg.norm(target, axis=1, keepdims=True), 1e-12)
    return (pred * t).sum(1)


def fit_light_text(fit_texts: Sequence[str], fit_targets: np.ndarray, val_texts: Sequence[str], val_targets: np.ndarray,
                   config: LightTextConfig | None = None, progress: bool = True) -> LightTextEncoder:
    """Ridge fit of n-gram counts -> teacher text embeddings (alpha chosen on the validation texts).

    Args:
        fit_texts, fit_targets: fit captions and their teacher embeddings float ``[n, D]``.
        val_texts, val_targets: validation captions and embeddings (selection of ``alpha`` only).
    Raises:
        FeatureError: texts and targets disagree in count, or targets are not finite 2-D arrays.
    """
    from scipy.linalg import cho_factor, cho_solve
    from tqdm.auto import tqdm

    cfg = config or LightTextConfig()
    y = np.asarray(fit_targets, np.float64)
    yv = np.asarray(val_targets, np.float64)
    for name, tx, arr in (("fit", fit_texts, y), ("val", val_texts, yv)):
        if arr.ndim != 2 or len(tx) != len(arr) or not len(tx):
            raise FeatureError(f"{name}: {len(tx)} texts but targets of shape {arr.shape}; expected [{len(tx)}, D] with D > 0")
        if not np.isfinite(arr).all():
            raise FeatureError(f"{name} targets contain NaN or infinite values")
    if y.shape[1] != yv.shape[1]:
        raise FeatureError(f"fit targets have width {y.shape[1]}, val targets {yv.shape[1]}")
    t0 = time.perf_counter()
    vocab, dropped = _vocabulary(fit_texts, cfg)
    if not vocab:
        raise DataError(f"no n-gram occurs in {cfg.min_count}+ of the {len(fit_texts)} fit texts; lower min_count")
    probe = LightTextEncoder(vocab, np.zeros((len(vocab), 1), np.float32), np.zeros(1, np.float32), cfg)
    phi, oov_fit = _design(probe, fit_texts)
    phi_v, oov_val = _design(probe, val_texts)
    n, f = phi.shape
    mean_x = np.asarray(phi.mean(0)).ravel()
    mean_y = y.mean(0)
    gram = (phi.T @ phi).toarray() - n * np.outer(mean_x, mean_x)
    rhs = np.asarray(phi.T @ y) - n * np.outer(mean_x, mean_y)
    scale = float(np.trace(gram)) / f  # alphas are relative to the mean feature variance x n
    trials = []
    best = None
    for alpha in tqdm(cfg.alphas, desc="light text encoder: ridge", disable=not progress):
        w = cho_solve(cho_factor(gram + alpha * scale * np.eye(f)), rhs)
        b = mean_y - mean_x @ w
        enc = LightTextEncoder(vocab, w.astype(np.float32), b.astype(np.float32), cfg)
        pred, _ = enc.encode(val_texts)
        cos = _cosines(pred, yv)
        trials.append({"alpha": alpha, "val_cosine_mean": round(float(cos.mean()), 5)})
        if best is None or cos.mean() > best[0]:
            best = (float(cos.mean()), alpha, enc, cos)
    _, alpha, enc, cos = best
    pred_fit, _ = enc.encode(fit_texts)
    cos_fit = _cosines(pred_fit, y)
    enc.report = {
        "n_fit": n, "n_val": len(val_texts), "features": f, "unigrams": sum(1 for t in vocab if " " not in t),
        "bigrams": sum(1 for t in vocab if " " in t), "dropped": dropped, "width": int(y.shape[1]),
        "alpha_relative": alpha, "alpha_absolute": alpha * scale, "alpha_trials": trials,
        "selection": "alpha with the highest mean cosine to the teacher on split.val captions",
        "fit_cosine_mean": round(float(cos_fit.mean()), 5),
        "val_cosine_mean": round(float(cos.mean()), 5), "val_cosine_p10": round(float(np.percentile(cos, 10)), 5),
        "val_cosine_min": round(float(cos.min()), 5),
        "fit_oov_rate_mean": round(float(oov_fit.mean()), 5), "val_oov_rate_mean": round(float(oov_val.mean()), 5),
        "val_share_above_max_oov": round(float((oov_val > cfg.max_oov).mean()), 5),
        "fit_seconds": round(time.perf_counter() - t0, 2),
    }
    return enc


def fit_for_model(model_dir: str | Path, dataset: str = "emoji-scenes", features: str | Path | None = None,
                  teacher: str | None = None, config: LightTextConfig | None = None, out: str | Path | None = None,
                  progress: bool = True) -> tuple[LightTextEncoder, Path]:
    """Fit the light encoder for a trained model on ``split.fit`` captions of ``dataset`` and save it.

    Targets are the cached teacher text features (the teacher named in the model's ``method.json``
    unless ``teacher`` / ``features`` say otherwise). Saved to ``out`` (default
    ``<model_dir>/light-text``). Returns the encoder and its directory.
    """
    from distilhash.pipeline.inputs import load_features_and_split

    model_dir = Path(model_dir)
    meta_path = model_dir / "method.json"
    if not meta_path.exists():
        raise ConfigError(f"{model_dir} is not a model directory (no method.json)")
    meta = json.loads(meta_path.read_text())
    teacher = teacher or meta.get("teacher")
    if not teacher:
        raise ConfigError(f"{meta_path} names no teacher; pass --teacher")
    ds, split, feats, fpath = load_features_and_split(dataset, teacher, Path(features) if features else None)
    width = meta.get("feature_width")
    if width and feats.text.shape[1] != width:
        raise FeatureError(f"features at {fpath} have width {feats.text.shape[1]}; the model {model_dir} expects {width}")
    fit_rows, val_rows = np.asarray(split.fit), np.asarray(split.val)
    enc = fit_light_text([ds.texts[i] for i in fit_rows], feats.text[fit_rows], [ds.texts[i] for i in val_rows],
                         feats.text[val_rows], config, progress)
    enc.report.update({"dataset": ds.name, "split_hash": split.hash, "fit_part": "split.fit", "val_part": "split.val",
                       "features_dir": str(fpath), "teacher": feats.manifest.get("teacher", teacher), "model_dir": str(model_dir)})
    return enc, enc.save(out or light_text_dir(model_dir))


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(description="Fit the light query text encoder of a model (see module docstring).")
    p.add_argument("--model", type=Path, required=True, help="model directory (method.json)")
    p.add_argument("--dataset", default="emoji-scenes")
    p.add_argument("--features", type=Path, help="teacher feature cache (default: the dataset's cache for the model's teacher)")
    p.add_argument("--teacher", help="teacher name of the feature cache (default: the model's)")
    p.add_argument("--out", type=Path, help="output directory (default: MODEL/light-text)")
    p.add_argument("--max-features", type=int, default=LightTextConfig.max_features)
    p.add_argument("--min-count", type=int, default=LightTextConfig.min_count)
    p.add_argument("--no-bigrams", action="store_true")
    a = p.parse_args(argv)
    cfg = LightTextConfig(bigrams=not a.no_bigrams, min_count=a.min_count, max_features=a.max_features)
    enc, path = fit_for_model(a.model, a.dataset, a.features, a.teacher, cfg, a.out)
    r = enc.report
    print(f"wrote {path}: {r['features']} n-grams ({r['unigrams']} unigrams, {r['bigrams']} bigrams), alpha {r['alpha_relative']}, "
          f"cosine to the teacher: fit {r['fit_cosine_mean']}, val {r['val_cosine_mean']} (p10 {r['val_cosine_p10']}); "
          f"val OOV rate {r['val_oov_rate_mean']}; {r['fit_seconds']} s")


if __name__ == "__main__":
    main()
