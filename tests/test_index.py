"""Index behaviour: identical results across searchers, ties, deletes, reopen, corruption."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.codes import Encoded
from distilhash.errors import ConfigError, DataError, IndexCorruptError
from distilhash.index import IndexLockedError, IndexOptions, codelog, create_index, open_index
from distilhash.index.binary import BINARY_SEARCHERS
from distilhash.index.mih import MIHSearcher, plan_fields
from distilhash.index.pq import PQ_SEARCHERS, adc_distances, lookup_tables
from distilhash.index.synth import structured_codes, uniform_codes
from distilhash.index.topk import NO_TOMBSTONES, Tombstones

faiss = pytest.importorskip("faiss")


def brute_binary(db: np.ndarray, q: np.ndarray, k: int, dead: set[int] = frozenset()):
    """Independent oracle: unpacked bits, full sort by (distance, row)."""
    bd = np.unpackbits(db, axis=1).astype(np.int64)
    out = []
    for qq in np.unpackbits(q, axis=1).astype(np.int64):
        d = np.abs(bd - qq).sum(1)
        order = sorted((int(d[i]), i) for i in range(len(db)) if i not in dead)[:k]
        out.append(([x for x, _ in order], [i for _, i in order]))
    return out


def same(a, b) -> bool:
    return all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("n_bits", [16, 64, 128])
@pytest.mark.parametrize("kind", ["uniform", "structured", "ties"])
def test_binary_searchers_identical(n_bits, kind):
    rng = np.random.default_rng(n_bits)
    n = 3000
    if kind == "uniform":
        db = uniform_codes(n, n_bits, rng)
    elif kind == "structured":
        db = structured_codes(n, n_bits, rng, n_centres=20, flip=0.04)
    else:  # massive ties: only 8 distinct codes
        db = uniform_codes(8, n_bits, rng)[rng.integers(0, 8, n)]
    q = np.concatenate([db[:5], uniform_codes(5, n_bits, rng)])
    dead = Tombstones(rng.choice(n, 40, replace=False), n)
    oracle = brute_binary(db, q, 25, set(dead.rows.tolist()))
    for name in ["numpy", "native", "faiss-flat", "faiss-flat-heap", "mih"]:
        s = BINARY_SEARCHERS.create(name, db.shape[1], **({"max_candidates": 10**9} if name == "mih" else {}))
        s.add(db[:1000])
        s.add(db[1000:])
        for k in (1, 10, 25):
            got = s.search(q, k, dead)
            want = [(np.array(d[:k]), np.array(r[:k])) for d, r in oracle]
            assert same(got, want), (name, k)
        assert same(s.search(q, 10, NO_TOMBSTONES), [(np.array(d), np.array(r)) for d, r in brute_binary(db, q, 10)])


def test_mih_tail_fallback_and_radius_match_flat():
    rng = np.random.default_rng(1)
    db = structured_codes(20_000, 64, rng, n_centres=50, flip=0.05)
    q = np.concatenate([db[:20], uniform_codes(10, 64, rng)])
    dead = Tombstones(rng.choice(len(db), 100, replace=False), len(db))
    ref = BINARY_SEARCHERS.create("numpy", 8)
    ref.add(db)
    mih = MIHSearcher(8, max_candidates=2000)  # forces fallbacks on the uniform queries
    mih.add(db[:15_000])
    mih.search(q[:1], 1, NO_TOMBSTONES)  # builds tables over 15k rows
    mih.add(db[15_000:])  # 5k rows scanned as the unindexed tail
    for k in (1, 10, 100):
        assert same(mih.search(q, k, dead), ref.search(q, k, dead))
    assert mih.stats["fallbacks"] > 0
    for radius in (0, 3, 8):
        assert same(mih.range_search(q, radius, dead), ref.range_search(q, radius, dead))
        flat = BINARY_SEARCHERS.create("faiss-flat", 8)
        flat.add(db)
        assert same(flat.range_search(q, radius, dead), ref.range_search(q, radius, dead))


def test_mih_fields_partition_the_bits():
    for code_size, n in [(8, 10**6), (8, 10**7), (2, 100), (16, 10**5), (5, 10**4)]:
        fields = plan_fields(code_size, n)
        per_word: dict[int, int] = {}
        for w, shift, b in fields:
            assert shift == per_word.get(w, 0)
            per_word[w] = shift + b
        assert sum(per_word.values()) == 8 * code_size


def _pq_setup(metric, rng, n=4000, m=8, d=4):
    cb = rng.standard_normal((m, 256, d)).astype(np.float32)
    codes = rng.integers(0, 256, (n, m), dtype=np.uint8)
    codes[100:160] = codes[50]  # exact duplicates -> exact ties
    q = rng.standard_normal((12, m * d)).astype(np.float32)
    return cb, codes, q


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_pq_searchers_identical(metric):
    rng = np.random.default_rng(7)
    cb, codes, q = _pq_setup(metric, rng)
    q[0] = cb[np.arange(8), codes[50]].reshape(-1)  # query sitting on the duplicated item
    dead = Tombstones(np.array([3, 120, 77]), len(codes))
    # oracle in float64 from decoded vectors: same ranking up to float rounding
    dec = cb[np.arange(8)[None, :], codes].reshape(len(codes), -1).astype(np.float64)
    assert {"numpy", "native", "faiss"} <= set(PQ_SEARCHERS.names())  # + the approximate "ivf" once imported
    for name in ["numpy", "native", "faiss"]:
        s = PQ_SEARCHERS.create(name, cb, metric)
        s.add(codes[:1500])
        s.add(codes[1500:])
        res = s.search(q, 80, dead)
        for (d, r), qq in zip(res, q.astype(np.float64)):
            exact = ((dec - qq) ** 2).sum(1) if metric == "l2" else -(dec @ qq)
            exact[dead.rows] = np.inf
            assert np.allclose(d, exact[r], rtol=1e-4, atol=1e-4)
            assert np.all(np.diff(d) >= 0)
            ties = np.diff(d) == 0
            assert np.all(np.diff(r)[ties] > 0)  # ties in row order
            assert not np.isin(r, dead.rows).any()
        if name == "numpy":
            ref = res
        else:
            assert same(res, ref)
    for name in ["native", "faiss", "numpy"]:
        empty = PQ_SEARCHERS.create(name, cb, metric).search(q, 5, NO_TOMBSTONES)
        assert len(empty) == len(q) and all(r.size == 0 for _, r in empty)


def test_pq_tables_match_faiss_tables():
    rng = np.random.default_rng(3)
    cb, codes, q = _pq_setup("l2", rng)
    pq = faiss.ProductQuantizer(32, 8, 8)
    faiss.copy_array_to_vector(cb.ravel(), pq.centroids)
    t = np.empty((len(q), 8, 256), np.float32)
    pq.compute_distance_tables(len(q), faiss.swig_ptr(q), faiss.swig_ptr(t))
    assert np.allclose(lookup_tables(q, cb, "l2"), t, rtol=1e-5, atol=1e-5)
    d = adc_distances(lookup_tables(q, cb, "l2")[0], codes, "l2")
    assert d.dtype == np.float32 and d.shape == (len(codes),)


# --- the index ----------------------------------------------------------------------------


def _bin(data: np.ndarray, n_bits: int = 64) -> Encoded:
    return Encoded("binary", data, n_bits)


def test_add_search_delete_reopen(tmp_path):
    rng = np.random.default_rng(0)
    codes = structured_codes(3000, 64, rng, n_centres=30)
    ids = [f"item{i}" for i in range(3000)]
    meta = [{"caption": f"caption {i}", "image": f"img/{i}.png"} for i in range(3000)]
    idx = create_index(tmp_path / "ix", kind="binary", n_bits=64, model_dir="m", teacher="t",
                       options=IndexOptions(bulk_threshold=1000))
    idx.add(ids[:2000], _bin(codes[:2000]), meta[:2000])  # bulk: new snapshot
    for s in range(2000, 3000, 250):  # logged appends
        idx.add(ids[s : s + 250], _bin(codes[s : s + 250]), meta[s : s + 250])
    q = _bin(codes[[0, 2500, 7]])
    before = idx.search(q, 20)
    oracle = brute_binary(codes, codes[[0, 2500, 7]], 20)
    for res, (d, r) in zip(before, oracle):
        assert res.ids == [ids[i] for i in r]
        assert res.distances.tolist() == d
        assert res.metadata == [meta[i] for i in r]
    # delete one from the snapshot and one from the log; they never come back
    gone = [before[0].ids[0], before[1].ids[0]]
    assert idx.delete(gone) == 2
    after = idx.search(q, 20)
    assert not set(gone) & {i for r in after for i in r.ids}
    dead = {ids.index(g) for g in gone}
    for res, (d, r) in zip(after, brute_binary(codes, codes[[0, 2500, 7]], 20, dead)):
        assert res.ids == [ids[i] for i in r]
    with pytest.raises(DataError, match="not in the index"):
        idx.delete(["nope"])
    with pytest.raises(DataError, match="already in the index"):
        idx.add([ids[5]], _bin(codes[:1]))
    idx.add([gone[0]], _bin(codes[:1]), [{"again": True}])  # a deleted id may come back
    assert len(idx) == 2999
    info = idx.info()
    idx.close()
    with open_index(tmp_path / "ix") as ro:
        assert ro.info()["count"] == 2999 == info["count"]
        assert [r.ids for r in ro.search(q, 20)] == [r.ids for r in idx_search_reopen(tmp_path, q)]
        with pytest.raises(ConfigError, match="read-only"):
            ro.add(["x"], _bin(codes[:1]))
        assert ro.info()["model_dir"] == "m" and ro.info()["teacher"] == "t"
    with open_index(tmp_path / "ix", writable=True) as rw:
        rw.compact()
        assert rw.info()["deleted_pending"] == 0 and rw.info()["log_records"] == 0
        res = rw.search(q, 20)
        assert res[0].ids[0] == gone[0] and res[0].metadata[0] == {"again": True}
        assert rw.verify().ok


def idx_search_reopen(tmp_path, q):
    with open_index(tmp_path / "ix", options=IndexOptions(backend="numpy")) as ix:
        return ix.search(q, 20)


def test_radius_and_bad_input(tmp_path):
    rng = np.random.default_rng(2)
    codes = structured_codes(500, 32, rng, n_centres=5)
    idx = create_index(tmp_path / "ix", kind="binary", n_bits=32)
    idx.add([str(i) for i in range(500)], _bin(codes, 32))
    res = idx.search_radius(_bin(codes[:2], 32), 3)
    bits = np.unpackbits(codes, axis=1).astype(int)
    for r, qi in zip(res, (0, 1)):
        d = np.abs(bits - bits[qi]).sum(1)
        assert sorted(r.ids, key=int) == [str(i) for i in np.flatnonzero(d <= 3)]
    with pytest.raises(DataError, match="bits"):
        idx.add(["x"], _bin(codes[:1, :2], 16))
    with pytest.raises(DataError, match="twice"):
        idx.add(["a", "a"], _bin(codes[:2], 32))
    with pytest.raises(DataError, match="JSON"):
        idx.add(["a"], _bin(codes[:1], 32), [{"x": object()}])
    with pytest.raises(IndexLockedError):
        open_index(tmp_path / "ix", writable=True)
    with pytest.raises(ConfigError, match="already holds"):
        create_index(tmp_path / "ix", kind="binary", n_bits=32)
    idx.close()


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_pq_index_roundtrip(tmp_path, metric):
    rng = np.random.default_rng(5)
    cb, codes, q = _pq_setup(metric, rng, n=2000)
    enc = Encoded("pq", codes, 64, cb, metric)
    idx = create_index(tmp_path / "pq", kind="pq", codebooks=cb, metric=metric)
    idx.add([f"p{i}" for i in range(2000)], enc, [{"i": i} for i in range(2000)])
    idx.delete(["p1", "p2"])
    res = idx.search(Encoded("float", q, 32 * 32), 10)
    idx.close()
    with open_index(tmp_path / "pq", options=IndexOptions(backend="numpy")) as ro:
        ref = ro.search(q, 10)
    assert [r.ids for r in res] == [r.ids for r in ref]
    assert all(np.array_equal(a.distances, b.distances) for a, b in zip(res, ref))
    assert all(m["i"] == int(i[1:]) for r in res for i, m in zip(r.ids, r.metadata))
    with open_index(tmp_path / "pq", writable=True) as rw:
        with pytest.raises(DataError, match="codebooks"):
            rw.add(["z"], Encoded("pq", codes[:1], 64, cb + 1, metric))
        with pytest.raises(DataError, match="float"):
            rw.search(Encoded("pq", codes[:1], 64, cb, metric), 3)


def _make_index(path, n=1200, kind="binary"):
    rng = np.random.default_rng(9)
    if kind == "binary":
        idx = create_index(path, kind="binary", n_bits=64, options=IndexOptions(bulk_threshold=500))
        codes = _bin(structured_codes(n, 64, rng, n_centres=10))
    else:
        cb = rng.standard_normal((4, 256, 2)).astype(np.float32)
        idx = create_index(path, kind="pq", codebooks=cb, options=IndexOptions(bulk_threshold=500))
        codes = Encoded("pq", rng.integers(0, 256, (n, 4), dtype=np.uint8), 32, cb)
    ids = [f"x{i}" for i in range(n)]
    idx.add(ids[:800], codes.take(np.arange(800)), [{"c": f"caption {i}"} for i in range(800)])  # snapshot
    for s in range(800, n, 100):  # log
        idx.add(ids[s : s + 100], codes.take(np.arange(s, min(n, s + 100))))
    idx.delete(["x3", "x900"])
    idx.close()
    return path


@pytest.mark.parametrize("kind", ["binary", "pq"])
def test_flipped_bytes_in_every_file_are_detected(tmp_path, kind):
    src = _make_index(tmp_path / "src", kind=kind)
    names = sorted(p.name for p in src.iterdir() if p.name != "LOCK")
    assert any(n.startswith("log.") for n in names) and any(n.startswith("meta.") for n in names)
    rng = np.random.default_rng(0)
    import shutil

    for name in names:
        size = (src / name).stat().st_size
        for pos in sorted({0, size // 2, size - 1, *rng.integers(0, size, 3).tolist()}):
            dst = tmp_path / f"flip-{name}-{pos}"
            shutil.copytree(src, dst)
            data = bytearray((dst / name).read_bytes())
            data[pos] ^= 0x5A
            (dst / name).write_bytes(bytes(data))
            with pytest.raises(IndexCorruptError):
                open_index(dst)
            shutil.rmtree(dst)
    ok = open_index(src)
    assert ok.verify().ok
    data = bytearray((src / names[0]).read_bytes())
    data[len(data) // 2] ^= 1
    (src / names[0]).write_bytes(bytes(data))
    rep = ok.verify()
    assert not rep.ok and names[0] in " ".join(rep.problems)
    ok.close()


def test_truncated_missing_and_incompatible(tmp_path):
    import shutil

    src = _make_index(tmp_path / "src")
    m = json.loads((src / "manifest.json").read_text())
    for role in ("codes", "seqs", "meta"):
        dst = tmp_path / f"trunc-{role}"
        shutil.copytree(src, dst)
        f = dst / m["files"][role]["name"]
        f.write_bytes(f.read_bytes()[:-7])
        with pytest.raises(IndexCorruptError, match="truncated"):
            open_index(dst)
        f.unlink()
        with pytest.raises(IndexCorruptError, match="missing"):
            open_index(dst)
    dst = tmp_path / "version"
    shutil.copytree(src, dst)
    m2 = dict(m, format_version=99)
    (dst / "manifest.json").write_text(json.dumps(m2))
    with pytest.raises(IndexCorruptError, match="version"):
        open_index(dst)
    (dst / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="JSON"):
        open_index(dst)
    with pytest.raises(IndexCorruptError, match="not an index"):
        open_index(tmp_path)
    # bytes after the acknowledged end = an interrupted, never-acknowledged append: ignored on
    # open, trimmed by the next writer
    dst = tmp_path / "torn"
    shutil.copytree(src, dst)
    log = dst / m["log"]
    acked = log.read_bytes()
    log.write_bytes(acked + codelog.encode_delete(["x5"])[:-3])
    with open_index(dst) as ix:
        assert len(ix) == 1198 and ix.get(["x5"])
        assert any("interrupted append" in n for n in ix.verify().notes)
    assert log.read_bytes()[: len(acked)] == acked and log.stat().st_size > len(acked)  # readers never trim
    with open_index(dst, writable=True) as ix:  # the writer trims the torn tail, then appends
        assert log.read_bytes() == acked
        ix.add(["new"], _bin(np.zeros((1, 8), np.uint8)))
    with open_index(dst) as ix:
        assert "new" in ix.search(_bin(np.zeros((1, 8), np.uint8)), 1)[0].ids
        assert ix.verify().ok
    # a cut into acknowledged records (here: the last one, the delete of x3 and x900) is damage
    dst = tmp_path / "cut"
    shutil.copytree(src, dst)
    log = dst / m["log"]
    log.write_bytes(acked[:-5])
    with pytest.raises(IndexCorruptError, match="acknowledged"):
        open_index(dst)


def test_more_than_n_and_empty_searchers():
    rng = np.random.default_rng(4)
    db = uniform_codes(300, 64, rng)
    dead = Tombstones(np.arange(0, 300, 7), 300)
    ref = BINARY_SEARCHERS.create("numpy", 8)
    ref.add(db)
    want = ref.search(db[:3], 1000, dead)
    assert all(r.size == 300 - len(dead) for _, r in want)
    for name in ["native", "faiss-flat", "mih"]:
        s = BINARY_SEARCHERS.create(name, 8)
        assert all(r.size == 0 for _, r in s.search(db[:2], 5, NO_TOMBSTONES))
        s.add(db)
        assert same(s.search(db[:3], 1000, dead), want), name


def test_index_auto_mih_matches_numpy_and_adapts(tmp_path):
    rng = np.random.default_rng(8)
    db = structured_codes(6000, 64, rng, n_centres=40, flip=0.04)
    ids = [f"s{i}" for i in range(len(db))]
    with create_index(tmp_path / "ix", kind="binary", n_bits=64) as idx:
        idx.add(ids, _bin(db))
        idx.delete(ids[10:20])
    q = np.concatenate([db[:10], uniform_codes(40, 64, rng)])  # uniform queries fall back, then skip
    opts = IndexOptions(mih_min_items=1000, searcher_options={"max_candidates": 500})
    with open_index(tmp_path / "ix", options=opts) as a, open_index(tmp_path / "ix", options=IndexOptions(backend="numpy")) as b:
        assert a.info()["backend"] == "mih"
        for k in (1, 10, 50):
            ra, rb = a.search(q, k), b.search(q, k)
            assert [r.ids for r in ra] == [r.ids for r in rb]
            assert all(np.array_equal(x.distances, y.distances) for x, y in zip(ra, rb))
        assert a.searcher().stats["direct"] > 0 and a.searcher().stats["fallbacks"] > 0
        with pytest.raises(ConfigError, match="k must be positive"):
            a.search(q, 0)


def test_pq_rejects_non_finite_queries(tmp_path):
    rng = np.random.default_rng(1)
    cb = rng.standard_normal((4, 256, 2)).astype(np.float32)
    with create_index(tmp_path / "pq", kind="pq", codebooks=cb) as idx:
        idx.add(["a"], Encoded("pq", np.zeros((1, 4), np.uint8), 32, cb))
        q = np.zeros((1, 8), np.float32)
        q[0, 3] = np.nan
        with pytest.raises(DataError, match="NaN"):
            idx.search(q, 1)
        assert idx.search(np.zeros((1, 8), np.float32), 3)[0].ids == ["a"]


def test_concurrent_searches_agree(tmp_path):
    """Searches from several threads (as a web service does) give the single-threaded answers."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    db = structured_codes(8000, 64, rng, n_centres=40, flip=0.04)
    with create_index(tmp_path / "ix", kind="binary", n_bits=64) as idx:
        idx.add([f"c{i}" for i in range(len(db))], _bin(db))
    with open_index(tmp_path / "ix", options=IndexOptions(mih_min_items=1000)) as idx:
        qs = [db[i : i + 1] for i in range(0, 400, 5)]
        want = [idx.search(_bin(q), 10)[0].ids for q in qs]
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda q: idx.search(_bin(q), 10)[0].ids, qs * 3))
        assert got == want * 3


def test_stored_metadata_reads_back_exactly_in_batched_search(tmp_path):
    """Metadata read from a snapshot equals what was stored, also values a fast JSON parser would
    refuse or change (NaN, a 30-digit integer, one past -2**63), and a batch of queries gets each
    query's own items (the batch's metadata is read in one lookup)."""
    rng = np.random.default_rng(1)
    codes = structured_codes(400, 64, rng, n_centres=8)
    ids = [f"a/{i}" for i in range(400)]
    meta = [{"caption": f"c {i}", "n": i} for i in range(400)]
    meta[3] = {"big": 123456789012345678901234567890, "nan": float("nan"), "neg": -(2**70)}
    idx = create_index(tmp_path / "ix", kind="binary", n_bits=64, options=IndexOptions(bulk_threshold=1))
    idx.add(ids, _bin(codes), meta)
    idx.close()
    with open_index(tmp_path / "ix") as ro:
        got = ro.get(["a/3"])["a/3"][1]
        assert got["big"] == 123456789012345678901234567890 and isinstance(got["big"], int)
        assert got["neg"] == -(2**70) and np.isnan(got["nan"])
        qrows = [3, 17, 250, 3]
        batch = ro.search(_bin(codes[qrows]), 7)
        for row, res in zip(qrows, batch):
            alone = ro.search(_bin(codes[[row]]), 7)[0]
            assert res.ids == alone.ids and res.distances.tolist() == alone.distances.tolist()
            assert [json.dumps(m, sort_keys=True) for m in res.metadata] == [json.dumps(meta[ids.index(i)], sort_keys=True) for i in res.ids]
