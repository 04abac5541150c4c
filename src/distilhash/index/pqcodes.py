"""Stored form of PQ codes: one byte per sub-code, or two 4-bit sub-codes per byte when K <= 16.

Packed layout (``K <= 16``): uint8 ``[n, ceil(M / 2)]``, sub-code ``2j`` in the low nibble of byte
``j`` and sub-code ``2j + 1`` in its high nibble (the high nibble of the last byte is 0 when M is
odd). Searchers always receive the unpacked codes uint8 ``[n, M]``.

Example:
    >>> import numpy as np
    >>> c = np.array([[1, 2, 15]], np.uint8)
    >>> pack_nibbles(c), unpack_nibbles(pack_nibbles(c), 3)
    (array([[ 33,  15]], dtype=uint8), array([[ 1,  2, 15]], dtype=uint8))
"""

from __future__ import annotations

import numpy as np

from distilhash.errors import DataError

__all__ = ["packs_nibbles", "stored_code_size", "pack_nibbles", "unpack_nibbles"]


def packs_nibbles(K: int) -> bool:
    """True when codes of ``K`` codewords per sub-space are stored two per byte."""
    return K <= 16


def stored_code_size(M: int, K: int) -> int:
    """Bytes per stored item: ``ceil(M / 2)`` when packed, else ``M``."""
    return (M + 1) // 2 if packs_nibbles(K) else M


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """uint8 ``[n, M]`` (values < 16) -> uint8 ``[n, ceil(M / 2)]``."""
    codes = np.asarray(codes, dtype=np.uint8)
    if codes.size and int(codes.max()) > 15:
        raise DataError(f"4-bit PQ codes must be < 16, got codeword {int(codes.max())}")
    n, m = codes.shape
    if m % 2:
        codes = np.concatenate([codes, np.zeros((n, 1), np.uint8)], axis=1)
    return np.ascontiguousarray(codes[:, 0::2] | (codes[:, 1::2] << 4))


def unpack_nibbles(packed: np.ndarray, M: int) -> np.ndarray:
    """uint8 ``[n, ceil(M / 2)]`` -> uint8 ``[n, M]``."""
    packed = np.asarray(packed, dtype=np.uint8)
    out = np.empty((packed.shape[0], 2 * packed.shape[1]), np.uint8)
    out[:, 0::2] = packed & 15
    out[:, 1::2] = packed >> 4
    return np.ascontiguousarray(out[:, :M])
