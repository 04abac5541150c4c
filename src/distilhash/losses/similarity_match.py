"""Match a student similarity matrix to a target matrix.

Inputs: ``S [B, B']`` student similarities, ``T [B, B']`` targets in ``[-1, 1]`` (row = query).

* ``kind="mse"``: ``L = mean_ij (S_ij - T_ij)^2``.
* ``kind="kl"``:  ``L = mean_i KL(softmax(T_i / tau_t) || softmax(S_i / tau_s))`` (rows).

Hyperparameters: ``tau_t`` (target temperature), ``tau_s`` (student temperature), KL only.
"""

from __future__ import annotations

from typing import Literal

from distilhash.errors import ConfigError

__all__ = ["match_similarity", "student_similarity", "MatchKind", "SimilarityMetric"]

MatchKind = Literal["mse", "kl"]
SimilarityMetric = Literal["ip", "l2"]


def student_similarity(q, x, metric: SimilarityMetric = "ip"):
    """Similarity ``[B, B']`` of queries ``q [B, D]`` and items ``x [B', D]``.

    ``"ip"``: ``<q, x>``; ``"l2"``: ``1 - ||q - x||^2 / 2`` (equal to the cosine for unit rows).
    Both rank exactly as the ADC metric of the same name ranks a continuous query against
    quantized items.
    """
    if metric == "ip":
        return q @ x.T
    if metric == "l2":
        d2 = (q * q).sum(1, keepdim=True) - 2 * q @ x.T + (x * x).sum(1)[None]
        return 1.0 - 0.5 * d2
    raise ConfigError(f"similarity metric {metric!r}; expected 'ip' or 'l2'")


def match_similarity(S, T, kind: MatchKind = "mse", tau_t: float = 0.1, tau_s: float = 0.1):
    """Scalar loss matching ``S`` to ``T`` (see module docstring)."""
    import torch.nn.functional as F

    if S.shape != T.shape:
        raise ConfigError(f"similarity {tuple(S.shape)} and target {tuple(T.shape)} differ in shape")
    if kind == "mse":
        return ((S - T) ** 2).mean()
    if kind == "kl":
        log_p = F.log_softmax(T / tau_t, dim=1)
        log_q = F.log_softmax(S / tau_s, dim=1)
        return (log_p.exp() * (log_p - log_q)).sum(1).mean()
    raise ConfigError(f"similarity match kind {kind!r}; expected 'mse' or 'kl'")
