"""NPC — Normalization with Paired Consistency (DCMQ's target construction, reconstructed).

Raw VLP cosines between images and label texts sit in a narrow band (about 0.05-0.19 in the
DCMQ paper's figure), useless as regression targets. NPC turns a batch matrix ``R [B, B]``
(row i = image i, column j = label text of item j; the diagonal holds the matched pairs) into
targets ``T`` spread over ``[-1, 1]`` in three steps, each a config option:

1. standardise (``standardize``):
   ``"row-col"`` (default): ``R <- (R - mean_row) / std_row`` then ``R <- (R - mean_col) / std_col``;
   ``"global"``: ``R <- (R - mean(R)) / std(R)``; ``"none"``.
2. scale to ``[-1, 1]`` (``scale``):
   ``"minmax"`` (default): ``T = 2 (R - min R) / (max R - min R) - 1`` over the whole matrix;
   ``"tanh"``: ``T = tanh(gain * R)``.
3. paired consistency (``paired``):
   ``"sym-max"`` (default): symmetrise ``T <- (T + T^T) / 2`` (image->text and text->image targets
   agree), then set each matched pair to the maximum of its row and its column,
   ``T_ii <- max(max_j T_ij, max_j T_ji)`` (the matched pair stays dominant);
   ``"sym"``: symmetrise only; ``"none"``.

Example:
    >>> import torch
    >>> from distilhash.targets.npc import NPCConfig, npc_targets
    >>> R = 0.05 + 0.14 * torch.rand(64, 64)
    >>> T = npc_targets(R, NPCConfig())
    >>> bool(T.min() >= -1 and T.max() <= 1 and torch.allclose(T, T.T))
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from distilhash.errors import ConfigError

__all__ = ["NPCConfig", "npc_targets", "standardize", "scale", "paired_consistency"]

Standardize = Literal["row-col", "global", "none"]
Scale = Literal["minmax", "tanh"]
Paired = Literal["sym-max", "sym", "none"]

_EPS = 1e-6


@dataclass(frozen=True)
class NPCConfig:
    """Options of the three NPC steps (defaults: the reconstruction described in docs/dcmq.md)."""

    standardize: Standardize = "row-col"
    scale: Scale = "minmax"
    tanh_gain: float = 1.0
    paired: Paired = "sym-max"


def standardize(R, mode: Standardize = "row-col"):
    """Standardise ``R [B, B']`` per row then per column (``"row-col"``), globally, or not at all."""
    if mode == "row-col":
        R = (R - R.mean(dim=1, keepdim=True)) / (R.std(dim=1, keepdim=True) + _EPS)
        return (R - R.mean(dim=0, keepdim=True)) / (R.std(dim=0, keepdim=True) + _EPS)
    if mode == "global":
        return (R - R.mean()) / (R.std() + _EPS)
    if mode == "none":
        return R
    raise ConfigError(f"NPC standardize {mode!r}; expected 'row-col', 'global' or 'none'")


def scale(R, mode: Scale = "minmax", gain: float = 1.0):
    """Map ``R`` into ``[-1, 1]``: global min-max, or ``tanh(gain * R)``."""
    import torch

    if mode == "minmax":
        lo, hi = R.min(), R.max()
        return 2.0 * (R - lo) / torch.clamp(hi - lo, min=_EPS) - 1.0
    if mode == "tanh":
        return torch.tanh(gain * R)
    raise ConfigError(f"NPC scale {mode!r}; expected 'minmax' or 'tanh'")


def paired_consistency(T, mode: Paired = "sym-max"):
    """Make targets of the matched pairs (the diagonal of a square ``T``) consistent and dominant."""
    import torch

    if mode == "none":
        return T
    if mode not in ("sym", "sym-max"):
        raise ConfigError(f"NPC paired {mode!r}; expected 'sym-max', 'sym' or 'none'")
    if T.shape[0] != T.shape[1]:
        raise ConfigError(f"NPC paired consistency needs a square batch matrix of matched pairs, got {tuple(T.shape)}")
    T = 0.5 * (T + T.T)
    if mode == "sym-max":
        top = torch.maximum(T.max(dim=1).values, T.max(dim=0).values)
        T = T.clone()
        T[torch.arange(T.shape[0]), torch.arange(T.shape[0])] = top
    return T


def npc_targets(R, config: NPCConfig = NPCConfig()):
    """NPC targets ``T [B, B]`` in ``[-1, 1]`` from raw batch cosines ``R [B, B]`` (diagonal = matched pairs)."""
    T = standardize(R.float(), config.standardize)
    T = scale(T, config.scale, config.tanh_gain)
    return paired_consistency(T, config.paired)
