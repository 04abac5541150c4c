"""``lite0-tuned``: Lite0 with its last stage(s) fine-tuned, the heads, and the ImageNet class prior.

The teacher of :mod:`.lite0_prior` with the image tower's upper part trained too. For an image::

    h        = Lite0 stem .. stage 4 (frozen)                       [n, 112, S/16, S/16]
    u_tuned  = tuned stages K..6 + head conv, average pooled        [n, 1280]
    u_frozen = the frozen stages K..6 + head conv, average pooled   [n, 1280]   (what ImageNet trained)
    z        = normalize((1 - w) normalize(heads.image(u_tuned)) + w prior(u_frozen))

``prior`` is :func:`~.lite0_prior.prior_mix`'s ImageNet class prior: Lite0's own classifier reads the
*frozen* features (the classifier was trained on them), so fine-tuning cannot erase the words it
knows. Texts: MiniLM (frozen) then the text head. K (``from_stage``, 5 or 6), the epoch, and the
prior's ``w``, ``T`` and template are chosen on ``split.val`` (:mod:`.lite0_tune_fit`).

Directory (``$DISTILHASH_HOME/teachers/lite0-tuned-NAME``): ``tail.safetensors`` (the tuned stages and
head conv), ``heads.safetensors``, ``config.json`` (kind, from_stage, image size, heads, prior, fit record).
Spec ``lite0-tuned:NAME`` or ``lite0-tuned:PATH``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.io_utils import sha256_file
from distilhash.teachers.base import TeacherBase, TeacherCapabilities
from distilhash.teachers.common import l2_normalize, run_batched, to_uint8_images
from distilhash.teachers.registry import TEACHERS, TeacherLoadError

__all__ = ["KIND", "TAIL_FILE", "FRONT_STAGE", "Lite0Tail", "Lite0TunedTeacher", "tuned_dir"]

KIND = "lite0-tuned"
TAIL_FILE = "tail.safetensors"
CONFIG_FILE = "config.json"
#: the last frozen stage: its feature map is what the fit caches and the tail reads
FRONT_STAGE = 4


def tuned_dir(name: str) -> Path:
    """``$DISTILHASH_HOME/teachers/lite0-tuned-NAME`` for a name, the path itself for a path."""
    from distilhash.paths import teachers_dir

    p = Path(name)
    return p if ("/" in name or p.is_absolute()) else teachers_dir() / f"{KIND}-{name}"


def _tail_module(backbone, from_stage: int):
    """A copy of ``backbone``'s stages ``from_stage``..6 and head conv as a module: map after stage ``from_stage - 1`` -> pooled."""
    from torch import nn

    if from_stage not in (5, 6):
        raise TeacherLoadError(f"from_stage={from_stage}: the tuned tail starts at stage 5 or 6")

    class Tail(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            first = backbone._starts[from_stage]
            self.first = first
            n_blocks = len(backbone.net._blocks)
            self.blocks = nn.ModuleList(copy.deepcopy(backbone.net._blocks[i]) for i in range(first, n_blocks))
            self.conv_head = copy.deepcopy(backbone.net._conv_head)
            self.bn1 = copy.deepcopy(backbone.net._bn1)
            self.act = copy.deepcopy(backbone.net._swish)

        def forward(self, h):
            for b in self.blocks:
                h = b(h, drop_connect_rate=None)
            return self.act(self.bn1(self.conv_head(h))).mean(dim=(2, 3))

    return Tail()


class Lite0Tail:
    """The tuned upper part of Lite0 beside the frozen one, both reading the frozen map after stage 4.

    ``pooled(h)`` -> ``(u_tuned, u_frozen)`` float32 ``[n, 1280]`` each, for ``h [n, 112, S/16, S/16]``.
    The tuned copy is a ``torch.nn.Module`` (``.module``) in eval mode: batch-norm statistics stay the
    ImageNet ones, only weights move during the fit.
    """

    def __init__(self, backbone, from_stage: int) -> None:
        self.backbone = backbone
        self.from_stage = from_stage
        self.module = _tail_module(backbone, from_stage).eval()

    def to_tail_input(self, h):
        """Map after stage 4 -> map after stage ``from_stage - 1`` (the frozen stages between; a no-op for K = 5)."""
        return self.backbone._blocks(h, self.backbone._starts[FRONT_STAGE + 1], self.backbone._starts[self.from_stage])

    def pooled(self, h) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.no_grad():
            x = self.to_tail_input(h)  # the frozen stages before the tuned ones run once for both outputs
            u_frozen = self.backbone.forward_from(x, self.from_stage - 1)
            u_tuned = self.module(x)
        return u_tuned.float().numpy(), u_frozen.float().numpy()


@TEACHERS.register(KIND)
class Lite0TunedTeacher(TeacherBase):
    """Lite0 (front frozen, last stage(s) tuned) + heads + ImageNet prior; MiniLM + text head for texts.

    ``encode_images`` / ``encode_texts`` -> float32 ``[n, 384]`` unit rows; ``embed_maps(h)`` embeds
    cached stage-4 maps ``[n, 112, S/16, S/16]`` (what the fit and the benchmarks cache).
    """

    capabilities = TeacherCapabilities()

    def __init__(self, path: str | Path, spec: str | None = None, device: str | None = "cpu", batch_size: int = 16,
                 text_cache_dir: str | Path | None | bool = True) -> None:
        import torch
        from safetensors.torch import load_file

        from distilhash.teachers.efficientnet_lite0 import Lite0Backbone
        from distilhash.teachers.lite0_minilm import HEADS_FILE, HeadConfig, build_heads
        from distilhash.teachers.minilm_text import MiniLMTextEncoder, resolve_cache_dir

        self.directory = tuned_dir(str(path))
        cfg_path = self.directory / CONFIG_FILE
        if not cfg_path.is_file():
            raise TeacherLoadError(f"no fitted tuned teacher at {cfg_path}: run `distilhash teacher fit --kind {KIND} "
                                   f"--dataset DATASET --set base=lite0-minilm:NAME --out {self.directory}`")
        self.config = json.loads(cfg_path.read_text())
        if self.config.get("kind") != KIND:
            raise TeacherLoadError(f"{cfg_path} is not a {KIND} config (kind={self.config.get('kind')!r})")
        self._torch = torch
        self.batch_size = batch_size
        self.backbone = Lite0Backbone().frozen()
        self.tail = Lite0Tail(self.backbone, int(self.config["from_stage"]))
        self.heads = build_heads(HeadConfig.from_dict(self.config["heads"]))
        for module, file in ((self.tail.module, TAIL_FILE), (self.heads, HEADS_FILE)):
            try:
                module.load_state_dict(load_file(str(self.directory / file)), strict=True)
            except (RuntimeError, OSError) as exc:
                raise TeacherLoadError(f"{self.directory / file} does not fit the {KIND} config: {str(exc)[:300]}") from exc
        self.heads.eval()
        for p in list(self.tail.module.parameters()) + list(self.heads.parameters()):
            p.requires_grad_(False)
        self.text = MiniLMTextEncoder(device=device or "cpu")
        self.width = int(self.heads.config.width)
        self.image_size = int(self.config["image_size"])
        self.prior = dict(self.config["prior"])
        self.name = spec or f"{KIND}:{path}"
        self.text_cache_dir = resolve_cache_dir(text_cache_dir)
        self._class_text: np.ndarray | None = None

    @classmethod
    def from_spec(cls, arg: str | None, **options: Any) -> Lite0TunedTeacher:
        if arg is None:
            raise TeacherLoadError(f"'{KIND}' needs a fitted directory: '{KIND}:NAME' or '{KIND}:PATH'")
        return cls(arg, spec=f"{KIND}:{arg}", **options)

    @cached_property
    def fingerprint(self) -> str:  # type: ignore[override]
        """tail sha256 (16) - heads sha256 (16) - prior settings."""
        from distilhash.teachers.lite0_minilm import HEADS_FILE

        p = self.prior
        return (f"{sha256_file(self.directory / TAIL_FILE)[:16]}-{sha256_file(self.directory / HEADS_FILE)[:16]}"
                f"-prior-w{p['weight']:g}-t{p['temperature']:g}-{p['template'].replace(' ', '_')}")

    def info(self) -> dict[str, Any]:
        fit = self.config.get("fit_info", {})
        return {"name": self.name, "directory": str(self.directory), "width": self.width, "image_size": self.image_size,
                "fingerprint": self.fingerprint, "from_stage": self.config["from_stage"], "heads": self.config["heads"],
                "image_tower": f"EfficientNet-Lite0 (ImageNet): stem..stage 4 frozen, stages {self.config['from_stage']}..6 "
                               "+ head conv fine-tuned; the ImageNet classifier reads the frozen features",
                "prior": self.prior, "kept": fit.get("kept"), "kept_because": fit.get("kept_because"),
                "fitted_on": fit.get("dataset", {}).get("name"), "fitted_on_pairs": fit.get("pairs_used"),
                "n_fit_pairs": fit.get("n_fit_pairs"), "augmentation": fit.get("augmentation"),
                "warm_start": fit.get("warm_start"), "fitted_on_split": fit.get("dataset", {}).get("split_hash")}

    def imagenet_text(self) -> np.ndarray:
        """``[1000, D]`` the ImageNet class names (kept template) through the text side."""
        from distilhash.teachers.lite0_prior import imagenet_class_names

        if self._class_text is None:
            self._class_text = self.encode_texts([self.prior["template"].format(n) for n in imagenet_class_names()])
        return self._class_text

    def embed_maps(self, h: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Stage-4 maps ``[n, 112, S/16, S/16]`` (any float dtype) -> image embeddings ``[n, D]`` unit rows."""
        torch = self._torch
        out = []
        for s in range(0, len(h), batch_size):
            u_t, u_f = self.tail.pooled(torch.from_numpy(np.asarray(h[s:s + batch_size], dtype=np.float32)))
            with torch.no_grad():
                head = self.heads.image(torch.from_numpy(u_t)).numpy()
                logits = self.backbone.net._fc(torch.from_numpy(u_f)).numpy()
            out.append((head, logits))
        from distilhash.teachers.lite0_prior import prior_mix

        if not out:
            return np.zeros((0, self.width), np.float32)
        head, logits = (np.concatenate(x) for x in zip(*out))
        return prior_mix(head, logits, self.imagenet_text(), float(self.prior["weight"]), float(self.prior["temperature"]))

    def _maps(self, pixels: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            return self.backbone.forward_until(self._torch.from_numpy(np.array(pixels, copy=True)), FRONT_STAGE).numpy()

    def encode_images(self, images, batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """uint8 ``[n, H, W, 3]`` or PIL images -> float32 ``[n, D]`` unit rows."""
        pixels = to_uint8_images(images, self.image_size)
        bs = batch_size or self.batch_size
        return run_batched(len(pixels), bs, lambda s: self.embed_maps(self._maps(pixels[s])), self.width, progress, "images")

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """Strings -> float32 ``[n, D]`` unit rows (MiniLM, then the text head)."""
        from distilhash.teachers.minilm_text import encode_maybe_cached

        v = encode_maybe_cached(self.text, texts, self.text_cache_dir, batch_size or 256, progress)
        with self._torch.no_grad():
            t = self.heads.text(self._torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))).numpy()
        return l2_normalize(t)
