"""DCMQ's distillation targets: which teacher text the images are compared with, and the ``[B, B]`` targets.

Per batch of B matched items (teacher features ``u`` image ``[B, D]``, ``e`` the chosen texts)::

    R = cos(u, e^T)                                  [B, B] (target_text "label" | "caption")
    R = (1 - a) cos(u, label^T) + a cos(u, caption^T)       (target_text "mix", a = caption_weight)
    T = NPC(R) (target "npc") | R (target "cosine") | label overlap (target "labels")

``cfg`` is a :class:`~distilhash.methods.dcmq.DCMQConfig` throughout (not imported: dcmq imports this).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from distilhash.errors import FeatureError
from distilhash.targets.npc import npc_targets
from distilhash.targets.similarity import cosine_targets, label_overlap_targets

__all__ = ["target_text", "raw_targets", "batch_targets", "target_band"]


def target_text(cfg: Any, features, idx: np.ndarray, method: str = "dcmq") -> torch.Tensor | None:
    """The teacher texts of rows ``idx``: ``[n, D]`` (label prompts or captions), ``[n, 2, D]`` (mix: label,
    caption) or None (``target="labels"`` reads no text).

    Raises:
        FeatureError: label prompts are needed but the feature set has no ``label_text`` array.
    """
    if cfg.target == "labels":
        return None

    def caption() -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(features.text[idx]), dtype=torch.float32)

    if cfg.target_text == "caption":
        return caption()
    if features.label_text is None and not np.asarray(features.labels).any():
        raise FeatureError(  # a folder without labels (e.g. captions=filenames): label prompts cannot exist
            f"{method}: target_text={cfg.target_text!r} compares images with their labels' text, but this dataset "
            "has no labels; use --set target_text=caption (the captions as targets), or a method that needs "
            "no labels (pq, lsh, itq)"
        )
    if features.label_text is None:
        raise FeatureError(
            f"{method}: target={cfg.target!r} compares images with label-text embeddings, but the feature "
            "set has no 'label_text' array; extract features with label prompts, or use --set target=labels "
            "or --set target_text=caption"
        )
    label = torch.as_tensor(np.ascontiguousarray(features.label_text[idx]), dtype=torch.float32)
    return torch.stack([label, caption()], 1) if cfg.target_text == "mix" else label


def raw_targets(cfg: Any, u: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """Teacher cosines ``[B, B]`` of images ``u [B, D]`` with texts ``e [B, D]``, or with the label / caption
    pair ``e [B, 2, D]`` mixed by ``caption_weight`` (``target_text="mix"``)."""
    if e.ndim == 2:
        return cosine_targets(u, e)
    a = cfg.caption_weight
    return (1.0 - a) * cosine_targets(u, e[:, 0]) + a * cosine_targets(u, e[:, 1])


def batch_targets(cfg: Any, u: torch.Tensor, e: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor:
    """The targets ``[B, B]`` of one batch (``y`` multi-hot labels ``[B, C]``, read by ``target="labels"`` only)."""
    if cfg.target == "labels":
        return label_overlap_targets(y, y, cfg.label_overlap)
    R = raw_targets(cfg, u, e)
    return npc_targets(R, cfg.npc()) if cfg.target == "npc" else R


def target_band(cfg: Any, u: torch.Tensor, e: torch.Tensor | None, rng: np.random.Generator) -> dict[str, float]:
    """Where raw teacher cosines and the targets sit (one batch): min / mean / max, matched vs other."""
    if e is None:
        return {}
    idx = torch.as_tensor(rng.choice(len(u), min(len(u), cfg.batch_size), replace=False))
    R = raw_targets(cfg, u[idx], e[idx])
    T = batch_targets(cfg, u[idx], e[idx], torch.zeros(len(idx), 1))
    eye = torch.eye(len(idx), dtype=torch.bool)
    return {
        "raw_min": float(R.min()), "raw_max": float(R.max()),
        "raw_matched_mean": float(R[eye].mean()), "raw_other_mean": float(R[~eye].mean()),
        "target_min": float(T.min()), "target_max": float(T.max()),
        "target_matched_mean": float(T[eye].mean()), "target_other_mean": float(T[~eye].mean()),
    }
