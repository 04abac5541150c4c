"""PQG — product quantization with Gumbel noise, codebooks shared by both modalities.

An embedding ``z [B, M*d]`` is split into ``M`` sub-vectors ``z_m [B, d]``; codebook ``m`` holds
``K`` codewords ``c_mk [d]`` (``K = 256``: one byte per sub-vector, so ``n_bits = 8 M``). The
same codebooks quantize image and text embeddings.

Logits (``logits``):
    ``"l2"``:     ``a_mk = -||z_m - c_mk||^2 / tau``
    ``"cosine"``: ``a_mk = cos(z_m, c_mk) / tau``
Assignment (``mode``), during training:
    ``"gumbel"`` (default): ``p_m = softmax((a_m + g) )`` with Gumbel noise ``g = -log(-log U)``,
        soft code ``zhat_m = sum_k p_mk c_mk``;
    ``"soft"``: the same without noise;
    ``"hard-st"``: straight-through hard code: forward ``c_m[argmax(a_m + g)]``, backward through
        the Gumbel softmax (``gumbel_noise=False`` gives plain straight-through argmax).
At encode time (and in ``eval()`` mode): ``code_m = argmax_k a_mk`` with no noise, ``zhat_m = c_m[code_m]``.
``parallel_weight`` eta > 1 (score-aware quantization, :mod:`distilhash.quantizers.anisotropic`): the codes
minimise ``|r|^2 + (eta - 1) <r, z>^2 / |z|^2`` (``r = z - zhat``) instead, and ``init_kmeans`` refines the
k-means codebooks under that loss; eta = 1 (default) is the plain nearest codeword.

Codeword usage (:func:`codeword_usage`): perplexity per codebook ``exp(H(p_m))`` from the code
histogram (``K`` = perfectly balanced, 1 = collapsed) and the number of dead codewords.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from distilhash.errors import ConfigError

__all__ = ["PQGConfig", "GumbelPQ", "codeword_usage", "bits_to_codebooks"]

Logits = Literal["l2", "cosine"]
Mode = Literal["gumbel", "soft", "hard-st"]


def bits_to_codebooks(n_bits: int, n_codewords: int = 256) -> int:
    """Number of codebooks M for ``n_bits`` with ``K = n_codewords`` (32/64/128 bits -> 4/8/16)."""
    per = int(round(math.log2(n_codewords)))
    if 2**per != n_codewords or n_bits % per or n_bits <= 0:
        raise ConfigError(f"bits={n_bits} is not a positive multiple of log2(K)={math.log2(n_codewords):g} (K={n_codewords})")
    return n_bits // per


@dataclass(frozen=True)
class PQGConfig:
    """Options of the Gumbel product quantizer."""

    n_codebooks: int = 8
    n_codewords: int = 256
    logits: Logits = "l2"
    tau: float = 0.2
    mode: Mode = "gumbel"
    gumbel_noise: bool = True  # only read by mode "hard-st"
    parallel_weight: float = 1.0  # eta of the anisotropic codes (1 = nearest codeword)


def codeword_usage(codes: np.ndarray, n_codewords: int = 256) -> dict:
    """Usage of each codebook from codes ``[N, M]``.

    Returns ``{"perplexity": [M floats], "dead": [M ints], "mean_perplexity", "total_dead",
    "perplexity_ratio"}`` where perplexity = ``exp(-sum_k p_k log p_k)`` of the code histogram and
    ratio = mean perplexity / K.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ConfigError(f"codes must be [N, M], got shape {codes.shape}")
    perp, dead = [], []
    for m in range(codes.shape[1]):
        counts = np.bincount(codes[:, m].astype(np.int64), minlength=n_codewords).astype(np.float64)
        p = counts / max(counts.sum(), 1.0)
        nz = p[p > 0]
        perp.append(float(np.exp(-(nz * np.log(nz)).sum())))
        dead.append(int((counts == 0).sum()))
    mean_perp = float(np.mean(perp)) if perp else 0.0
    return {
        "perplexity": perp,
        "dead": dead,
        "mean_perplexity": mean_perp,
        "total_dead": int(sum(dead)),
        "perplexity_ratio": mean_perp / n_codewords,
    }


def _module_class():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class GumbelPQ(nn.Module):
        """Shared product quantizer. ``forward(z [B, M d]) -> (zhat [B, M d], logits [B, M, K])``."""

        def __init__(self, dim: int, config: PQGConfig = PQGConfig()) -> None:
            super().__init__()
            if dim % config.n_codebooks:
                raise ConfigError(f"embedding width {dim} is not divisible by n_codebooks={config.n_codebooks}")
            if config.tau <= 0:
                raise ConfigError(f"PQG tau must be > 0, got {config.tau}")
            if config.mode not in ("gumbel", "soft", "hard-st"):
                raise ConfigError(f"PQG mode {config.mode!r}; expected 'gumbel', 'soft' or 'hard-st'")
            if not config.parallel_weight >= 1.0:
                raise ConfigError(f"PQG parallel_weight must be >= 1 (1 = isotropic), got {config.parallel_weight}")
            if config.logits not in ("l2", "cosine"):
                raise ConfigError(f"PQG logits {config.logits!r}; expected 'l2' or 'cosine'")
            self.config = config
            self.dim = dim
            self.sub_dim = dim // config.n_codebooks
            self.codebooks = nn.Parameter(torch.randn(config.n_codebooks, config.n_codewords, self.sub_dim) / math.sqrt(dim))

        @torch.no_grad()
        def init_from(self, z: torch.Tensor, generator: torch.Generator | None = None) -> None:
            """Initialise codewords with randomly chosen sub-vectors of ``z [N, M d]`` (plus tiny noise)."""
            M, K, d = self.codebooks.shape
            sub = z.reshape(z.shape[0], M, d)
            idx = torch.randint(0, z.shape[0], (M, K), generator=generator)
            picked = sub[idx, torch.arange(M)[:, None]]  # [M, K, d]
            self.codebooks.copy_(picked + 1e-3 * torch.randn(M, K, d, generator=generator) / math.sqrt(d))

        @torch.no_grad()
        def init_kmeans(self, z: torch.Tensor, n_iter: int = 15, generator: torch.Generator | None = None) -> None:
            """Initialise each codebook by k-means (Lloyd, ``n_iter`` steps) on the sub-vectors of ``z [N, M d]``."""
            self.init_from(z, generator)
            M, K, d = self.codebooks.shape
            sub = z.reshape(z.shape[0], M, d).transpose(0, 1)  # [M, N, d]
            cb = self.codebooks.detach().clone()
            for _ in range(n_iter):
                assign = torch.cdist(sub, cb).argmin(-1)  # [M, N]
                for m in range(M):
                    counts = torch.bincount(assign[m], minlength=K).to(sub.dtype)
                    sums = torch.zeros(K, d, dtype=sub.dtype).index_add_(0, assign[m], sub[m])
                    filled = counts > 0
                    cb[m, filled] = sums[filled] / counts[filled, None]
                    empty = int((~filled).sum())
                    if empty:  # re-seed empty clusters on random points
                        pick = torch.randint(0, sub.shape[1], (empty,), generator=generator)
                        cb[m, ~filled] = sub[m, pick]
            if self.config.parallel_weight != 1.0:
                from distilhash.quantizers.anisotropic import anisotropic_kmeans

                cb = anisotropic_kmeans(z, cb, self.config.parallel_weight, n_iter=5)
            self.codebooks.copy_(cb)

        @torch.no_grad()
        def revive(self, counts: torch.Tensor, z: torch.Tensor, generator: torch.Generator | None = None) -> int:
            """Move codewords with ``counts [M, K] == 0`` onto random sub-vectors of recent embeddings ``z [N, M d]``.

            Returns how many codewords were moved (dead-codeword restart, as in VQ training).
            """
            M, K, d = self.codebooks.shape
            sub = z.reshape(z.shape[0], M, d)
            moved = 0
            for m in range(M):
                dead = torch.nonzero(counts[m] == 0).flatten()
                if len(dead):
                    pick = torch.randint(0, sub.shape[0], (len(dead),), generator=generator)
                    noise = 1e-2 * sub[pick, m].norm(dim=-1, keepdim=True) * torch.randn(len(dead), d, generator=generator) / math.sqrt(d)
                    self.codebooks[m, dead] = sub[pick, m] + noise
                    moved += len(dead)
            return moved

        def logits(self, z: torch.Tensor) -> torch.Tensor:
            """Assignment logits ``[B, M, K]`` (before temperature and noise)."""
            M, K, d = self.codebooks.shape
            sub = z.reshape(z.shape[0], M, d)
            if self.config.logits == "cosine":
                return torch.einsum("bmd,mkd->bmk", F.normalize(sub, dim=-1), F.normalize(self.codebooks, dim=-1))
            dots = torch.einsum("bmd,mkd->bmk", sub, self.codebooks)
            return -((sub * sub).sum(-1, keepdim=True) - 2 * dots + (self.codebooks**2).sum(-1)[None])

        def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            a = self.logits(z) / self.config.tau
            if not self.training:
                return self.decode(a.argmax(-1) if self.config.parallel_weight == 1.0 else self.encode(z)), a
            mode = self.config.mode
            noisy = a
            if mode == "gumbel" or (mode == "hard-st" and self.config.gumbel_noise):
                u = torch.rand_like(a).clamp_(1e-9, 1 - 1e-9)
                noisy = a - torch.log(-torch.log(u))
            p = torch.softmax(noisy, dim=-1)
            if mode == "hard-st":
                hard = F.one_hot(noisy.argmax(-1), a.shape[-1]).to(p.dtype)
                p = hard + p - p.detach()
            zhat = torch.einsum("bmk,mkd->bmd", p, self.codebooks)
            return zhat.reshape(z.shape[0], -1), a

        @torch.no_grad()
        def encode(self, z: torch.Tensor) -> torch.Tensor:
            """Codes uint8 ``[B, M]`` = argmax of the noiseless logits (or the anisotropic codes, eta > 1)."""
            if self.config.parallel_weight != 1.0:
                from distilhash.quantizers.anisotropic import anisotropic_codes

                return anisotropic_codes(z, self.codebooks.detach(), self.config.parallel_weight).to(torch.uint8)
            return self.logits(z).argmax(-1).to(torch.uint8)

        def decode(self, codes: torch.Tensor) -> torch.Tensor:
            """Reconstruction ``[B, M d]`` of codes ``[B, M]``."""
            M = self.codebooks.shape[0]
            idx = codes.long()
            return self.codebooks[torch.arange(M)[None, :], idx].reshape(codes.shape[0], -1)

    return GumbelPQ


def __getattr__(name: str):
    # GumbelPQ is built on first access so that importing this module does not import torch.
    if name == "GumbelPQ":
        cls = _module_class()
        globals()["GumbelPQ"] = cls
        return cls
    raise AttributeError(name)
