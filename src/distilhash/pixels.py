"""Pixel preprocessing shared by the image networks (teacher tower and students). Imports torch.

``normalize_pixels``: uint8 ``[n, S, S, 3]`` (or float in [0, 1]) -> float32 ``[n, 3, S, S]``
with ``x' = (x / 255 - mean) / std`` per channel. The arithmetic runs in the input's contiguous
NHWC layout (one conversion copy, two in-place passes) and the result is a permuted NCHW view;
doing it on the permuted view instead cost about half of a small CNN's encoding time.
"""

from __future__ import annotations

import torch

__all__ = ["normalize_pixels"]


def normalize_pixels(pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Normalised NCHW view of NHWC ``pixels``; ``mean``/``std`` hold 3 values (any shape). Input untouched."""
    mean, std = mean.reshape(3), std.reshape(3)
    scale = 1.0 / std
    if pixels.dtype == torch.uint8:
        scale = scale / 255.0
    x = pixels.to(torch.float32, copy=True).mul_(scale).sub_(mean / std)
    return x.permute(0, 3, 1, 2)
