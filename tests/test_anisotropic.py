"""Score-aware (anisotropic) quantization: the parallel residual shrinks, the default is untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distilhash.errors import ConfigError
from distilhash.losses.quantization import quantization_loss
from distilhash.methods.base import create_method, load_method
from distilhash.quantizers import anisotropic as aniso
from distilhash.quantizers.pqg import GumbelPQ, PQGConfig
from distilhash.training.synthetic import synthetic_features

WIDTH = 24
FAST = dict(n_bits=32, n_codewords=16, epochs=3, eval_every=1, patience=0, warmup_epochs=1, hidden_dim=32, batch_size=64,
            progress=False, lr=3e-3, image_head="residual", text_head="residual", embed_dim=WIDTH)


def _toy(n: int = 600, d: int = 16, seed: int = 0) -> torch.Tensor:
    """Unit vectors around a few directions: clustered, but not exactly quantizable with 4 x 8 codewords."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(6, d, generator=g)
    x = centres[torch.randint(0, 6, (n,), generator=g)] + 0.7 * torch.randn(n, d, generator=g)
    return torch.nn.functional.normalize(x, dim=1)


def _kmeans_pq(x: torch.Tensor, eta: float = 1.0) -> GumbelPQ:
    pq = GumbelPQ(x.shape[1], PQGConfig(n_codebooks=4, n_codewords=8, parallel_weight=eta)).eval().requires_grad_(False)
    pq.init_kmeans(x, n_iter=10, generator=torch.Generator().manual_seed(0))
    return pq


def test_loss_is_eta_parallel_plus_orthogonal_and_plain_at_eta_one():
    x, q = _toy(50), _toy(50, seed=1) * 0.8
    r = x - q
    r_par = (r * x).sum(1, keepdim=True) * x  # |x| = 1
    r_perp = r - r_par
    expected = 5.0 * (r_par ** 2).sum(1) + (r_perp ** 2).sum(1)
    assert torch.allclose(aniso.anisotropic_loss(x, q, 5.0), expected, atol=1e-5)
    plain = quantization_loss(x, x, q, q)
    assert torch.equal(quantization_loss(x, x, q, q, 1.0)["image"], plain["image"])  # bit-identical default
    assert torch.equal(plain["image"], (r ** 2).sum(1).mean())
    assert quantization_loss(x, x, q, q, 5.0)["text"] > plain["text"]
    par, perp = aniso.parallel_split(x, q)
    assert torch.isclose(par + perp, (r ** 2).sum(1).mean())


def test_codes_never_raise_the_loss_and_trade_parallel_for_orthogonal_error():
    x = _toy()
    pq = _kmeans_pq(x)
    cb = pq.codebooks.detach()
    iso = pq.decode(pq.encode(x))
    codes = aniso.anisotropic_codes(x, cb, 10.0)
    q = pq.decode(codes)
    assert (aniso.anisotropic_loss(x, q, 10.0) <= aniso.anisotropic_loss(x, iso, 10.0) + 1e-6).all()
    par_i, perp_i = aniso.parallel_split(x, iso)
    par_a, perp_a = aniso.parallel_split(x, q)
    assert par_a < 0.9 * par_i and perp_a > perp_i
    assert torch.equal(aniso.anisotropic_codes(x, cb, 1.0), pq.encode(x).long())  # eta = 1: the nearest codewords


def test_update_is_the_mean_at_eta_one_and_lowers_the_loss_above():
    x = _toy()
    pq = _kmeans_pq(x)
    cb, codes = pq.codebooks.detach(), pq.encode(x).long()
    mean = aniso.anisotropic_update(x, codes, cb, 1.0)
    sub = x.reshape(len(x), 4, -1)
    k = int(codes[0, 2])
    assert torch.allclose(mean[2, k], sub[codes[:, 2] == k, 2].mean(0), atol=1e-5)
    moved = aniso.anisotropic_update(x, codes, cb, 10.0)
    before = aniso.anisotropic_loss(x, pq.decode(codes), 10.0).sum()
    pq.codebooks.data.copy_(moved)
    assert aniso.anisotropic_loss(x, pq.decode(codes), 10.0).sum() < before


def test_anisotropic_pqg_codes_keep_inner_products_of_near_queries_better():
    x = _toy(800)
    iso, an = _kmeans_pq(x), _kmeans_pq(x, 10.0)
    q_iso, q_an = iso.decode(iso.encode(x)), an.decode(an.encode(x))
    assert aniso.parallel_split(x, q_an)[0] < 0.5 * aniso.parallel_split(x, q_iso)[0]
    assert torch.equal(an(x)[0], q_an)  # eval forward decodes the same codes
    # queries leaning towards their item (cosine ~0.5): the score error <t, x - q> is smaller
    t = torch.nn.functional.normalize(x + 0.45 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3)), dim=1)
    err = lambda q: float(((t * (x - q)).sum(1) ** 2).mean())  # noqa: E731
    assert err(q_an) < err(q_iso)
    with pytest.raises(ConfigError, match="parallel_weight must be >= 1"):
        GumbelPQ(16, PQGConfig(4, 8, parallel_weight=0.5))


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    return synthetic_features(n=500, n_labels=8, width=WIDTH, n_query=80, n_train=360, n_val=60)


def _split_of(m, x: np.ndarray) -> tuple[float, float]:
    z = m.encode("image", x, "query").data
    codes = m.encode("image", x, "database")
    q = np.concatenate([codes.codebooks[k][codes.data[:, k]] for k in range(codes.data.shape[1])], axis=1)
    return tuple(float(v) for v in aniso.parallel_split(z, q))


def test_dcmq_default_never_runs_the_anisotropic_code(data, monkeypatch):
    fs, split = data
    ref = create_method("dcmq", **FAST).fit(fs, split)
    for name in ("anisotropic_loss", "anisotropic_codes", "anisotropic_kmeans"):
        monkeypatch.setattr(aniso, name, lambda *a, **k: pytest.fail("the default touched anisotropic code"))
    same = create_method("dcmq", quant_parallel_weight=1.0, **FAST).fit(fs, split)
    x = fs.image[split.retrieval]
    assert np.array_equal(ref.encode("image", x, "database").data, same.encode("image", x, "database").data)
    assert np.array_equal(ref.codebooks(), same.codebooks())


def test_dcmq_option_shifts_the_error_split_and_survives_save(data, tmp_path):
    fs, split = data
    x = fs.image[split.retrieval]
    plain = create_method("dcmq", **FAST).fit(fs, split)
    sa = create_method("dcmq", quant_parallel_weight=8.0, **FAST).fit(fs, split)
    (par_p, perp_p), (par_a, perp_a) = _split_of(plain, x), _split_of(sa, x)
    assert par_a < 0.5 * par_p and perp_a > perp_p
    assert any("quant_image" in h for h in sa.fit_info_["history"] if isinstance(h, dict))
    sa.save(tmp_path / "run")
    back = load_method(tmp_path / "run")
    assert back.config.quant_parallel_weight == 8.0
    assert np.array_equal(back.encode("image", x, "database").data, sa.encode("image", x, "database").data)
    with pytest.raises(ConfigError, match="quant_parallel_weight must be >= 1"):
        create_method("dcmq", quant_parallel_weight=0.5)
