"""Synthetic codes for tests and benchmarks: uniform random bits, and clustered bits.

Clustered ("structured") codes imitate what a trained hashing model produces: items gather
around a few centres (classes / concepts). ``structured_codes`` draws ``n_centres`` random
centres (or takes given ones, e.g. a trained model's database codes) and flips every bit of a
replica independently with probability ``flip``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["uniform_codes", "structured_codes", "replicate_with_noise"]


def uniform_codes(n: int, n_bits: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``[n, n_bits / 8]`` of independent fair bits."""
    return rng.integers(0, 256, (n, (n_bits + 7) // 8), dtype=np.uint8)


def replicate_with_noise(centres: np.ndarray, n: int, flip: float, rng: np.random.Generator, chunk: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy copies of packed ``centres`` ``[C, B]``; returns (codes ``[n, B]``, centre of each).

    Each bit of a copy is flipped with probability ``flip`` (chunked, memory ``O(chunk * 8B)``).
    """
    c, b = centres.shape
    which = rng.integers(0, c, n)
    out = np.empty((n, b), dtype=np.uint8)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        noise = np.packbits(rng.random((stop - start, 8 * b), dtype=np.float32) < flip, axis=1)
        out[start:stop] = centres[which[start:stop]] ^ noise
    return out, which


def structured_codes(n: int, n_bits: int, rng: np.random.Generator, n_centres: int = 1000, flip: float = 0.05) -> np.ndarray:
    """uint8 ``[n, n_bits / 8]``: noisy copies of ``n_centres`` random centres (see module docstring)."""
    centres = uniform_codes(n_centres, n_bits, rng)
    return replicate_with_noise(centres, n, flip, rng)[0]
