"""Bit masks for probing Hamming balls: every ``bits``-bit mask with exactly ``s`` ones.

A query key ``q`` reaches every key at Hamming distance ``s`` as ``q ^ m`` for ``m`` in
``flip_masks(bits, s)``. Used by the multi-index hashing search (:mod:`distilhash.index.mih`) and
its native tables (:mod:`distilhash.index.native`).
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations

import numpy as np

__all__ = ["flip_masks"]


@lru_cache(maxsize=256)
def flip_masks(bits: int, s: int) -> np.ndarray:
    """uint32 ``[C(bits, s)]``: every ``bits``-bit mask with exactly ``s`` ones, in lexicographic order."""
    out = np.zeros(math.comb(bits, s), dtype=np.uint32)
    for i, pos in enumerate(combinations(range(bits), s)):
        v = 0
        for p in pos:
            v |= 1 << p
        out[i] = v
    return out
