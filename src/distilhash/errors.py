"""Exception types. Every message names the offending thing and what was expected."""

from __future__ import annotations

__all__ = ["DistilhashError", "DataError", "FeatureError", "IndexCorruptError", "ConfigError", "ClusterError"]


class DistilhashError(Exception):
    """Base class of every error raised on purpose by distilhash."""


class DataError(DistilhashError, ValueError):
    """A dataset file, key, shape or item is not what was expected."""


class FeatureError(DistilhashError, ValueError):
    """A feature file or feature cache does not match (width, count, manifest)."""


class IndexCorruptError(DistilhashError):
    """An index directory is damaged, truncated or incompatible."""


class ConfigError(DistilhashError, ValueError):
    """A configuration value or registry name is invalid."""


class ClusterError(DistilhashError):
    """Shards or a Ray cluster cannot run the work: nothing fits, no node is left, a shard is unreachable."""
