"""What every training and encoding stage starts from: a prepared dataset, its split, teacher features."""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_features_and_split", "teacher_for_model", "DEFAULT_TEACHER"]


def load_features_and_split(dataset: str, teacher: str, features: str | Path | None = None):
    """``(dataset, split, FeatureSet, features_dir)`` with the feature cache checked against the split.

    ``features`` defaults to the teacher's cache for ``dataset`` under ``$DISTILHASH_HOME``. Raises
    :class:`~distilhash.errors.FeatureError` when the cache is missing, was extracted for another
    dataset or split (``dataset_hash`` / ``split_hash`` in its manifest), or has another row count.
    """
    from distilhash.data.store import open_prepared
    from distilhash.errors import FeatureError
    from distilhash.teachers.cache import default_features_dir, load_features

    ds, split = open_prepared(dataset)
    path = Path(features) if features is not None else default_features_dir(ds.name, teacher)
    if not path.exists():
        from distilhash.paths import home_hint

        raise FeatureError(f"no teacher features at {path} for dataset {ds.name!r} and teacher {teacher!r}; "
                           f"run `distilhash teacher extract --dataset {dataset} --teacher {teacher}` first (or pass "
                           f"--features); {home_hint()}")
    feats = load_features(path)
    for key, have in (("dataset_hash", split.dataset_hash), ("split_hash", split.hash)):
        want = feats.manifest.get(key)
        if want and want != have:
            raise FeatureError(f"features at {path} were extracted for {key}={want}, but {ds.name!r} has {key}={have}; "
                               "re-extract the features")
    if len(feats) != len(ds):
        raise FeatureError(f"features at {path} have {len(feats)} rows; dataset {ds.name!r} has {len(ds)} items")
    return ds, split, feats, path


DEFAULT_TEACHER = "minilm-lit"


def teacher_for_model(model_dir: str | Path | None, teacher: str | None = None) -> str:
    """The teacher whose feature cache a saved model reads: ``teacher`` when given, else the spec
    recorded in ``model_dir/method.json`` at training time, else ``minilm-lit``."""
    if teacher:
        return teacher
    if model_dir is not None and (Path(model_dir) / "method.json").is_file():  # else loading the model says why
        from distilhash.methods.base import read_method_meta

        recorded = read_method_meta(model_dir).get("teacher")
        if isinstance(recorded, str) and recorded:
            return recorded
    return DEFAULT_TEACHER
