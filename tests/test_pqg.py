"""Gumbel product quantizer: shapes, modes, encode/decode, usage statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distilhash.errors import ConfigError
from distilhash.quantizers.pqg import GumbelPQ, PQGConfig, bits_to_codebooks, codeword_usage


def test_bits_to_codebooks():
    assert [bits_to_codebooks(b) for b in (32, 64, 128)] == [4, 8, 16]
    with pytest.raises(ConfigError, match="multiple"):
        bits_to_codebooks(60)


@pytest.mark.parametrize("mode", ["gumbel", "soft", "hard-st"])
@pytest.mark.parametrize("logits", ["l2", "cosine"])
def test_forward_shapes_and_gradients(mode, logits):
    torch.manual_seed(0)
    pq = GumbelPQ(32, PQGConfig(n_codebooks=4, n_codewords=16, logits=logits, mode=mode))
    z = torch.randn(10, 32, requires_grad=True)
    zhat, a = pq(z)
    assert zhat.shape == (10, 32) and a.shape == (10, 4, 16)
    zhat.pow(2).sum().backward()
    assert z.grad is not None and pq.codebooks.grad is not None and pq.codebooks.grad.abs().sum() > 0


def test_hard_st_forward_is_a_codeword():
    torch.manual_seed(0)
    pq = GumbelPQ(8, PQGConfig(n_codebooks=2, n_codewords=4, mode="hard-st"))
    zhat, _ = pq(torch.randn(5, 8))
    cb = pq.codebooks.detach()
    for m in range(2):
        sub = zhat[:, m * 4 : (m + 1) * 4].detach()
        assert torch.cdist(sub, cb[m]).min(dim=1).values.max() < 1e-5


def test_eval_is_noiseless_argmax_and_matches_encode_decode():
    torch.manual_seed(0)
    pq = GumbelPQ(16, PQGConfig(n_codebooks=4, n_codewords=8)).eval()
    z = torch.randn(20, 16)
    codes = pq.encode(z)
    assert codes.dtype == torch.uint8 and codes.shape == (20, 4)
    zhat, _ = pq(z)
    assert torch.equal(zhat, pq.decode(codes))
    # argmax of -||z_m - c||^2 is the nearest codeword
    sub = z.reshape(20, 4, 4)
    nearest = torch.stack([torch.cdist(sub[:, m], pq.codebooks[m].detach()).argmin(1) for m in range(4)], 1)
    assert torch.equal(codes.long(), nearest)
    assert torch.equal(pq(z)[0], zhat)  # deterministic in eval mode


def test_gumbel_noise_only_in_training():
    torch.manual_seed(0)
    pq = GumbelPQ(8, PQGConfig(n_codebooks=2, n_codewords=8, mode="gumbel"))
    z = torch.randn(4, 8)
    pq.train()
    assert not torch.allclose(pq(z)[0], pq(z)[0])
    soft = GumbelPQ(8, PQGConfig(n_codebooks=2, n_codewords=8, mode="soft")).train()
    assert torch.allclose(soft(z)[0], soft(z)[0])


def test_init_from_data_puts_codewords_on_samples():
    pq = GumbelPQ(8, PQGConfig(n_codebooks=2, n_codewords=4))
    z = torch.randn(50, 8)
    pq.init_from(z, torch.Generator().manual_seed(0))
    sub = z.reshape(50, 2, 4)
    for m in range(2):
        assert torch.cdist(pq.codebooks[m].detach(), sub[:, m]).min(1).values.max() < 0.01


def test_codeword_usage_statistics():
    balanced = np.tile(np.arange(256, dtype=np.uint8)[:, None], (4, 2))
    u = codeword_usage(balanced)
    assert u["perplexity"] == pytest.approx([256.0, 256.0]) and u["total_dead"] == 0
    collapsed = np.zeros((100, 3), np.uint8)
    u = codeword_usage(collapsed)
    assert u["perplexity"] == pytest.approx([1.0] * 3) and u["dead"] == [255] * 3
    assert u["perplexity_ratio"] == pytest.approx(1 / 256)


def test_bad_config_is_named():
    with pytest.raises(ConfigError, match="divisible"):
        GumbelPQ(30, PQGConfig(n_codebooks=4))
    with pytest.raises(ConfigError, match="mode"):
        GumbelPQ(32, PQGConfig(n_codebooks=4, mode="nope"))  # type: ignore[arg-type]
