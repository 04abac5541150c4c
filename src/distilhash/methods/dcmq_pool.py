"""An unlabelled image pool for DCMQ's codebooks (option ``codebook_pool``).

DCMQ's codebooks are fitted on the embeddings of ``split.fit`` only (2,000 openclipart drawings
in the demo): with M x K = 8 x 256 codewords they reconstruct those items much better than any
unseen one (relative error 0.45 on split.fit against 0.68-0.73 on other drawings and on emoji
glyphs; ``bench/open_vocab_dcmq_emoji.py coverage``). The pool gives the codebooks more images
to cover, with no label and no caption: the teacher's image features ``[P, D]`` of pictures that
are not queries of any benchmark (e.g. glyphs of other emoji subgroups), saved as a ``.npy``.

The pool enters in two places, both on the codebooks only (the heads never see it):

* the k-means initialisation after the warm-up runs on the fit embeddings *and* the pool's;
* every training step adds ``w_quant * pool_weight * mean_b |sg(z_p) - q_p|^2`` for a batch of
  pool embeddings ``z_p = f_img(u_p)`` (``sg``: no gradient into the image head), and their
  assignments count as use for the dead-codeword revival.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from distilhash.errors import ConfigError, FeatureError

__all__ = ["load_pool", "pool_step", "pool_embeddings"]


def load_pool(path: str | Path, width: int) -> torch.Tensor:
    """The pool's teacher image features, float32 ``[P, width]``.

    Raises:
        FeatureError: no such file, not a 2-D array of the teacher's width, fewer than 2 rows, or non-finite values.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FeatureError(f"dcmq option codebook_pool={str(path)!r}: no such file (expected a .npy of the teacher's "
                           f"image features [P, {width}])")
    pool = np.load(path, mmap_mode="r")
    if pool.ndim != 2 or pool.shape[1] != width or len(pool) < 2:
        raise FeatureError(f"dcmq option codebook_pool={str(path)!r}: shape {tuple(pool.shape)}; expected [P >= 2, {width}] "
                           "(the teacher's image features)")
    out = torch.from_numpy(np.array(pool, dtype=np.float32))  # a copy: the file stays untouched
    if not torch.isfinite(out).all():
        raise FeatureError(f"dcmq option codebook_pool={str(path)!r}: non-finite values")
    return out


def pool_step(model: nn.Module, pool: torch.Tensor, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One batch of ``n`` pool items: the codebook-only quantization term, the embeddings ``[n, D]`` and logits ``[n, M, K]``."""
    if model.pq is None:
        raise ConfigError("codebook_pool needs a quantizer (dcmq, not float-student)")
    z = pool_embeddings(model, pool, n, rng)
    q, logits = model.pq(z)
    return ((z - q) ** 2).sum(1).mean(), z, logits


def pool_embeddings(model: nn.Module, pool: torch.Tensor, n: int, rng: np.random.Generator) -> torch.Tensor:
    """Embeddings ``[min(n, P), D]`` of a random sample of the pool (for the k-means initialisation)."""
    idx = torch.as_tensor(rng.choice(len(pool), min(n, len(pool)), replace=False))
    with torch.no_grad():
        return model.embed("image", pool[idx])
