"""DCMQ's codebook pool: unlabelled image features of another domain that the codebooks also cover."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distilhash.errors import ConfigError, FeatureError
from distilhash.methods.base import create_method, load_method
from distilhash.training.synthetic import synthetic_features

WIDTH = 24
FAST = dict(n_bits=32, n_codewords=16, epochs=3, eval_every=1, patience=0, warmup_epochs=1, hidden_dim=32, batch_size=64,
            progress=False, lr=3e-3, image_head="residual", text_head="residual", embed_dim=WIDTH)


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic_features(n=500, n_labels=8, width=WIDTH, n_query=80, n_train=360, n_val=60)


def _other_domain(n: int, seed: int) -> np.ndarray:
    """Unit vectors of a domain the fit items do not cover: a fixed offset direction plus noise."""
    rng = np.random.default_rng(seed)
    offset = np.random.default_rng(99).standard_normal(WIDTH)
    x = 2.0 * offset / np.linalg.norm(offset) + 0.6 * rng.standard_normal((n, WIDTH))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _recon_error(m, x: np.ndarray) -> float:
    """Relative reconstruction error |z - q|^2 / |z|^2 of the image codes of ``x``."""
    z = m.encode("image", x, "query").data
    codes = m.encode("image", x, "database")
    q = np.concatenate([codes.codebooks[k][codes.data[:, k]] for k in range(codes.data.shape[1])], axis=1)
    return float(((z - q) ** 2).sum(1).mean() / (z ** 2).sum(1).mean())


def test_pool_lowers_the_reconstruction_error_of_an_unseen_domain(data, tmp_path):
    fs, split = data
    pool = tmp_path / "pool.npy"
    np.save(pool, _other_domain(300, seed=1))
    unseen = _other_domain(200, seed=2)  # same domain as the pool, other items
    plain = create_method("dcmq", **FAST).fit(fs, split)
    pooled = create_method("dcmq", codebook_pool=str(pool), **FAST).fit(fs, split)
    assert _recon_error(pooled, unseen) < 0.8 * _recon_error(plain, unseen)
    # the pool term is trained and recorded; the fit items keep being coded
    assert any("quant_pool" in h for h in pooled.fit_info_["history"] if isinstance(h, dict))
    assert pooled.encode("image", fs.image[split.retrieval], "database").data.shape == (len(split.retrieval), 8)
    pooled.save(tmp_path / "run")
    back = load_method(tmp_path / "run")
    assert back.config.codebook_pool == str(pool)
    assert np.array_equal(back.encode("image", unseen, "database").data, pooled.encode("image", unseen, "database").data)


def test_bad_pools_are_refused_by_name(data, tmp_path):
    fs, split = data
    with pytest.raises(FeatureError, match="codebook_pool=.*no such file"):
        create_method("dcmq", codebook_pool=str(tmp_path / "missing.npy"), **FAST).fit(fs, split)
    np.save(tmp_path / "narrow.npy", np.ones((10, WIDTH - 1), np.float32))
    with pytest.raises(FeatureError, match=r"expected \[P >= 2, 24\]"):
        create_method("dcmq", codebook_pool=str(tmp_path / "narrow.npy"), **FAST).fit(fs, split)
    with pytest.raises(ConfigError, match="codebook_pool: needs the quantizer"):
        create_method("float-student", codebook_pool=str(tmp_path / "narrow.npy"))
    with pytest.raises(ConfigError, match="pool_weight must be >= 0"):
        create_method("dcmq", pool_weight=-1.0)
