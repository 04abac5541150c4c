"""Fit the offline LCDH teacher on ``split.fit`` with label similarity; keep the epoch by ``split.val``.

Validation score: mean average precision (mAP@all) of the teacher's fused codes ``sign(h)`` of
``split.val`` items against those of ``split.fit`` items (relevance: a shared label).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from distilhash.errors import DataError
from distilhash.losses.lcdh_teacher import LCDHTeacherLoss
from distilhash.methods.lcdh.config import LCDHConfig
from distilhash.methods.lcdh.nets import AttentionTeacher
from distilhash.training.batches import minibatches
from distilhash.epochs import LoopConfig, run_epochs
from distilhash.training.terms import TermMeter
from distilhash.training.validation import map_all_from_distances

__all__ = ["fit_teacher", "teacher_codes", "hamming"]


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances ``[n, m]`` between ±1 codes ``a [n, L]`` and ``b [m, L]``."""
    a = torch.as_tensor(np.asarray(a, np.float32))
    b = torch.as_tensor(np.asarray(b, np.float32))
    return ((a.shape[1] - a @ b.T) / 2).numpy()


@torch.no_grad()
def teacher_codes(net: AttentionTeacher, image: np.ndarray, text: np.ndarray, batch: int = 4096) -> np.ndarray:
    """±1 int8 codes ``[n, L]`` of the teacher for paired features ``[n, D]``."""
    net.eval()
    out = []
    for s in range(0, len(image), batch):
        h = net(torch.as_tensor(image[s:s + batch]), torch.as_tensor(text[s:s + batch]))
        out.append(np.where(h.numpy() >= 0, 1, -1).astype(np.int8))
    return np.concatenate(out) if out else np.zeros((0, net.head.out_features), np.int8)


def fit_teacher(features, split, config: LCDHConfig, gen: torch.Generator, rng: np.random.Generator
                ) -> tuple[AttentionTeacher, dict[str, Any]]:
    """Train the teacher (see module docstring); returns the net (best epoch restored) and its fit info."""
    fit, val = np.asarray(split.fit), np.asarray(split.val)
    labels = features.labels
    if labels.shape[1] == 0:
        raise DataError("the LCDH teacher is trained with label similarity, but the features carry no labels (C=0)")
    if len(fit) < 2:
        raise DataError(f"the LCDH teacher needs at least 2 training items (split.fit has {len(fit)})")
    img = torch.as_tensor(np.asarray(features.image[fit], np.float32))
    txt = torch.as_tensor(np.asarray(features.text[fit], np.float32))
    y = torch.as_tensor(labels[fit].astype(np.float32))
    net = AttentionTeacher(features.image.shape[1], config)
    opt = torch.optim.Adam(net.parameters(), lr=config.teacher_lr)
    loss_fn = LCDHTeacherLoss(config.teacher_lam, config.teacher_quant, config.teacher_balance)

    def train_epoch(epoch: int) -> dict[str, float]:
        meter = TermMeter()
        for b in minibatches(len(fit), config.teacher_batch, rng):
            bt = torch.as_tensor(b)
            h = net(img[bt], txt[bt])
            s = ((y[bt] @ y[bt].T) > 0).float()
            terms = loss_fn(h, s)
            opt.zero_grad()
            terms["total"].backward()
            opt.step()
            meter.add(terms)
        return meter.means()

    def validate() -> float:
        if len(val) == 0:
            return 0.0
        q = teacher_codes(net, features.image[val], features.text[val])
        db = teacher_codes(net, features.image[fit], features.text[fit])
        return map_all_from_distances(hamming(q, db), labels[val], labels[fit])

    loop = LoopConfig(epochs=config.teacher_epochs, patience=config.teacher_patience, progress=config.progress,
                      desc=f"lcdh teacher {config.n_bits} bits")
    result = run_epochs(net, train_epoch, validate, loop)
    info = result.fit_info()
    info["kept_because"] = f"highest teacher code mAP@all on split.val vs split.fit ({result.best_score:.4f})"
    return net, info
