"""The label-supervised linear readout (benchmark/label_readout.py) used as the label oracle of the teacher benchmarks."""

from __future__ import annotations

import numpy as np

from distilhash.benchmark.label_readout import label_readout


def test_the_readout_learns_labels_from_the_fit_rows_and_scores_every_row():
    rng = np.random.default_rng(0)
    n, c, d = 300, 4, 16
    labels = (rng.random((n, c)) < 0.3).astype(np.uint8)
    centres = rng.normal(size=(c, d)).astype(np.float32)
    features = (labels @ centres + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    fit = np.arange(200)
    p = label_readout(features, labels, fit, steps=200)
    assert p.shape == (n, c) and np.all((p >= 0) & (p <= 1))
    held_out = np.arange(200, n)
    accuracy = ((p[held_out] > 0.5) == labels[held_out].astype(bool)).mean()
    assert accuracy > 0.9


def test_the_readout_uses_only_the_fit_rows():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(100, 8)).astype(np.float32)
    labels = (rng.random((100, 3)) < 0.5).astype(np.uint8)
    a = label_readout(features, labels, np.arange(50), steps=50)
    scrambled = labels.copy()
    scrambled[50:] = 1 - scrambled[50:]  # labels outside the fit rows must not matter
    b = label_readout(features, scrambled, np.arange(50), steps=50)
    assert np.allclose(a, b)
