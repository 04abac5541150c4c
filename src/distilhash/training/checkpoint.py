"""Checkpoints: tensors in safetensors, configuration/metadata as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distilhash.errors import ConfigError
from distilhash.io_utils import atomic_write_bytes, atomic_write_json

__all__ = ["save_tensors", "load_tensors", "save_json", "load_json", "WEIGHTS_FILE"]

WEIGHTS_FILE = "weights.safetensors"


def save_tensors(path: str | Path, tensors: dict, metadata: dict[str, str] | None = None) -> None:
    """Atomically write ``{name: torch.Tensor}`` (made contiguous, on CPU) to a safetensors file."""
    from safetensors.torch import save

    data = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, save(data, metadata={k: str(v) for k, v in (metadata or {}).items()}))


def load_tensors(path: str | Path) -> dict:
    """Read a safetensors file into ``{name: torch.Tensor}``; clear error if missing/corrupt."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} is missing")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types
        raise ConfigError(f"checkpoint {path} cannot be read as safetensors: {exc}") from exc


def save_json(path: str | Path, obj: Any) -> None:
    atomic_write_json(path, obj)


def load_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} is missing")
    return json.loads(path.read_text())
