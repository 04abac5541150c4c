"""Raw similarity targets between two batches of items (torch).

* :func:`cosine_targets`: the teacher's cosine matrix ``R = U E^T`` (rows L2-normalised), the
  "NPC off" ablation of DCMQ; values sit in the narrow band where VLP cosines live.
* :func:`label_overlap_targets`: targets from multi-hot labels, mapped to ``[-1, 1]``:
  ``"any"``: ``S_ij = 2 [y_i . y_j > 0] - 1``; ``"cosine"``: ``S_ij = 2 cos(y_i, y_j) - 1``.

Both return float tensors ``[B_a, B_b]``.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["cosine_targets", "label_overlap_targets", "LabelOverlap"]

LabelOverlap = Literal["any", "cosine"]


def cosine_targets(a, b):
    """Cosine similarity matrix ``[B_a, B_b]`` of the rows of ``a [B_a, D]`` and ``b [B_b, D]``."""
    import torch.nn.functional as F

    return F.normalize(a.float(), dim=1) @ F.normalize(b.float(), dim=1).T


def label_overlap_targets(ya, yb, kind: LabelOverlap = "any"):
    """Label-overlap targets in ``[-1, 1]`` from multi-hot ``ya [B_a, C]`` and ``yb [B_b, C]``.

    ``kind="any"``: ``2 [y_a . y_b > 0] - 1`` (the retrieval relevance used by the protocol);
    ``kind="cosine"``: ``2 cos(y_a, y_b) - 1`` (graded by how many labels are shared).
    """
    import torch.nn.functional as F

    from distilhash.errors import ConfigError

    ya, yb = ya.float(), yb.float()
    if kind == "any":
        return 2.0 * ((ya @ yb.T) > 0).float() - 1.0
    if kind == "cosine":
        return 2.0 * (F.normalize(ya, dim=1) @ F.normalize(yb, dim=1).T) - 1.0
    raise ConfigError(f"label overlap kind {kind!r}; expected 'any' or 'cosine'")
