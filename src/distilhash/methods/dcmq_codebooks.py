"""DCMQ's codebook start: before the first epoch, the codebooks (and, with ``pq_rotation="opq"``, the rotation in
front of them) are set from the current embeddings of a sample of the fit rows.

    z = [embed(image, x_img[S]); embed(text, x_txt[S])]        [2|S|, D], |S| <= 4096
    R = OPQ(z)  (pq_rotation="opq": embed() applies R from then on, and z is re-embedded)
    C = kmeans(z) | rows of z | unchanged random start         (codebook_init = kmeans | data | random)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["init_codebooks"]


def init_codebooks(model: nn.Module, cfg: Any, x_img: torch.Tensor, x_txt: torch.Tensor,
                   rng: np.random.Generator, gen: Any) -> None:
    """Set ``model``'s codebooks (and rotation) in place from a sample of the fit rows ``x_img``/``x_txt`` ``[n, d]``;
    ``cfg`` a ``DCMQConfig`` (codebook_init, pq_rotation, n_codebooks, n_codewords, seed); ``rng`` draws the sample, ``gen`` (a torch generator) seeds k-means. Nothing to do for a random start without OPQ."""
    if cfg.codebook_init == "random" and cfg.pq_rotation == "none":
        return
    model.eval()
    with torch.no_grad():
        sample = torch.as_tensor(rng.choice(len(x_img), min(len(x_img), 4096), replace=False))
        z = torch.cat([model.embed("image", x_img[sample]), model.embed("text", x_txt[sample])])
        if cfg.pq_rotation == "opq":  # embed() applies the rotation from now on
            from distilhash.quantizers.opq import opq_rotation

            rot = opq_rotation(z.numpy(), cfg.n_codebooks, int(np.log2(cfg.n_codewords)), seed=cfg.seed)
            model.rotation.copy_(torch.from_numpy(rot))
            z = torch.cat([model.embed("image", x_img[sample]), model.embed("text", x_txt[sample])])
        if cfg.codebook_init == "kmeans":
            model.pq.init_kmeans(z, n_iter=10, generator=gen)
        elif cfg.codebook_init == "data":
            model.pq.init_from(z, gen)
    model.train()
