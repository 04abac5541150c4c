"""``hf:MODEL_OR_PATH`` — a CLIP model through transformers (``CLIPModel``).

``MODEL_OR_PATH`` is a local directory (``config.json``, weights, tokenizer files, optionally
``preprocessor_config.json``) or a hub model id looked up in the user's Hugging Face cache.
Downloads happen only when allowed: ``local_files_only`` defaults to True when
``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set. Missing weights give a TeacherLoadError
saying where we looked and how to provide them.

Encoding (as CLIP defines it)::

    image: resize shorter side to S, centre crop S x S, (x/255 - mean) / std -> vision tower
           -> visual projection -> L2 normalise                                   [n, D]
    text:  tokenizer (pad, truncate to the model's context) -> text tower (EOS token)
           -> text projection -> L2 normalise                                     [n, D]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.teachers.common import (as_text_list, l2_normalize, quiet_model_loading, run_batched, to_uint8_images,
                                        torch_device)
from distilhash.teachers.base import TeacherBase
from distilhash.teachers.registry import TEACHERS, TeacherLoadError

__all__ = ["HFCLIPTeacher", "OPENAI_CLIP_MEAN", "OPENAI_CLIP_STD"]

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _preprocessor_config(source: str, local_files_only: bool, cache_dir: str | None) -> dict[str, Any]:
    p = Path(source)
    if p.is_dir():
        f = p / "preprocessor_config.json"
        return json.loads(f.read_text()) if f.is_file() else {}
    try:
        from transformers.utils import cached_file

        f = cached_file(source, "preprocessor_config.json", local_files_only=local_files_only, cache_dir=cache_dir,
                        _raise_exceptions_for_missing_entries=False)
        return json.loads(Path(f).read_text()) if f else {}
    except Exception:  # noqa: BLE001 - the processor config is optional; defaults follow
        return {}


@TEACHERS.register("hf")
class HFCLIPTeacher(TeacherBase):
    """transformers CLIP as a frozen teacher.

    Args:
        source: local directory or hub model id.
        device: torch device (None = cuda if available).
        batch_size: default batch size.
        local_files_only: never download (default: True when HF_HUB_OFFLINE is set).
        cache_dir: Hugging Face cache directory (default: the user's).
    """

    def __init__(self, source: str, device: str | None = "cpu", batch_size: int = 64,
                 local_files_only: bool | None = None, cache_dir: str | None = None, spec: str | None = None) -> None:
        import torch
        from transformers import AutoTokenizer, CLIPModel

        self.source = source
        local = Path(source).is_dir()
        lfo = True if local else (_offline() if local_files_only is None else local_files_only)
        try:
            with quiet_model_loading():
                model = CLIPModel.from_pretrained(source, local_files_only=lfo, cache_dir=cache_dir)
                self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=lfo, cache_dir=cache_dir)
        except (OSError, ValueError) as exc:
            where = (f"the directory {source}" if local else
                     f"the Hugging Face cache ({cache_dir or os.environ.get('HF_HUB_CACHE') or os.environ.get('HF_HOME') or '~/.cache/huggingface'})"
                     + (" (downloads disabled: HF_HUB_OFFLINE/local_files_only)" if lfo else ""))
            raise TeacherLoadError(
                f"cannot load the CLIP model {source!r} from {where}: {exc}. It needs config.json, the weights "
                "(model.safetensors or pytorch_model.bin) and the tokenizer files. Provide them by running, on a "
                f"machine with network, `huggingface-cli download {source}` and copying the cache, or save "
                "`CLIPModel.from_pretrained(...).save_pretrained(DIR)` plus the tokenizer to DIR and use 'hf:DIR'"
            ) from exc
        self.device = torch_device(device)
        self.model = model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.batch_size = batch_size
        self.width = int(self.model.config.projection_dim)
        pre = _preprocessor_config(source, lfo, cache_dir)
        size = pre.get("crop_size") or pre.get("size") or self.model.config.vision_config.image_size
        if isinstance(size, dict):
            size = size.get("height") or size.get("shortest_edge") or self.model.config.vision_config.image_size
        self.image_size = int(size)
        self.mean = tuple(pre.get("image_mean", OPENAI_CLIP_MEAN))
        self.std = tuple(pre.get("image_std", OPENAI_CLIP_STD))
        self.context_length = int(self.model.config.text_config.max_position_embeddings)
        self.name = spec or f"hf:{source}"
        self._torch = torch

    @classmethod
    def from_spec(cls, arg: str | None, **options: Any) -> HFCLIPTeacher:
        if not arg:
            from distilhash.errors import ConfigError

            raise ConfigError("the hf teacher needs a model id or directory: 'hf:openai/clip-vit-base-patch32' or 'hf:DIR'")
        return cls(arg, spec=f"hf:{arg}", **options)

    @property
    def fingerprint(self) -> str:  # type: ignore[override]
        """Hash of the model's weights (16 hex)."""
        import hashlib

        h = hashlib.sha256()
        for k, v in sorted(self.model.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    @staticmethod
    def _tensor(out):
        return out if hasattr(out, "shape") else out.pooler_output  # transformers 4 returns a tensor, 5 an output

    def _images_batch(self, pixels: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        with torch.no_grad():
            z = self._tensor(self.model.get_image_features(pixel_values=(x - mean) / std))
        return z.float().cpu().numpy()

    def _texts_batch(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=self.context_length, return_tensors="pt")
        tok = {k: v.to(self.device) for k, v in tok.items() if k in ("input_ids", "attention_mask")}
        with torch.no_grad():
            z = self._tensor(self.model.get_text_features(**tok))
        return z.float().cpu().numpy()

    def encode_images(self, images, batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """uint8 ``[n, H, W, 3]`` or PIL images -> float32 ``[n, D]`` unit rows."""
        bs = batch_size or self.batch_size
        if isinstance(images, np.ndarray):
            fn = lambda s: self._images_batch(to_uint8_images(images[s], self.image_size))  # noqa: E731
            return l2_normalize(run_batched(len(images), bs, fn, self.width, progress, "images"))
        pixels = to_uint8_images(images, self.image_size)
        return l2_normalize(run_batched(len(pixels), bs, lambda s: self._images_batch(pixels[s]), self.width, progress, "images"))

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """Strings -> float32 ``[n, D]`` unit rows."""
        texts = as_text_list(texts)
        bs = batch_size or 4 * self.batch_size
        return l2_normalize(run_batched(len(texts), bs, lambda s: self._texts_batch(texts[s]), self.width, progress, "texts"))

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "width": self.width, "image_size": self.image_size,
                "context_length": self.context_length}

