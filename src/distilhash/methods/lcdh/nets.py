"""LCDH networks: the offline attention teacher on teacher features and the raw-input student.

Teacher (on frozen VLP features ``x_img, x_txt [n, D]``)::

    t_img = W_i x_img, t_txt = W_t x_txt                       (D -> hidden)
    tokens: [t_img, t_txt] -> MultiheadAttention + residual + LayerNorm -> fuse
    channel: fuse(t_img, t_txt) * sigmoid(W_g fuse(...))
    fuse: concat [2 hidden] | sum | product [hidden]
    h = tanh(FC(fused))  [n, L];  teacher code b_t = sign(h)

Student (on raw inputs): ``F = tanh(BN(FC_img(cnn(pixels))))``, ``G = tanh(BN(FC_txt(bow_mlp(bow))))``,
both ``[n, L]`` (BN: parameter-free BatchNorm over the batch, option ``hash_norm``); codes are ``sign``.
"""

from __future__ import annotations

import torch
from torch import nn

from distilhash.methods.lcdh.config import LCDHConfig

__all__ = ["AttentionTeacher", "LCDHStudent"]


class AttentionTeacher(nn.Module):
    """Fuse + attention + FC -> tanh codes (see module docstring)."""

    def __init__(self, width: int, config: LCDHConfig) -> None:
        super().__init__()
        hid = config.teacher_hidden
        self.fusion = config.teacher_fusion
        self.attention = config.teacher_attention
        self.proj_img = nn.Linear(width, hid)
        self.proj_txt = nn.Linear(width, hid)
        fused = 2 * hid if self.fusion == "concat" else hid
        if self.attention == "tokens":
            self.attn = nn.MultiheadAttention(hid, config.teacher_heads, dropout=config.teacher_dropout, batch_first=True)
            self.norm = nn.LayerNorm(hid)
        elif self.attention == "channel":
            self.gate = nn.Linear(fused, fused)
        self.dropout = nn.Dropout(config.teacher_dropout)
        self.head = nn.Linear(fused, config.n_bits)

    def _fuse(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.fusion == "concat":
            return torch.cat([a, b], dim=1)
        if self.fusion == "sum":
            return a + b
        return a * b

    def forward(self, x_img: torch.Tensor, x_txt: torch.Tensor) -> torch.Tensor:
        """``[n, D], [n, D]`` -> relaxed codes ``[n, L]`` in (-1, 1)."""
        a, b = torch.relu(self.proj_img(x_img)), torch.relu(self.proj_txt(x_txt))
        if self.attention == "tokens":
            tok = torch.stack([a, b], dim=1)  # [n, 2, hid]
            att, _ = self.attn(tok, tok, tok, need_weights=False)
            tok = self.norm(tok + att)
            fused = self._fuse(tok[:, 0], tok[:, 1])
        else:
            fused = self._fuse(a, b)
            if self.attention == "channel":
                fused = fused * torch.sigmoid(self.gate(fused))
        return torch.tanh(self.head(self.dropout(fused)))


class LCDHStudent(nn.Module):
    """Image CNN + BoW MLP, each followed by an FC layer to L bits (tanh relaxation)."""

    def __init__(self, image_net: nn.Module, text_net: nn.Module, n_bits: int, hash_norm: str = "batchnorm") -> None:
        super().__init__()
        self.image_net = image_net
        self.text_net = text_net
        self.image_fc = nn.Linear(image_net.out_dim, n_bits)
        self.text_fc = nn.Linear(text_net.out_dim, n_bits)
        # BatchNorm on the pre-tanh bits: unit-scale, zero-mean bits from the first step, so the
        # likelihood (quadratic in the codes) does not sit at its saddle F = G = 0
        norm = (lambda: nn.BatchNorm1d(n_bits, affine=False)) if hash_norm == "batchnorm" else nn.Identity
        self.image_norm, self.text_norm = norm(), norm()

    def image_inputs(self, pixels) -> torch.Tensor:
        """What :meth:`image` trains on for a chunk: the uint8 pixels, or the image net's frozen prefix of them
        (computed once, reused by every epoch) when the net declares ``frozen_prefix``."""
        x = torch.as_tensor(pixels)
        return self.image_net.prefix(x) if type(self.image_net).frozen_prefix else x

    def image(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 ``[n, S, S, 3]`` (or what :meth:`image_inputs` gave) -> ``F [n, L]``."""
        return torch.tanh(self.image_norm(self.image_fc(self.image_net(pixels))))

    def text(self, bow: torch.Tensor) -> torch.Tensor:
        """BoW ``[n, V]`` -> ``G [n, L]``."""
        return torch.tanh(self.text_norm(self.text_fc(self.text_net(bow))))
