"""Fast-scan ADC (quantized tables + exact re-ranking) equals the float ADC reference exactly."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.index import native

pytestmark = pytest.mark.skipif(not native.available(), reason="no C compiler for the native kernels")

from distilhash.codes import Encoded  # noqa: E402
from distilhash.errors import ConfigError  # noqa: E402
from distilhash.index import create_index, open_index  # noqa: E402
from distilhash.index.core import IndexOptions  # noqa: E402
from distilhash.index.fastscan import FastScanCodes, choose_impl, supported_impls  # noqa: E402
from distilhash.index.pq import PQ_SEARCHERS, adc_distances, lookup_tables  # noqa: E402
from distilhash.index.pqcodes import pack_nibbles, unpack_nibbles  # noqa: E402
from distilhash.index.topk import NO_TOMBSTONES, Tombstones, topk_float  # noqa: E402


def reference(tables: np.ndarray, codes: np.ndarray, k: int, negate: bool, dead: np.ndarray | None = None):
    rows = np.arange(codes.shape[0])
    out = []
    for t in tables:
        d = adc_distances(t, codes, "ip" if negate else "l2")
        if dead is not None:
            out.append(topk_float(d[~dead], rows[~dead], k))
        else:
            out.append(topk_float(d, rows, k))
    return out


def check(fc: FastScanCodes, tables, codes, k, negate, impl, dead=None):
    d, r, cnt, cand = fc.knn(tables, k, negate, dead, impl)
    for qi, (rd, rr) in enumerate(reference(tables, codes, k, negate, dead)):
        assert cnt[qi] == rr.size
        np.testing.assert_array_equal(r[qi, : cnt[qi]], rr)
        np.testing.assert_array_equal(d[qi, : cnt[qi]], rd)
        assert cand[qi] >= cnt[qi]


def make_codes(rng, n, m, bits, ties: bool):
    codes = rng.integers(0, 1 << bits, (n, m), dtype=np.uint8)
    if ties and n > 4:  # a third of the rows repeat a handful of codes: many equal distances
        codes[rng.choice(n, n // 3, replace=False)] = codes[rng.integers(0, 4, n // 3)]
    return codes


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("m", [1, 3, 4, 8, 16])
@pytest.mark.parametrize("n", [1, 31, 33, 97, 1000])
def test_every_kernel_equals_float_reference(bits, m, n):
    rng = np.random.default_rng(bits * 1000 + m * 10 + n)
    codes = make_codes(rng, n, m, bits, ties=True)
    fc = FastScanCodes(m, bits)
    fc.add(codes[: n // 2])
    fc.add(codes[n // 2 :])  # appends into a partly filled block
    np.testing.assert_array_equal(fc.codes(), codes)
    tables = rng.normal(size=(3, m, 1 << bits)).astype(np.float32)
    for impl in supported_impls(bits):
        for k in sorted({1, 2, 10, n, n + 5}):
            for negate in (False, True):
                check(fc, tables, codes, k, negate, impl)


@pytest.mark.parametrize("bits", [4, 8])
def test_adversarial_tables(bits):
    """Constant tables (every distance ties), a huge offset with a tiny spread (float rounding is
    larger than the quantization step), integer-valued tables, identical codes."""
    rng = np.random.default_rng(7)
    n, m, kk = 500, 6, 1 << bits
    codes = make_codes(rng, n, m, bits, ties=False)
    same = np.repeat(codes[:1], n, axis=0)
    cases = [
        np.full((1, m, kk), 0.25, np.float32),
        (1e6 + rng.normal(scale=1e-3, size=(1, m, kk))).astype(np.float32),
        rng.integers(0, 3, (1, m, kk)).astype(np.float32),
        (rng.normal(size=(1, m, kk)) * np.logspace(-6, 3, m)[None, :, None]).astype(np.float32),
    ]
    for c in (codes, same):
        fc = FastScanCodes(m, bits)
        fc.add(c)
        for tables in cases:
            for impl in supported_impls(bits):
                for k in (1, 7, n):
                    check(fc, tables, c, k, False, impl)
                    check(fc, tables, c, k, True, impl)


@pytest.mark.parametrize("bits", [4, 8])
def test_dead_rows_are_skipped(bits):
    rng = np.random.default_rng(3)
    n, m = 300, 4
    codes = make_codes(rng, n, m, bits, ties=True)
    fc = FastScanCodes(m, bits)
    fc.add(codes)
    dead = np.zeros(n, bool)
    dead[rng.choice(n, 120, replace=False)] = True
    tables = rng.normal(size=(2, m, 1 << bits)).astype(np.float32)
    for impl in supported_impls(bits):
        for k in (1, 10, 250):
            check(fc, tables, codes, k, False, impl, dead)


def test_scalar_fallback_equals_simd_through_the_searcher(monkeypatch):
    rng = np.random.default_rng(11)
    cb = rng.normal(size=(16, 16, 4)).astype(np.float32)
    codes = make_codes(rng, 2000, 16, 4, ties=True)
    q = rng.normal(size=(5, 64)).astype(np.float32)
    results = {}
    for impl in supported_impls(4):
        monkeypatch.setenv("DISTILHASH_FASTSCAN", impl)
        s = PQ_SEARCHERS.create("native", cb, "l2")
        assert s.fastscan == impl
        s.add(codes)
        results[impl] = s.search(q, 10, NO_TOMBSTONES)
    base = results["scalar"]
    for impl, res in results.items():
        for (d0, r0), (d1, r1) in zip(base, res):
            np.testing.assert_array_equal(r0, r1, err_msg=impl)
            np.testing.assert_array_equal(d0, d1, err_msg=impl)


def realistic_8bit(seed: int, n: int, m: int, n_dead: int, d: int = 4):
    """8-bit codes [n, m] (tie-heavy) in a FastScanCodes, a dead mask of n_dead rows, and
    metric -> ADC tables float32 [3, m, 256] of 3 random queries over random codebooks."""
    rng = np.random.default_rng(seed)
    cb = rng.normal(size=(m, 256, d)).astype(np.float32)
    codes = make_codes(rng, n, m, 8, ties=True)
    fc = FastScanCodes(m, 8)
    fc.add(codes)
    dead = np.zeros(n, bool)
    dead[rng.choice(n, n_dead, replace=False)] = True
    q = rng.normal(size=(3, m * d)).astype(np.float32)
    return fc, codes, dead, lambda metric: lookup_tables(q, cb, metric)


@pytest.mark.parametrize("m", [4, 8, 16, 5])
def test_8bit_unrolled_and_generic_kernels_agree_with_reference(m):
    """The 8-bit AVX-512 kernel unrolls M = 4, 8, 16 (M = 5: its generic loop); every 8-bit kernel
    gives the float reference's top-k (distances to the bit, ties by row) on realistic tables,
    both metrics, a size that is not a multiple of the 64-item block, k past n, dead rows."""
    n = 64 * 37 + 23
    fc, codes, dead, tables_for = realistic_8bit(100 + m, n, m, 200)
    for metric in ("l2", "ip"):
        tables = tables_for(metric)
        for impl in supported_impls(8):
            for k in (1, 10, 100, n + 7):
                check(fc, tables, codes, k, metric == "ip", impl)
                check(fc, tables, codes, k, metric == "ip", impl, dead)


needs_vbmi = pytest.mark.skipif("avx512" not in supported_impls(8), reason="no AVX-512 VBMI on this CPU")


@needs_vbmi
@pytest.mark.parametrize("m", [8, 4, 16, 5])
def test_8bit_saturating_scan_is_exact(m):
    """Over >= 4096 blocks (256K items) the 8-bit AVX-512 scan switches to saturating 8-bit sums with a step
    chosen from the first blocks' exact top-k: the top-k still equals the float reference (ties by
    row, both metrics, dead rows, a size not a multiple of 64); with k too large for the first
    blocks to give a bound, it keeps 16-bit sums and is exact as well."""
    fc, codes, dead, tables_for = realistic_8bit(200 + m, 64 * 4100 + 37, m, 3000)
    for metric in ("l2", "ip"):
        tables = tables_for(metric)
        for k in (1, 10, 100):
            for mask in (None, dead):
                check(fc, tables, codes, k, metric == "ip", "avx512", mask)
                assert fc.last_saturating.all()
        check(fc, tables, codes, 20000, metric == "ip", "avx512")  # 4 k items need 1250 > 4100 / 16 blocks
        assert not fc.last_saturating.any()
        check(fc, tables, codes, 10, metric == "ip", "avx512-generic")
        assert not fc.last_saturating.any()


@needs_vbmi
def test_8bit_saturating_scan_on_adversarial_tables():
    """Constant tables (every distance ties), a huge offset with a tiny spread, integer tables and
    identical codes over enough blocks for the saturating scan: exact whichever sums it picks."""
    rng = np.random.default_rng(9)
    n, m = 64 * 4096 + 5, 8
    codes = make_codes(rng, n, m, 8, ties=True)
    cases = [
        np.full((1, m, 256), 0.25, np.float32),
        (1e6 + rng.normal(scale=1e-3, size=(1, m, 256))).astype(np.float32),
        rng.integers(0, 3, (1, m, 256)).astype(np.float32),
        (rng.normal(size=(1, m, 256)) * np.logspace(-6, 3, m)[None, :, None]).astype(np.float32),
    ]
    for c in (codes, np.repeat(codes[:1], n, axis=0)):
        fc = FastScanCodes(m, 8)
        fc.add(c)
        for tables in cases:
            for k in (1, 10):
                check(fc, tables, c, k, False, "avx512")
                check(fc, tables, c, k, True, "avx512")


def test_8bit_prefers_the_unrolled_avx512_kernel():
    ok = supported_impls(8)
    assert "scalar" in ok
    assert ("avx512" in ok) == ("avx512-generic" in ok)  # the same instructions, the same CPUs
    assert choose_impl(8) == ("avx512" if "avx512" in ok else None)
    assert "avx512-generic" not in supported_impls(4)


def test_unknown_or_unsupported_kernel_is_a_clear_error(monkeypatch):
    with pytest.raises(ConfigError, match="fast-scan kernel"):
        choose_impl(4, "avx9000")
    with pytest.raises(ConfigError, match="does not run"):
        choose_impl(8, "ssse3")
    assert choose_impl(4, "off") is None


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("K", [16, 256])
def test_native_searcher_matches_numpy_with_tombstones(metric, K):
    rng = np.random.default_rng(K)
    m, d = 8, 3
    cb = rng.normal(size=(m, K, d)).astype(np.float32)
    codes = make_codes(rng, 777, m, 4 if K == 16 else 8, ties=True)
    q = rng.normal(size=(4, m * d)).astype(np.float32)
    dead = Tombstones(rng.choice(777, 50, replace=False), 777)
    ref = PQ_SEARCHERS.create("numpy", cb, metric)
    ref.add(codes)
    fast = PQ_SEARCHERS.create("native", cb, metric)
    fast.add(codes)
    np.testing.assert_array_equal(fast.codes(), codes)
    for k in (1, 10, 800):
        for (d0, r0), (d1, r1) in zip(ref.search(q, k, dead), fast.search(q, k, dead)):
            np.testing.assert_array_equal(r0, r1)
            np.testing.assert_array_equal(d0, d1)


def test_nibble_packing_round_trip():
    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 16):
        c = rng.integers(0, 16, (9, m), dtype=np.uint8)
        p = pack_nibbles(c)
        assert p.shape == (9, (m + 1) // 2)
        np.testing.assert_array_equal(unpack_nibbles(p, m), c)


def test_pq_index_with_k16_stores_packed_codes_and_searches_exactly(tmp_path):
    rng = np.random.default_rng(5)
    m, d, n = 16, 4, 3000
    cb = rng.normal(size=(m, 16, d)).astype(np.float32)
    codes = make_codes(rng, n, m, 4, ties=True)
    enc = Encoded("pq", codes, m * 4, cb, "l2")
    idx = create_index(tmp_path / "i", kind="pq", codebooks=cb, options=IndexOptions(bulk_threshold=1000))
    idx.add([f"x{i}" for i in range(2000)], enc.take(np.arange(2000)))  # snapshot
    idx.add([f"x{i}" for i in range(2000, n)], enc.take(np.arange(2000, n)))  # log... then compaction-free
    idx.delete(["x5", "x2500"])
    info = idx.info()
    assert info["code_size"] == 8 and info["n_bits"] == 64
    q = Encoded("float", rng.normal(size=(3, m * d)).astype(np.float32), 32 * m * d)
    got = idx.search(q, k=20)
    assert idx.get(["x7"])["x7"][0].tolist() == codes[7].tolist()
    idx.close()
    stored = np.load(tmp_path / "i" / open_index(tmp_path / "i").manifest["files"]["codes"]["name"])
    assert stored.shape[1] == 8
    for backend in ("numpy", "native", "faiss"):
        ro = open_index(tmp_path / "i", options=IndexOptions(backend=backend))
        for a, b in zip(got, ro.search(q, k=20)):
            assert a.ids == b.ids
            np.testing.assert_array_equal(a.distances, b.distances)
        ro.close()
