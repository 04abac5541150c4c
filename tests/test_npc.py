"""NPC targets and raw similarity targets."""

from __future__ import annotations

import pytest
import torch

from distilhash.errors import ConfigError
from distilhash.targets.npc import NPCConfig, npc_targets, paired_consistency, standardize
from distilhash.targets.similarity import cosine_targets, label_overlap_targets


def _narrow_band(b: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    R = 0.05 + 0.14 * torch.rand(b, b, generator=g)
    R[torch.arange(b), torch.arange(b)] += 0.02  # matched pairs slightly higher, as in VLP cosines
    return R


@pytest.mark.parametrize("std", ["row-col", "global", "none"])
@pytest.mark.parametrize("scale", ["minmax", "tanh"])
def test_npc_spreads_targets_over_minus_one_one_and_keeps_pairs_dominant(std, scale):
    R = _narrow_band()
    T = npc_targets(R, NPCConfig(standardize=std, scale=scale, tanh_gain=2.0))
    assert T.min() >= -1 and T.max() <= 1
    assert torch.allclose(T, T.T)
    diag = T.diagonal()
    assert torch.all(diag >= T.max(dim=1).values - 1e-6) and torch.all(diag >= T.max(dim=0).values - 1e-6)
    if std != "none":
        assert T.max() - T.min() > 1.0  # spread far beyond the raw 0.14-wide band


def test_minmax_reaches_both_ends():
    T = npc_targets(_narrow_band(), NPCConfig(paired="none"))
    assert float(T.min()) == pytest.approx(-1.0) and float(T.max()) == pytest.approx(1.0)


def test_row_col_standardisation_centres_columns():
    S = standardize(_narrow_band(32, seed=1), "row-col")
    assert torch.allclose(S.mean(0), torch.zeros(32), atol=1e-5)
    assert torch.allclose(S.std(0), torch.ones(32), atol=1e-3)


def test_paired_consistency_options():
    T = torch.tensor([[0.0, 0.5], [-0.5, 0.2]])
    assert torch.equal(paired_consistency(T, "none"), T)
    sym = paired_consistency(T, "sym")
    assert torch.allclose(sym, torch.tensor([[0.0, 0.0], [0.0, 0.2]]))
    with pytest.raises(ConfigError, match="square"):
        paired_consistency(torch.zeros(2, 3))
    with pytest.raises(ConfigError, match="expected"):
        npc_targets(T, NPCConfig(scale="bogus"))  # type: ignore[arg-type]


def test_raw_cosine_and_label_overlap_targets():
    a = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    R = cosine_targets(a, a)
    assert torch.allclose(R.diagonal(), torch.ones(2)) and R[0, 1] == pytest.approx(2**-0.5)
    y = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    S = label_overlap_targets(y, y, "any")
    assert S.tolist() == [[1, 1, -1], [1, 1, -1], [-1, -1, 1]]
    C = label_overlap_targets(y, y, "cosine")
    assert C[0, 1] == pytest.approx(2 * 2**-0.5 - 1) and C[0, 2] == -1
