"""Fit the light query text encoder of a trained model on its dataset's ``split.fit`` captions.

    python -m distilhash.pipeline.light_text --model data/runs/demo-dcmq64 [--dataset emoji-scenes]

Targets are the cached teacher text features (:func:`~distilhash.pipeline.inputs.load_features_and_split`);
``alpha`` is chosen on ``split.val`` captions; the query set is never used. The encoder is saved
next to the model (``MODEL/light-text``). See :mod:`distilhash.query_encoders.light_text`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from distilhash.errors import ConfigError, DistilhashError, FeatureError
from distilhash.query_encoders.light_text import LightTextConfig, LightTextEncoder, light_text_dir

__all__ = ["fit_for_model", "main"]


def fit_for_model(model_dir: str | Path, dataset: str | None = None, features: str | Path | None = None,
                  teacher: str | None = None, config: LightTextConfig | None = None, out: str | Path | None = None,
                  progress: bool = True) -> tuple[LightTextEncoder, Path]:
    """Fit the light encoder for a trained model on ``split.fit`` captions of ``dataset`` and save it.

    Targets are the cached teacher text features (the teacher named in the model's ``method.json``
    unless ``teacher`` / ``features`` say otherwise). Saved to ``out`` (default
    ``<model_dir>/light-text``). Returns the encoder and its directory.
    """
    from distilhash.pipeline.inputs import dataset_for_model, load_features_and_split
    from distilhash.query_encoders.light_text_fit import fit_light_text

    model_dir = Path(model_dir)
    meta_path = model_dir / "method.json"
    if not meta_path.exists():
        raise ConfigError(f"{model_dir} is not a model directory (no method.json)")
    meta = json.loads(meta_path.read_text())
    teacher = teacher or meta.get("teacher")
    if not teacher:
        raise ConfigError(f"{meta_path} names no teacher; pass --teacher")
    ds, split, feats, fpath = load_features_and_split(dataset_for_model(model_dir, dataset), teacher, Path(features) if features else None)
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
    """``python -m distilhash.pipeline.light_text --model DIR [...]``: fit, save and print the fit report."""
    import argparse

    p = argparse.ArgumentParser(description="Fit the light query text encoder of a model (see module docstring).")
    p.add_argument("--model", type=Path, required=True, help="model directory (method.json)")
    p.add_argument("--dataset", help="prepared dataset (default: the one the model was trained on)")
    p.add_argument("--features", type=Path, help="teacher feature cache (default: the dataset's cache for the model's teacher)")
    p.add_argument("--teacher", help="teacher name of the feature cache (default: the model's)")
    p.add_argument("--out", type=Path, help="output directory (default: MODEL/light-text)")
    p.add_argument("--max-features", type=int, default=LightTextConfig.max_features)
    p.add_argument("--min-count", type=int, default=LightTextConfig.min_count)
    p.add_argument("--no-bigrams", action="store_true")
    a = p.parse_args(argv)
    cfg = LightTextConfig(bigrams=not a.no_bigrams, min_count=a.min_count, max_features=a.max_features)
    try:
        enc, path = fit_for_model(a.model, a.dataset, a.features, a.teacher, cfg, a.out)
    except DistilhashError as exc:
        raise SystemExit(f"error: {exc}") from None
    r = enc.report
    print(f"wrote {path}: {r['features']} n-grams ({r['unigrams']} unigrams, {r['bigrams']} bigrams), alpha {r['alpha_relative']}, "
          f"cosine to the teacher: fit {r['fit_cosine_mean']}, val {r['val_cosine_mean']} (p10 {r['val_cosine_p10']}); "
          f"val OOV rate {r['val_oov_rate_mean']}; {r['fit_seconds']} s")


if __name__ == "__main__":
    main()
