"""The offline teacher's image tower: a small CNN mapping pixels to the text tower's space.

Architecture (``ImageTowerConfig`` is data; default 64 px, channels 24-48-96-192, 0.76 M parameters, saved in the teacher's config.json)::

    x  uint8 [n, S, S, 3] -> float, (x/255 - mean) / std
    stem: conv3x3(3 -> c0, stride 2) - BN - ReLU
    stage k (c_{k-1} -> c_k): [conv3x3 stride 2 if k > 0] - BN - ReLU - conv3x3 - BN - ReLU (+ residual)
    global average pool -> dropout -> linear(c_last -> width) -> L2 normalise      [n, width]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["ImageTowerConfig", "ImageTower", "MEAN", "STD"]

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


@dataclass
class ImageTowerConfig:
    """Shape of the image tower.

    Attributes:
        image_size: input side S in pixels (images are resized to S x S).
        channels: channels per stage; each stage after the first halves the resolution.
        width: output width (must equal the text tower's, 384 for MiniLM).
        dropout: dropout before the projection (training only).
    """

    image_size: int = 64
    channels: list[int] = field(default_factory=lambda: [24, 48, 96, 192])
    width: int = 384
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageTowerConfig:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


class _Stage(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (
            nn.Identity() if (cin == cout and stride == 1)
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.skip(x))


class ImageTower(nn.Module):
    """Small residual CNN: uint8 or float images ``[n, S, S, 3]`` -> unit rows ``[n, width]``."""

    def __init__(self, config: ImageTowerConfig | None = None) -> None:
        super().__init__()
        self.config = config or ImageTowerConfig()
        ch = list(self.config.channels)
        self.stem = nn.Sequential(nn.Conv2d(3, ch[0], 3, 2, 1, bias=False), nn.BatchNorm2d(ch[0]), nn.ReLU(inplace=True))
        stages = [_Stage(ch[0], ch[0], 1)]
        stages += [_Stage(ch[k - 1], ch[k], 2) for k in range(1, len(ch))]
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(self.config.dropout)
        self.proj = nn.Linear(ch[-1], self.config.width)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 ``[n, S, S, 3]`` (or float in [0, 1]) -> normalised float ``[n, 3, S, S]``."""
        from distilhash.pixels import normalize_pixels

        return normalize_pixels(pixels, self.mean, self.std)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``[n, 3, S, S]`` -> pooled ``[n, c_last]``."""
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    def forward(self, pixels: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        z = self.proj(self.dropout(self.forward_features(self.preprocess(pixels))))
        return nn.functional.normalize(z, dim=-1) if normalize else z

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
