"""Where a benchmark run gets its teacher features, split and (optionally) raw dataset.

A source is registered by name and returns a :class:`Loaded` bundle. Suites pick one per
dataset entry (``"source": "cache" | "synthetic"``):

* ``cache``: the teacher feature cache ``$DISTILHASH_HOME/features/<dataset>__<teacher>/``
  (or ``features`` given in the entry: a path, or a cache name under ``$DISTILHASH_HOME/features``) plus the prepared dataset's saved split; the split must
  be the one the features were extracted for (dataset and split hash checked).
* ``synthetic``: :func:`distilhash.training.synthetic.synthetic_features` with the entry's
  ``options`` (tests, smoke suites); provides no raw dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from distilhash.data.split import Split
from distilhash.errors import ConfigError, FeatureError
from distilhash.registry import Registry
from distilhash.teachers.features import FeatureSet

__all__ = ["Loaded", "FEATURE_SOURCES", "load_source"]


@dataclass
class Loaded:
    """Features + split of one dataset; ``dataset()`` loads the raw dataset on demand (or raises)."""

    features: FeatureSet
    split: Split
    dataset: Callable[[], Any]
    provenance: dict[str, Any]


FEATURE_SOURCES: Registry = Registry("feature source")


@FEATURE_SOURCES.register("cache")
def _from_cache(entry) -> Loaded:
    from distilhash.data.store import SPLIT_FILE, open_prepared, resolve_dataset_dir
    from distilhash.teachers.cache import default_features_dir, load_features

    path = Path(entry.features) if entry.features else default_features_dir(entry.name, entry.teacher)
    if entry.features and not path.is_absolute() and not path.exists():
        from distilhash.paths import features_dir

        path = features_dir() / entry.features  # a cache named under $DISTILHASH_HOME/features
    if not Path(path).exists():
        raise FeatureError(
            f"no teacher features for dataset {entry.name!r} and teacher {entry.teacher!r} at {path}; "
            f"extract them first (`distilhash teacher extract`)"
        )
    features = load_features(path)
    split = Split.load(resolve_dataset_dir(entry.name) / SPLIT_FILE)
    manifest = features.manifest
    for key, have in (("dataset_hash", split.dataset_hash), ("split_hash", split.hash)):
        want = manifest.get(key)
        if want and want != have:
            raise FeatureError(
                f"features at {path} were extracted for {key}={want}, but the prepared dataset "
                f"{entry.name!r} has {key}={have}; re-extract the features"
            )
    split.check_sizes(len(features))

    def dataset():
        return open_prepared(entry.name)[0]

    return Loaded(features, split, dataset, {"features_dir": str(path), "teacher": features.teacher})


@FEATURE_SOURCES.register("synthetic")
def _synthetic(entry) -> Loaded:
    from distilhash.training.synthetic import synthetic_features

    try:
        features, split = synthetic_features(**entry.options)
    except TypeError as exc:
        raise ConfigError(f"dataset {entry.name!r}: bad synthetic options {entry.options}: {exc}") from exc

    def dataset():
        raise ConfigError(f"dataset {entry.name!r} is synthetic: it has features only, no raw images or texts")

    return Loaded(features, split, dataset, {"synthetic_options": dict(entry.options), "teacher": "synthetic"})


def load_source(entry) -> Loaded:
    """Load the dataset entry ``entry`` (a :class:`~distilhash.benchmark.suite.DatasetEntry`).

    The raw dataset is loaded at most once, on first call of ``loaded.dataset()``.
    """
    import functools

    loaded = FEATURE_SOURCES.create(entry.source, entry)
    loaded.dataset = functools.cache(loaded.dataset)
    return loaded
