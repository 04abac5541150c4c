"""One scan split over threads gives exactly the single-threaded result (ties and tombstones included)."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.index import native

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler for the native kernels")

from distilhash.errors import ConfigError  # noqa: E402
from distilhash.index.fastscan import FastScanCodes, supported_impls  # noqa: E402

# 600k 8-byte codes = 4.8 MB: above the 2 MiB per thread that lets a scan use 2 threads
N = 600_000


@pytest.fixture
def threads():
    """Restore one thread per scan after the test."""
    yield native.set_scan_threads
    native.set_scan_threads(1)


def _with_threads(set_threads, t: int, fn):
    set_threads(t)
    return fn()


def _same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_hamming_split_equals_single_thread(threads):
    rng = np.random.default_rng(0)
    # few distinct codes: thousands of rows tie at every distance, so the row tie-break is exercised
    pool = rng.integers(0, 2**63, 64, dtype=np.uint64)
    words = pool[rng.integers(0, 64, N)].reshape(N, 1)
    queries = rng.integers(0, 2**63, (5, 1), dtype=np.uint64)
    dead = rng.random(N) < 0.1
    for k in (1, 10, 300):
        for mask in (None, dead):
            one = _with_threads(threads, 1, lambda: native.hamming_knn(words, queries, k, mask))
            two = _with_threads(threads, 2, lambda: native.hamming_knn(words, queries, k, mask))
            _same(one, two)
            assert (one[2] == k).all()
            if mask is not None:
                assert not mask[one[1]].any()


def test_hamming_split_multiword(threads):
    rng = np.random.default_rng(1)
    words = rng.integers(0, 4, (N // 2, 2), dtype=np.uint64)  # 2 words per code, heavy ties
    queries = rng.integers(0, 4, (3, 2), dtype=np.uint64)
    one = _with_threads(threads, 1, lambda: native.hamming_knn(words, queries, 50))
    two = _with_threads(threads, 2, lambda: native.hamming_knn(words, queries, 50))
    _same(one, two)


@pytest.mark.parametrize("bits", [4, 8])
def test_fastscan_split_equals_single_thread(threads, bits):
    rng = np.random.default_rng(bits)
    m = 16 if bits == 4 else 8
    kk = 1 << bits
    codes = rng.integers(0, kk, (N, m), dtype=np.uint8)
    codes[rng.random(N) < 0.3] = codes[0]  # a large tie group
    fc = FastScanCodes(m, bits)
    fc.add(codes)
    tables = rng.normal(size=(3, m, kk)).astype(np.float32)
    dead = rng.random(N) < 0.05
    impls = supported_impls(bits)
    if not impls:
        pytest.skip(f"no fast-scan kernel for {bits}-bit codes on this CPU")
    for impl in impls:
        for negate in (False, True):
            for k, mask in ((10, None), (200, dead)):
                one = _with_threads(threads, 1, lambda: fc.knn(tables, k, negate, mask, impl))
                two = _with_threads(threads, 2, lambda: fc.knn(tables, k, negate, mask, impl))
                _same(one[:3], two[:3])  # the short-list sizes (one[3]) may differ
                assert (one[2] == k).all()
                if (bits, impl) == (8, "avx512"):  # N spans enough blocks: saturating 8-bit sums, split too
                    assert fc.last_saturating.all()


def test_scan_threads_setting(threads, monkeypatch):
    assert threads(3) == 3 and native.scan_threads() == 3
    with pytest.raises(ConfigError, match="positive integer"):
        threads(0)
    monkeypatch.setenv(native.SCAN_THREADS_ENV, "two")
    with pytest.raises(ConfigError, match=native.SCAN_THREADS_ENV):
        native._env_threads()
    monkeypatch.setenv(native.SCAN_THREADS_ENV, "2")
    assert native._env_threads() == 2
