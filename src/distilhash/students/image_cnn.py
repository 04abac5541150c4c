"""A compact CNN on raw pixels: uint8 ``[n, S, S, 3]`` -> ``[n, channels[-1]]``.

The first stage is either a "patchify" convolution (kernel = stride = ``patch``, default 4: 64 -> 16)
or a conv3x3 with stride 2 (``stem="conv"``); every further stage is conv3x3 (stride 2) +
BatchNorm + ReLU, then global average pooling. With the defaults (patch stem, 32/64/128 channels)
S=64 ends at 4x4 with about 0.1 M parameters and ~2.8 M multiply-adds per image (the teacher's
image tower: ~1.3 M parameters, ~60 M multiply-adds); the LCDH method adds its FC-to-L-bits
layer on top.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from distilhash.errors import ConfigError, DataError
from distilhash.pixels import normalize_pixels
from distilhash.students import IMAGE_STUDENTS

__all__ = ["SmallCNN"]


class SmallCNN(nn.Module):
    """Compact CNN student (see module docstring).

    Args:
        image_size: input side S (pixels are expected at this size).
        channels: output channels of each stage.
        dropout: dropout on the pooled features (training only).
        stem: ``patch`` (first stage: conv with kernel = stride = ``patch``) or ``conv`` (conv3x3, stride 2).
        patch: patch size of the ``patch`` stem.
    """

    #: forward reads pixels only (no cached frozen prefix, see :mod:`.lite0_student`)
    frozen_prefix: ClassVar[bool] = False

    def __init__(self, image_size: int = 64, channels: tuple[int, ...] | list[int] = (32, 64, 128),
                 dropout: float = 0.1, stem: str = "patch", patch: int = 4) -> None:
        super().__init__()
        if stem not in ("patch", "conv"):
            raise ConfigError(f"small-cnn stem {stem!r}; expected 'patch' or 'conv'")
        self.image_size = int(image_size)
        layers: list[nn.Module] = []
        cin = 3
        for k, cout in enumerate(channels):
            conv = (nn.Conv2d(cin, cout, patch, patch, bias=False) if k == 0 and stem == "patch"
                    else nn.Conv2d(cin, cout, 3, 2, 1, bias=False))
            layers += [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = int(cin)
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1), persistent=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 ``[n, S, S, 3]`` (or float in [0, 1]) -> ``[n, out_dim]``."""
        if pixels.ndim != 4 or pixels.shape[-1] != 3:
            raise DataError(f"image student expects pixels [n, {self.image_size}, {self.image_size}, 3], got {tuple(pixels.shape)}")
        return self.dropout(self.body(normalize_pixels(pixels, self.mean, self.std)).mean(dim=(2, 3)))


@IMAGE_STUDENTS.register("small-cnn")
def _small_cnn(image_size: int = 64, channels: list[int] | None = None, dropout: float = 0.1, stem: str = "patch",
               patch: int = 4, **_: object) -> SmallCNN:
    return SmallCNN(image_size, tuple(channels or (32, 64, 128)), dropout, stem, patch)
