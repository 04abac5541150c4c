"""The one pairwise logistic likelihood gives the numbers of the three formulas it replaced."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from distilhash.errors import ConfigError
from distilhash.losses.lcdh_stream import LCDHStreamLoss
from distilhash.losses.lcdh_teacher import LCDHTeacherLoss
from distilhash.losses.pairwise_likelihood import pairwise_logistic_nll
from distilhash.losses.soda_student import SodaStudentLoss
from distilhash.losses.soda_teacher import SodaTeacherLoss
from distilhash.methods.dcmh import dcmh_loss


# The formulas as each method wrote them before they shared one function.
def old_lcdh(f, g, s, lam):
    theta = (lam / f.shape[1]) * (f @ g.T)
    return (F.softplus(theta) - s * theta).mean()


def old_soda(a, b, s, theta_scale, weighting):
    theta = theta_scale * (a @ b.T) / a.shape[1]
    nll = F.softplus(theta) - s * theta
    if weighting == "none":
        return nll.mean()
    n_pos = s.sum().clamp_min(1.0)
    n_neg = (1.0 - s).sum().clamp_min(1.0)
    return 0.5 * (nll * s).sum() / n_pos + 0.5 * (nll * (1.0 - s)).sum() / n_neg


def old_dcmh(out, other, s):
    theta = 0.5 * out @ other.T
    return (F.softplus(theta) - s * theta).mean()


def _inputs(seed: int, n: int, m: int, bits: int):
    gen = torch.Generator().manual_seed(seed)
    a = torch.tanh(torch.randn(n, bits, generator=gen, dtype=torch.float32) * 2)
    b = torch.tanh(torch.randn(m, bits, generator=gen, dtype=torch.float32) * 2)
    s = (torch.rand(n, m, generator=gen) < 0.3).float()
    return a, b, s


@pytest.mark.parametrize("bits", [16, 32, 64, 128])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_the_old_formulas_bit_for_bit_at_power_of_two_code_lengths(bits, seed):
    a, b, s = _inputs(seed, 37, 23, bits)
    assert torch.equal(pairwise_logistic_nll(a, b, s, 8.0 / bits), old_lcdh(a, b, s, 8.0))
    for w in ("none", "balanced"):
        assert torch.equal(pairwise_logistic_nll(a, b, s, 5.0 / bits, w), old_soda(a, b, s, 5.0, w))
    assert torch.equal(pairwise_logistic_nll(a, b, s, 0.5), old_dcmh(a, b, s))


@pytest.mark.parametrize("bits", [12, 24, 48])
def test_matches_the_old_formulas_at_other_code_lengths(bits):
    a, b, s = _inputs(7, 19, 31, bits)
    for w in ("none", "balanced"):
        torch.testing.assert_close(pairwise_logistic_nll(a, b, s, 3.0 / bits, w), old_soda(a, b, s, 3.0, w),
                                   rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(pairwise_logistic_nll(a, b, s, 2.0 / bits), old_lcdh(a, b, s, 2.0), rtol=1e-6, atol=1e-7)


def test_the_losses_use_it_with_their_scales():
    a, b, s = _inputs(3, 16, 16, 32)
    sq = (s + s.T).clamp(max=1.0)
    assert torch.equal(LCDHTeacherLoss(lam=6.0)(a, sq)["likelihood"], old_lcdh(a, a, sq, 6.0))
    assert torch.equal(LCDHStreamLoss(lam=4.0)(a, b, s)["cross"], old_lcdh(a, b, s, 4.0))
    teacher = SodaTeacherLoss(theta_scale=8.0, weighting="balanced", cross_weight=1.0)(a, b, s)
    assert torch.equal(teacher["lik_cross"], old_soda(a, b, s, 8.0, "balanced"))
    student = SodaStudentLoss(theta_scale=8.0, lik_weight=1.0)(a, torch.sign(b), s)
    assert torch.equal(student["lik"], old_soda(a, torch.sign(b), s, 8.0, "none"))
    codes = torch.sign(a)
    dcmh = dcmh_loss(a, b, s, codes, a.sum(0), 16, 1.0, 1.0)
    assert torch.equal(dcmh["nll"], old_dcmh(a, b, s))


def test_gradients_match_the_old_formula():
    a, b, s = _inputs(5, 11, 13, 64)
    a1 = a.clone().requires_grad_(True)
    a2 = a.clone().requires_grad_(True)
    pairwise_logistic_nll(a1, b, s, 8.0 / 64, "balanced").backward()
    old_soda(a2, b, s, 8.0, "balanced").backward()
    assert torch.equal(a1.grad, a2.grad)


def test_unknown_weighting_is_a_config_error():
    a, b, s = _inputs(0, 4, 4, 16)
    with pytest.raises(ConfigError, match="pair weighting 'median'"):
        pairwise_logistic_nll(a, b, s, 0.5, "median")
