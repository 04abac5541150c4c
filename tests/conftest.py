"""Shared fixtures: a tiny in-memory dataset, a tiny prepared dataset with features, an isolated DISTILHASH_HOME."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.data import ArrayImageStore, CrossModalDataset


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test writes under its own DISTILHASH_HOME, never the user's."""
    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def make_tiny_dataset(n: int = 60, n_labels: int = 5, size: int = 8, seed: int = 0) -> CrossModalDataset:
    """A random dataset of ``n`` items, every item with at least one label."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n_labels)) < 0.3).astype(np.uint8)
    labels[np.arange(n), rng.integers(0, n_labels, n)] = 1
    names = [f"label{j}" for j in range(n_labels)]
    texts = [" ".join(names[j] for j in np.flatnonzero(row)) for row in labels]
    pixels = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return CrossModalDataset(
        name="tiny",
        ids=[f"item{i:04d}" for i in range(n)],
        texts=texts,
        labels=labels,
        label_names=names,
        images=ArrayImageStore(pixels),
    )


@pytest.fixture
def tiny_dataset() -> CrossModalDataset:
    return make_tiny_dataset()


@pytest.fixture
def tiny_prepared():
    """A prepared dataset 'tiny' (240 items, 6 labels) with a split and a teacher feature cache (width 16)
    from a precomputed file; returns (teacher spec, split)."""
    from distilhash.data import SplitSpec, make_split, save_dataset
    from distilhash.paths import datasets_dir, home
    from distilhash.teachers.cache import extract_features
    from distilhash.training.synthetic import features_for_labels

    ds = make_tiny_dataset(n=240, n_labels=6)
    target = datasets_dir() / "tiny"
    save_dataset(ds, target)
    split = make_split(len(ds), SplitSpec(n_query=40, n_train=160, n_retrieval=None, n_val=40, seed=0), ds.content_hash())
    split.save(target / "split.json")
    arrays = features_for_labels(ds.labels, width=16, seed=0)
    feat_file = home() / "tiny_feats.npz"
    np.savez(feat_file, ids=np.asarray(ds.ids), **arrays)
    teacher = f"features:{feat_file}"
    extract_features("tiny", teacher, progress=False)
    return teacher, split
