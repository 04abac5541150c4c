"""Encoding engines: who turns dataset rows into database codes for ``index build --engine``.

==========  ==========================================================================
engine      where
==========  ==========================================================================
local       this process (``method.encode_dataset_rows``); defined here
ray         W model-holding Ray actors (:mod:`distilhash.distributed.encode`, imported
            only when asked for); the same codes, item by item
==========  ==========================================================================

Every engine is ``f(model_dir, features: FeatureSet, rows: int [N], modality, role, **options)
-> Encoded`` (codes in row order).

An engine may also write a whole sharded index on its workers (:data:`SHARD_WRITERS`: ``ray``,
:mod:`distilhash.distributed.shard_writers`): ``f(staging_dir, *, model, dataset, part, modality,
teacher, features, n_shards, **options) -> {"items", "provenance", "run"}``; ``index build
--shards S`` uses it instead of encoding into one process when the engine has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from distilhash.codes import Encoded
from distilhash.registry import Registry

__all__ = ["ENCODE_ENGINES", "SHARD_WRITERS", "encode_with_engine"]

#: engine name -> encoding function (see module docstring); ``ray`` registers itself when first asked for.
ENCODE_ENGINES: Registry = Registry("encoding engine", modules={"ray": "distilhash.distributed.encode"})
#: engine name -> writer of a sharded index on the engine's workers (see module docstring).
SHARD_WRITERS: Registry = Registry("parallel shard writer", modules={"ray": "distilhash.distributed.shard_writers"})


@ENCODE_ENGINES.register("local")
def encode_local(model_dir: str | Path, features: Any, rows: np.ndarray, modality: str, role: str, *,
                 method: Any = None, dataset: Any = None, **_: Any) -> Encoded:
    """Codes of ``rows`` by the model in ``model_dir`` (or the already loaded ``method``), in this process."""
    from distilhash.methods.base import load_method

    method = method or load_method(model_dir)
    return method.encode_dataset_rows(modality, rows, role, features=features, dataset=dataset)


def encode_with_engine(engine: str, model_dir: str | Path, features: Any, rows: Any, modality: str,
                       role: str = "database", **options: Any) -> Encoded:
    """Codes of dataset rows ``rows`` (int ``[N]``) by the model saved in ``model_dir``, in row order.

    Args:
        engine: a name of :data:`ENCODE_ENGINES`: ``local`` (this process) or ``ray``.
        features: the dataset's :class:`~distilhash.teachers.features.FeatureSet`.
        options: ``method`` (the model, already loaded); ``dataset`` (local engine, for models that
            read raw pixels / words); ``address``, ``workers``, ``num_cpus`` (of a local cluster),
            ``part_size``, ``progress`` (ray engine).

    Raises:
        ConfigError: an unknown engine (the message lists the valid ones).
    """
    return ENCODE_ENGINES.get(engine)(model_dir, features, np.asarray(rows, dtype=np.int64), modality, role, **options)
