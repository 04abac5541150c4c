"""The one synthetic generator: each named data model is deterministic in its seed and says what it is."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.errors import ConfigError
from distilhash.training.synthetic import SYNTHETIC_MODELS, synthetic_features


@pytest.mark.parametrize("model", SYNTHETIC_MODELS.names())
def test_each_model_is_seeded_and_gives_unit_labelled_features(model):
    a, split = synthetic_features(n=200, n_labels=6, width=16, seed=3, model=model, n_query=30, n_train=100, n_val=20)
    b, _ = synthetic_features(n=200, n_labels=6, width=16, seed=3, model=model, n_query=30, n_train=100, n_val=20)
    c, _ = synthetic_features(n=200, n_labels=6, width=16, seed=4, model=model, n_query=30, n_train=100, n_val=20)
    np.testing.assert_array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == a.text.shape == a.label_text.shape == (200, 16) and a.class_text.shape == (6, 16)
    np.testing.assert_allclose(np.linalg.norm(a.image, axis=1), 1.0, atol=1e-5)
    assert a.labels.shape == (200, 6) and (a.labels.sum(1) >= 1).all()
    assert (len(split.query), len(split.train), len(split.val)) == (30, 100, 20)
    # shared labels make items closer across modalities than unrelated ones (the structure every test relies on)
    rel = (a.labels @ a.labels.T) > 0
    sim = a.image @ a.text.T
    assert sim[rel].mean() > sim[~rel].mean() + 0.1


def test_the_model_is_chosen_by_name_and_an_unknown_one_is_refused():
    assert set(SYNTHETIC_MODELS.names()) == {"prototypes", "low-rank"}
    with pytest.raises(ConfigError, match="synthetic feature model 'gauss'.*low-rank"):
        synthetic_features(n=50, model="gauss")
    with pytest.raises(TypeError, match="latent"):
        synthetic_features(n=50, model="prototypes", latent=4)  # a knob of the other model
