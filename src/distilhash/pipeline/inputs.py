"""What every training and encoding stage starts from: a prepared dataset, its split, teacher features."""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_features_and_split"]


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
