"""What every training and encoding stage starts from: a prepared dataset, its split, teacher features."""

from __future__ import annotations

from pathlib import Path

__all__ = ["load_features_and_split", "teacher_for_model", "dataset_for_model", "cached_teachers"]


def load_features_and_split(dataset: str, teacher: str | None, features: str | Path | None = None, mmap: bool = False,
                            features_option: bool = True):
    """``(dataset, split, FeatureSet, features_dir)`` with the feature cache checked against the split.

    ``features`` defaults to the teacher's cache for ``dataset`` under ``$DISTILHASH_HOME``; with no
    ``teacher`` (and no ``features``), the dataset's only feature cache (several: an error listing them). Raises
    :class:`~distilhash.errors.FeatureError` when the cache is missing, was extracted for another
    dataset or split (``dataset_hash`` / ``split_hash`` in its manifest), or has another row count.
    ``mmap``: memory-map the arrays (engines whose workers read the cache files themselves).
    ``features_option``: whether the caller's command has ``--features`` (the missing-cache error offers it).
    """
    from distilhash.data.store import open_prepared
    from distilhash.errors import FeatureError
    from distilhash.teachers.cache import default_features_dir, load_features

    ds, split = open_prepared(dataset)
    if teacher is None and features is None:
        teacher = only_teacher(ds.name, dataset)
    path = Path(features) if features is not None else default_features_dir(ds.name, teacher)
    if not path.exists():
        from distilhash.paths import home_hint

        others = [t for t in cached_teachers(ds.name) if t != teacher]
        have = f"; {ds.name!r} has features of {', '.join(others)} (--teacher)" if others else ""
        raise FeatureError(f"no teacher features at {path} for dataset {ds.name!r} and teacher {teacher!r}; "
                           f"run `distilhash teacher extract --dataset {dataset} --teacher {teacher}` first"
                           f"{' (or pass --features)' if features_option else ''}{have}; {home_hint()}")
    feats = load_features(path, mmap=mmap)
    for key, have in (("dataset_hash", split.dataset_hash), ("split_hash", split.hash)):
        want = feats.manifest.get(key)
        if want and want != have:
            raise FeatureError(f"features at {path} were extracted for {key}={want}, but {ds.name!r} has {key}={have}; "
                               "re-extract the features")
    if len(feats) != len(ds):
        raise FeatureError(f"features at {path} have {len(feats)} rows; dataset {ds.name!r} has {len(ds)} items")
    return ds, split, feats, path


def cached_teachers(dataset_name: str) -> list[str]:
    """Teacher specs with a feature cache for ``dataset_name`` under ``$DISTILHASH_HOME/features``."""
    import json

    from distilhash.paths import features_dir

    found = []
    for manifest in sorted(features_dir().glob(f"{dataset_name}__*/manifest.json")):
        try:
            spec = json.loads(manifest.read_text()).get("teacher")
        except (OSError, ValueError):
            continue
        if isinstance(spec, str) and spec:
            found.append(spec)
    return found


def only_teacher(dataset_name: str, dataset_arg: str) -> str:
    """The one teacher whose features are cached for the dataset; a FeatureError naming the choices otherwise."""
    from distilhash.errors import FeatureError

    found = cached_teachers(dataset_name)
    if len(found) == 1:
        return found[0]
    if not found:
        raise FeatureError(f"dataset {dataset_name!r} has no teacher feature cache yet; run `distilhash teacher extract "
                           f"--dataset {dataset_arg} --teacher SPEC` (after `distilhash teacher fit` for a fitted teacher "
                           "such as lite0-minilm; `distilhash teacher extract --help` lists the specs)")
    raise FeatureError(f"dataset {dataset_name!r} has features of {len(found)} teachers ({', '.join(found)}); "
                       "choose one with --teacher")


def dataset_for_model(model_dir: str | Path | None, dataset: str | None = None) -> str:
    """``dataset`` when given, else the dataset the model in ``model_dir`` was trained on (its train.json)."""
    import json

    from distilhash.errors import ConfigError

    if dataset:
        return dataset
    record = Path(model_dir) / "train.json" if model_dir is not None else None
    if record is not None and record.is_file():
        try:
            name = json.loads(record.read_text()).get("dataset")
        except ValueError:
            name = None
        if isinstance(name, str) and name:
            return name
    raise ConfigError(f"no --dataset given and {model_dir} records no training dataset (train.json); pass --dataset")


def teacher_for_model(model_dir: str | Path | None, teacher: str | None = None) -> str | None:
    """The teacher whose feature cache a saved model reads: ``teacher`` when given, else the spec
    recorded in ``model_dir/method.json`` at training time, else None (the dataset's only cache)."""
    if teacher:
        return teacher
    if model_dir is not None and (Path(model_dir) / "method.json").is_file():  # else loading the model says why
        from distilhash.methods.base import read_method_meta

        recorded = read_method_meta(model_dir).get("teacher")
        if isinstance(recorded, str) and recorded:
            return recorded
    return None
