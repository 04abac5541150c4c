"""DCMQ and the float student never read the query rows while fitting (docs/protocol.md).

The baselines and SODA have their own such test; here every query row's features, label prompts
and labels are replaced, and the fitted model must encode the database exactly as before.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distilhash.methods.base import create_method
from distilhash.teachers.features import FeatureSet
from distilhash.training.synthetic import synthetic_features

FAST = dict(epochs=2, eval_every=1, patience=0, embed_dim=32, hidden_dim=64, batch_size=64, progress=False)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic_features(n=400, n_labels=10, width=24, n_query=80, n_train=260, n_val=60)


def _with_other_queries(feats: FeatureSet, query: np.ndarray) -> FeatureSet:
    rng = np.random.default_rng(7)
    other = feats.take(np.arange(len(feats)))
    for arr in (other.image, other.text, other.label_text):
        arr[query] = rng.normal(size=arr[query].shape).astype(np.float32)
    other.labels[query] = 1 - other.labels[query]
    return other


@pytest.mark.parametrize("name", ["dcmq", "float-student"])
def test_query_rows_never_influence_fitting(data, name):
    feats, split = data
    assert feats.label_text is not None
    other = _with_other_queries(feats, split.query)
    assert not np.array_equal(other.image[split.query], feats.image[split.query])
    a = create_method(name, n_bits=32, seed=1, **FAST).fit(feats, split)
    b = create_method(name, n_bits=32, seed=1, **FAST).fit(other, split)
    assert a.fit_info_["kept_epoch"] == b.fit_info_["kept_epoch"]
    for modality in ("image", "text"):
        x = getattr(feats, modality)[split.retrieval]
        np.testing.assert_array_equal(a.encode(modality, x, "database").data, b.encode(modality, x, "database").data)
