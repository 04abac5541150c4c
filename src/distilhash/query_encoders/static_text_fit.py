"""Fitting the static query text encoder: model2vec distillation of a text tower, then a ridge map.

    tower = text_tower_of("lite0-minilm:openclipart")            # the teacher's MiniLM directory
    enc = fit_static_text(tower, train_captions, train_targets, config, cache_dir=..., out=DIR)

1. **Distil** (:func:`distill_tower`): ``model2vec.distill.distill`` runs the tower once over every
   token of its vocabulary (mean pooling), reduces to ``pca_dims`` with PCA and folds in SIF
   weights. The result depends only on the tower and these settings, so it is cached by
   ``<tower weights hash>-<tokenizer hash>-<settings hash>`` and shared by every teacher, dataset
   and model with that tower (~25 s of a core quiet; several minutes on a loaded machine).
2. **Map** (:func:`fit_ridge_map`): ``W, b`` minimise ``|Y - (X W + b)|^2 + alpha |W|^2`` with ``X``
   the static features of the captions and ``Y`` their teacher text embeddings. ``alpha`` is the
   one with the highest mean leave-one-out cosine to the teacher (closed form from one SVD), so
   only the captions given (``split.train``) are used: the query set never is.
3. **Tune** (optional, :mod:`~distilhash.query_encoders.static_text_tune`; the pipeline passes
   ``split.fit`` / ``split.val``): the table rows and the map trained together on the fit captions,
   the epoch with the best ``split.val`` score kept, epoch 0 (steps 1-2 unchanged) included.

The folder written (:mod:`distilhash.query_encoders.static_text` describes it) carries a
fingerprint of the teacher, the tower, its vocabulary, the captions and the settings; a fit whose
fingerprint matches a folder already there is not redone.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import FeatureError
from distilhash.query_encoders.static_text import (FORMAT, MAP_FILE, META_FILE, StaticTextEncoder, load_static_model,
                                                   load_static_text)
from distilhash.query_encoders.static_text_tune import TuneData, tune_static_table
from distilhash.query_encoders.text_towers import TextTower

__all__ = ["StaticTextConfig", "distill_tower", "fit_ridge_map", "fit_static_text", "static_fingerprint"]


@dataclass(frozen=True)
class StaticTextConfig:
    """Settings of the static encoder (data; all enter the fingerprint).

    Attributes:
        pca_dims: width ``d`` of the static table (model2vec's PCA); 0 keeps the tower's width.
        sif_coefficient: model2vec's SIF weighting of frequent tokens.
        alphas: ridge penalties tried, relative to the mean feature variance x n; the best
            leave-one-out mean cosine wins.
        tune_epochs: most epochs of table tuning on ``split.fit`` (kept only when it beats the
            untuned encoder on ``split.val``; :mod:`~distilhash.query_encoders.static_text_tune`); 0 = off.
        tune_lr, tune_batch, tune_seed: its Adam step, mini-batch size and seed (shuffling).
    """

    pca_dims: int = 256
    sif_coefficient: float = 1e-4
    alphas: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 0.1, 1.0)
    tune_epochs: int = 10
    tune_lr: float = 1e-3
    tune_batch: int = 128
    tune_seed: int = 0

    def distill_settings(self) -> dict[str, Any]:
        import model2vec

        return {"pca_dims": self.pca_dims, "sif_coefficient": self.sif_coefficient, "pooling": "mean",
                "model2vec": model2vec.__version__}


def _hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def distill_tower(tower: TextTower, config: StaticTextConfig, cache_dir: Path, threads: int = 1) -> Path:
    """The model2vec folder of ``tower`` under ``cache_dir`` (distilled now unless already cached there)."""
    settings = config.distill_settings()
    out = Path(cache_dir) / f"model2vec-{tower.fingerprint}-{tower.vocab}-{_hash(settings, 12)}"
    if (out / "model.safetensors").is_file() and (out / "distill.json").is_file():
        return out
    import torch
    from model2vec.distill import distill

    torch.set_num_threads(max(1, int(threads)))
    t0 = time.perf_counter()
    model = distill(str(tower.path), pca_dims=config.pca_dims or None, sif_coefficient=config.sif_coefficient,
                    device="cpu")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    (tmp / "distill.json").write_text(json.dumps({"tower": asdict(tower), "settings": settings,
                                                  "seconds": round(time.perf_counter() - t0, 1)}, default=str, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def fit_ridge_map(x: np.ndarray, y: np.ndarray, alphas: Sequence[float]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Ridge ``y ~ x W + b`` with ``alpha`` chosen by leave-one-out mean cosine.

    Args:
        x: float ``[n, d]`` inputs; y: float ``[n, D]`` targets.
    Returns:
        ``W`` float32 ``[d, D]``, ``b`` float32 ``[D]`` and a report (alpha, trials, cosines).
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n = len(x)
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    uty = u.T @ yc
    scale = float((s ** 2).sum()) / x.shape[1]  # alphas are relative to the mean feature variance x n
    if not scale > 0:
        raise FeatureError(f"the {n} fit inputs are all the same vector: nothing to fit a map from (for the static "
                           "encoder: the tower's tokenizer knows none of the captions' tokens)")
    yn = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    trials, best = [], None
    for alpha in alphas:
        shrink = s ** 2 / (s ** 2 + alpha * scale)
        fitted = u @ (shrink[:, None] * uty) + my
        hat = (u ** 2) @ shrink + 1.0 / n
        loo = y - (y - fitted) / (1.0 - hat)[:, None]
        cos = (loo * yn).sum(1) / np.maximum(np.linalg.norm(loo, axis=1), 1e-12)
        trials.append({"alpha": alpha, "loo_cosine_mean": round(float(cos.mean()), 5)})
        if best is None or cos.mean() > best[0]:
            best = (float(cos.mean()), alpha, shrink, fitted)
    _, alpha, shrink, fitted = best
    w = vt.T @ ((shrink / np.maximum(s, 1e-12))[:, None] * uty)
    b = my - mx @ w
    fit_cos = (fitted * yn).sum(1) / np.maximum(np.linalg.norm(fitted, axis=1), 1e-12)
    report = {"alpha_relative": alpha, "alpha_absolute": alpha * scale, "alpha_trials": trials,
              "selection": "alpha with the highest mean leave-one-out cosine to the teacher on the fit captions",
              "loo_cosine_mean": best[0], "fit_cosine_mean": round(float(fit_cos.mean()), 5),
              "fit_cosine_p10": round(float(np.percentile(fit_cos, 10)), 5)}
    return w.astype(np.float32), b.astype(np.float32), report


def static_fingerprint(teacher_fingerprint: str, tower: TextTower, texts: Sequence[str], config: StaticTextConfig,
                       extra: dict[str, Any] | None = None) -> str:
    """sha256 (16 hex) of the teacher, the tower and its vocabulary, the fit captions and the settings."""
    h = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    return _hash({"teacher": teacher_fingerprint, "tower": tower.fingerprint, "vocab": tower.vocab, "captions": h,
                  "settings": asdict(config), "distill": config.distill_settings(), **(extra or {})})


def fit_static_text(tower: TextTower, texts: Sequence[str], targets: np.ndarray, out: str | Path, *,
                    config: StaticTextConfig | None = None, cache_dir: str | Path, teacher_fingerprint: str = "",
                    provenance: dict[str, Any] | None = None, threads: int = 1, force: bool = False,
                    tuning: TuneData | None = None) -> StaticTextEncoder:
    """Distil ``tower`` (cached), fit the map on ``texts`` -> ``targets`` (float ``[n, D]``) and write the folder ``out``.

    With ``tuning`` (and ``config.tune_epochs`` > 0) the table and map are also trained on
    ``tuning.fit_texts`` and kept when they beat the untuned encoder on ``tuning.val_score``
    (:func:`~distilhash.query_encoders.static_text_tune.tune_static_table`).
    Returns the loaded encoder; when ``out`` already holds an encoder with the same fingerprint
    (and not ``force``) that one is returned without any work.

    Raises:
        FeatureError: texts and targets disagree in count, or targets are not finite 2-D arrays.
    """
    cfg = config or StaticTextConfig()
    y = np.asarray(targets, np.float32)
    if y.ndim != 2 or len(texts) != len(y) or not len(texts) or not y.shape[1]:
        raise FeatureError(f"{len(texts)} fit texts but targets of shape {y.shape}; expected [{len(texts)}, D] with D > 0")
    if not np.isfinite(y).all():
        raise FeatureError("the fit targets contain NaN or infinite values")
    out = Path(out)
    tune = tuning if tuning is not None and cfg.tune_epochs > 0 else None
    extra: dict[str, Any] = {"width": int(y.shape[1])}
    if tune is not None:
        extra["tuning"] = {"fit": hashlib.sha256("\n".join(tune.fit_texts).encode()).hexdigest()[:16],
                           "val": hashlib.sha256("\n".join(tune.val_texts).encode()).hexdigest()[:16],
                           "metric": tune.description, "data": tune.fingerprint}
    fingerprint = static_fingerprint(teacher_fingerprint, tower, texts, cfg, extra)
    if not force and (out / META_FILE).is_file():
        try:
            old = json.loads((out / META_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        if old.get("fingerprint") == fingerprint:
            return load_static_text(out)
    t0 = time.perf_counter()
    base = distill_tower(tower, cfg, Path(cache_dir), threads)
    t1 = time.perf_counter()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "modules.json", "README.md"):
        if (base / name).is_file():
            shutil.copy2(base / name, tmp / name)
    from safetensors.numpy import save as st_save

    static = load_static_model(base)
    x = static.static_features(list(texts))
    w, b, report = fit_ridge_map(x, y, cfg.alphas)
    if tune is not None:
        table, w, b, report["tuning"] = _tune(static, tune, cfg, w, b)
        if table is not None:
            (tmp / "model.safetensors").write_bytes(st_save({"embeddings": table}))
    (tmp / MAP_FILE).write_bytes(st_save({"weights": w, "bias": b}))
    report.update({"n_fit": len(texts), "static_width": int(x.shape[1]), "width": int(y.shape[1]),
                   "distill_seconds": round(t1 - t0, 1), "fit_seconds": round(time.perf_counter() - t1, 2)})
    meta = {"format": FORMAT, "fingerprint": fingerprint, "teacher_fingerprint": teacher_fingerprint,
            "tower": {**asdict(tower), "path": str(tower.path)}, "config": asdict(cfg),
            "distill": json.loads((base / "distill.json").read_text()), "report": report, **(provenance or {})}
    (tmp / META_FILE).write_text(json.dumps(meta, indent=1, default=str))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return load_static_text(out)


def _tune(static: StaticTextEncoder, tune: TuneData, cfg: StaticTextConfig, w: np.ndarray,
          b: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, dict[str, Any]]:
    """Tune from a ridge map fitted on ``tune.fit_texts``; the tuned (table, W, b) if kept, else (None, w, b)."""
    fit_targets = np.asarray(tune.fit_targets, np.float32)
    if fit_targets.ndim != 2 or len(fit_targets) != len(tune.fit_texts) or fit_targets.shape[1] != len(b):
        raise FeatureError(f"tuning: {len(tune.fit_texts)} fit texts but targets of shape {fit_targets.shape}; "
                           f"expected [{len(tune.fit_texts)}, {len(b)}]")
    wf, bf, _ = fit_ridge_map(static.static_features(list(tune.fit_texts)), fit_targets, cfg.alphas)
    table, wt, bt, report = tune_static_table(static.table, wf, bf, static.token_ids(list(tune.fit_texts)),
                                              static.token_ids(list(tune.val_texts)), tune, epochs=cfg.tune_epochs,
                                              lr=cfg.tune_lr, batch=cfg.tune_batch, seed=cfg.tune_seed)
    return (table, wt, bt, report) if report["kept"] else (None, w, b, report)
