"""A label-supervised linear readout of features: the "label oracle" the teacher benchmarks compare against.

``bench/teacher_quality.py`` (label-oracle rows beside the teacher's own retrieval; the retired
``teacher_ceiling.py`` used it for what a text feature could reach with labels) fits it; it
uses labels, so it is a reference point, never a teacher option.
"""

from __future__ import annotations

import numpy as np

__all__ = ["label_readout"]


def label_readout(features: np.ndarray, labels: np.ndarray, fit_rows: np.ndarray, steps: int = 400) -> np.ndarray:
    """Label probabilities ``[N, C]`` of a logistic readout ``sigmoid(10 * X W + b)`` of ``features``
    ``[N, D]`` (float32), fit with Adam (``steps`` full-batch steps, small L2) on the rows ``fit_rows``
    of ``labels`` ``[N, C]`` (0/1)."""
    import torch

    x = torch.tensor(features[fit_rows])
    y = torch.tensor(labels[fit_rows].astype(np.float32))
    w = torch.zeros(features.shape[1], labels.shape[1], requires_grad=True)
    b = torch.zeros(labels.shape[1], requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(10 * x @ w + b, y) + 1e-4 * (w**2).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return torch.sigmoid(10 * torch.tensor(features) @ w + b).numpy()
