"""Fit a model's static query text encoder on its dataset's ``split.train`` captions (``distilhash query-encoder fit``).

    enc, path = fit_query_encoder("runs/dcmq64")            # -> runs/dcmq64/static-text

The teacher text tower named by the model's teacher is distilled with model2vec (cached under
``$DISTILHASH_HOME/teachers/cache``, shared by every model of that tower) and mapped into the
teacher's text space by ridge regression on the ``split.train`` captions against their cached
teacher text features, then its table tuned on the ``split.fit`` captions and kept when that
raises text->image mAP@all of the ``split.val`` captions against the ``split.fit`` images (teacher
image features); the query set is never used. The folder is fingerprinted (teacher
fingerprint, tower, vocabulary, captions, settings): a second call with nothing changed returns
the folder already there. See :mod:`distilhash.query_encoders.static_text`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.errors import ConfigError, FeatureError
from distilhash.query_encoders.static_text import StaticTextEncoder, static_text_dir
from distilhash.query_encoders.static_text_fit import StaticTextConfig
from distilhash.query_encoders.static_text_tune import TuneData

__all__ = ["fit_query_encoder"]


def fit_query_encoder(model_dir: str | Path, dataset: str | None = None, features: str | Path | None = None,
                      teacher: str | None = None, config: StaticTextConfig | None = None, out: str | Path | None = None,
                      threads: int = 1, force: bool = False) -> tuple[StaticTextEncoder, Path]:
    """Fit (or reuse) the static text encoder of the model in ``model_dir``; returns it and its folder.

    ``dataset`` / ``teacher`` / ``features`` default to the model's (``train.json``, ``method.json``);
    ``out`` defaults to ``MODEL/static-text``.
    """
    from distilhash.paths import teachers_dir
    from distilhash.pipeline.inputs import dataset_for_model, load_features_and_split
    from distilhash.query_encoders.static_text_fit import fit_static_text
    from distilhash.query_encoders.text_towers import text_tower_of

    model_dir = Path(model_dir)
    meta_path = model_dir / "method.json"
    if not meta_path.is_file():
        raise ConfigError(f"{model_dir} is not a model directory (no method.json)")
    meta = json.loads(meta_path.read_text())
    teacher = teacher or meta.get("teacher")
    if not teacher or teacher == "unknown":
        raise ConfigError(f"{meta_path} names no teacher; pass --teacher")
    tower = text_tower_of(teacher)
    ds, split, feats, fpath = load_features_and_split(dataset_for_model(model_dir, dataset), teacher,
                                                      Path(features) if features else None)
    width = meta.get("feature_width")
    if width and feats.text.shape[1] != width:
        raise FeatureError(f"features at {fpath} have width {feats.text.shape[1]}; the model {model_dir} expects {width}")
    rows = np.asarray(split.train)
    provenance = {"dataset": ds.name, "split_hash": split.hash, "fit_part": "split.train", "features_dir": str(fpath),
                  "teacher": feats.manifest.get("teacher", teacher)}
    path = Path(out) if out is not None else static_text_dir(model_dir)
    enc = fit_static_text(tower, [ds.texts[i] for i in rows], feats.text[rows], path, config=config,
                          cache_dir=teachers_dir() / "cache", teacher_fingerprint=str(feats.manifest.get("teacher_fingerprint", "")),
                          provenance=provenance, threads=threads, force=force, tuning=_val_tuning(ds, split, feats))
    return enc, path


def _val_tuning(ds: Any, split: Any, feats: Any) -> TuneData | None:
    """Tuning data: ``split.fit`` captions and targets; score = t2i mAP@all, ``split.val`` captions vs ``split.fit`` images."""
    from distilhash.codes import Encoded
    from distilhash.eval.metrics import evaluate

    fit, val = np.asarray(split.fit), np.asarray(split.val)
    if not len(fit) or not len(val):
        return None
    images = np.asarray(feats.image[fit], np.float32)
    lab_val, lab_fit = feats.labels[val], feats.labels[fit]
    bits = 32 * images.shape[1]

    def score(f: np.ndarray) -> float:
        return float(evaluate(Encoded("float", f, bits), Encoded("float", images, bits), lab_val, lab_fit, curves=False).map_all)

    return TuneData([ds.texts[i] for i in fit], feats.text[fit], [ds.texts[i] for i in val], score,
                    "text->image mAP@all, split.val captions vs split.fit images (teacher image features, cosine)",
                    f"{split.hash}:{feats.manifest.get('teacher_fingerprint', '')}")
