"""Fitting the light query text encoder: ridge regression of n-gram counts on teacher text embeddings.

    enc = fit_light_text(fit_captions, fit_teacher_emb, val_captions, val_teacher_emb)   # [n, D] each
    enc.save(light_text_dir(model_dir))

``W = (Phi_c^T Phi_c + alpha I)^-1 Phi_c^T Y_c`` (``_c`` = column-centred), ``b = mean(Y) -
mean(Phi) W``; ``alpha`` is the one with the highest mean cosine to the teacher on the validation
captions. The encoder itself: :mod:`distilhash.query_encoders.light_text`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

import numpy as np

from distilhash.errors import FeatureError
from distilhash.query_encoders.light_text import LightTextConfig, LightTextEncoder, tokenize

__all__ = ["fit_light_text"]


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
