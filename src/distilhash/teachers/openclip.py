"""``openclip:ARCH/PRETRAINED`` — a CLIP model through open_clip.

``PRETRAINED`` is an open_clip pretrained tag (e.g. ``laion2b_s34b_b79k``, looked up in
``cache_dir`` / the Hugging Face cache) or a local checkpoint file. With no ``/PRETRAINED`` the
model is randomly initialised (for tests only). open_clip itself needs ``open-clip-torch`` and
``torchvision``; when it cannot be imported, TeacherLoadError says so.

Preprocessing is done here (shorter side to S, centre crop, normalise with the model's
``preprocess_cfg`` mean/std), so open_clip's torchvision transforms are not used at encode time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.teachers.common import as_text_list, l2_normalize, run_batched, to_uint8_images, torch_device
from distilhash.teachers.hf_clip import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from distilhash.teachers.base import TeacherBase
from distilhash.teachers.registry import TEACHERS, TeacherLoadError

__all__ = ["OpenCLIPTeacher", "import_open_clip"]


def import_open_clip():
    """``import open_clip`` or TeacherLoadError explaining what is missing."""
    try:
        import open_clip
    except Exception as exc:  # noqa: BLE001 - ImportError, or torchvision operator errors at import
        raise TeacherLoadError(
            f"the openclip teacher needs the open_clip library, which cannot be imported here ({type(exc).__name__}: "
            f"{exc}). Install `open-clip-torch` together with a torchvision build matching your torch "
            "(`pip install open-clip-torch torchvision`), or use the transformers backend 'hf:MODEL' or "
            "precomputed 'features:PATH'"
        ) from exc
    return open_clip


@TEACHERS.register("openclip")
class OpenCLIPTeacher(TeacherBase):
    """open_clip CLIP as a frozen teacher.

    Args:
        arch: open_clip architecture name (``open_clip.list_models()``).
        pretrained: pretrained tag or checkpoint path; None = random init.
        device, batch_size: as for every teacher.
        cache_dir: where open_clip looks for / stores weights.
    """

    def __init__(self, arch: str, pretrained: str | None = None, device: str | None = "cpu", batch_size: int = 64,
                 cache_dir: str | None = None, spec: str | None = None) -> None:
        import torch

        open_clip = import_open_clip()
        if arch not in open_clip.list_models():
            raise TeacherLoadError(f"unknown open_clip architecture {arch!r}; known: {', '.join(open_clip.list_models()[:20])} ...")
        self.device = torch_device(device)
        try:
            model = open_clip.create_model(arch, pretrained=pretrained, cache_dir=cache_dir, device=self.device)
        except Exception as exc:  # noqa: BLE001 - download / file errors of many kinds
            tags = [t for a, t in open_clip.list_pretrained() if a == arch]
            kind = "checkpoint file" if pretrained and Path(pretrained).suffix else "pretrained tag"
            raise TeacherLoadError(
                f"cannot load open_clip {arch!r} with {kind} {pretrained!r} (looked in cache_dir={cache_dir or 'default'} "
                f"and the Hugging Face cache; offline runs cannot download): {exc}. Known tags for {arch}: "
                f"{', '.join(tags) or 'none'}. Provide the weights by downloading them once on a machine with network "
                "(open_clip.create_model(arch, pretrained=tag)) and copying the cache, or pass a local checkpoint as "
                f"'openclip:{arch}//path/to/open_clip_pytorch_model.bin'"
            ) from exc
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tokenizer = open_clip.get_tokenizer(arch)
        visual = self.model.visual
        cfg = getattr(visual, "preprocess_cfg", {}) or {}
        self.mean = tuple(cfg.get("mean", getattr(visual, "image_mean", None) or OPENAI_CLIP_MEAN))
        self.std = tuple(cfg.get("std", getattr(visual, "image_std", None) or OPENAI_CLIP_STD))
        size = cfg.get("size", getattr(visual, "image_size", 224))
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        with torch.no_grad():
            probe = self.model.encode_text(self.tokenizer(["probe"]).to(self.device))
        self.width = int(probe.shape[-1])
        self.batch_size = batch_size
        self.name = spec or f"openclip:{arch}/{pretrained}"
        self._torch = torch

    @classmethod
    def from_spec(cls, arg: str | None, **options: Any) -> OpenCLIPTeacher:
        if not arg:
            from distilhash.errors import ConfigError

            raise ConfigError("the openclip teacher needs 'openclip:ARCH/PRETRAINED', e.g. 'openclip:ViT-B-32/laion2b_s34b_b79k'")
        arch, _, pretrained = arg.partition("/")
        return cls(arch, pretrained or None, spec=f"openclip:{arg}", **options)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "width": self.width, "image_size": self.image_size}

    def _images_batch(self, pixels: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        with torch.no_grad():
            return self.model.encode_image((x - mean) / std).float().cpu().numpy()

    def _texts_batch(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            return self.model.encode_text(self.tokenizer(texts).to(self.device)).float().cpu().numpy()

    def encode_images(self, images, batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        bs = batch_size or self.batch_size
        pixels = images if isinstance(images, np.ndarray) else to_uint8_images(images, self.image_size)
        fn = lambda s: self._images_batch(to_uint8_images(pixels[s], self.image_size))  # noqa: E731
        return l2_normalize(run_batched(len(pixels), bs, fn, self.width, progress, "images"))

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        texts = as_text_list(texts)
        bs = batch_size or 4 * self.batch_size
        return l2_normalize(run_batched(len(texts), bs, lambda s: self._texts_batch(texts[s]), self.width, progress, "texts"))

