"""IVF lists persisted beside the index: round trip, staleness, damaged files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from distilhash.codes import Encoded
from distilhash.index import IndexOptions, create_index, open_index
from distilhash.index.ivf_state import STATE_FILE

M, K, D = 8, 256, 4
IVF = {"nlist": 16, "nprobe": 4}


def _data(n: int = 4000, seed: int = 0):
    rng = np.random.default_rng(seed)
    cb = rng.normal(size=(M, K, D)).astype(np.float32)
    codes = rng.integers(0, K, (n, M), dtype=np.uint8)
    q = rng.normal(size=(6, M * D)).astype(np.float32)
    return cb, codes, q


def _build(path, cb, codes, bulk_threshold: int = 1000):
    idx = create_index(path, kind="pq", codebooks=cb, options=IndexOptions(bulk_threshold=bulk_threshold))
    idx.add([f"i{j}" for j in range(len(codes))], Encoded("pq", codes, 64, cb, "l2"))
    return idx


def _search(path, q, **opts):
    with open_index(path, options=IndexOptions(backend="ivf", searcher_options={**IVF, **opts})) as ix:
        res = ix.search(q, 10)
        return [r.ids for r in res], [r.distances for r in res], dict(ix.searcher().stats)


def test_round_trip_reuses_centroids_and_lists(tmp_path):
    cb, codes, q = _data()
    _build(tmp_path / "ix", cb, codes).close()
    ids1, d1, st1 = _search(tmp_path / "ix", q)
    assert st1["state"] == "missing" and st1["trained_on"] > 0
    assert (tmp_path / "ix" / STATE_FILE).is_file()
    ids2, d2, st2 = _search(tmp_path / "ix", q)
    assert st2["state"] == "loaded" and st2["trained_on"] == 0 and st2["reused_rows"] == len(codes)
    assert ids1 == ids2
    assert all(np.array_equal(a, b) for a, b in zip(d1, d2))


def test_appended_rows_extend_the_stored_lists(tmp_path):
    cb, codes, q = _data()
    idx = _build(tmp_path / "ix", cb, codes[:3000])
    idx.close()
    _search(tmp_path / "ix", q)  # writes the state for 3000 rows
    with open_index(tmp_path / "ix", writable=True) as ix:  # small add: logged, same generation
        ix.add([f"i{j}" for j in range(3000, 3100)], Encoded("pq", codes[3000:3100], 64, cb, "l2"))
    _, _, st = _search(tmp_path / "ix", q)
    assert st["state"] == "loaded" and st["reused_rows"] == 3000 and st["trained_on"] == 0


def test_changed_rows_are_reassigned_and_other_options_retrain(tmp_path):
    cb, codes, q = _data()
    idx = _build(tmp_path / "ix", cb, codes)
    _search(tmp_path / "ix", q)
    idx.delete([f"i{j}" for j in range(10)])
    idx.compact()  # renumbers the rows: the stored lists no longer match
    idx.close()
    ids, _, st = _search(tmp_path / "ix", q)
    assert st["state"].startswith("loaded centroids") and st["reused_rows"] == 0 and st["trained_on"] == 0
    assert not any(i in ("i0", "i5") for r in ids for i in r)
    _, _, st = _search(tmp_path / "ix", q)  # the reassigned lists were saved
    assert st["state"] == "loaded" and st["reused_rows"] == len(codes) - 10
    _, _, st = _search(tmp_path / "ix", q, nlist=8)
    assert st["state"].startswith("stale") and st["trained_on"] > 0 and st["nlist"] == 8


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_damaged_state_is_reported_and_rebuilt(tmp_path, damage):
    cb, codes, q = _data()
    _build(tmp_path / "ix", cb, codes).close()
    ids_ok, d_ok, _ = _search(tmp_path / "ix", q)
    path = tmp_path / "ix" / STATE_FILE
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-7] ^= 0x40  # inside the list assignment
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"not a state file at all")
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids, d, st = _search(tmp_path / "ix", q)
    assert st["state"].startswith("damaged") and st["trained_on"] > 0
    assert any("rebuilding the IVF lists" in str(w.message) for w in caught)
    assert ids == ids_ok and all(np.array_equal(a, b) for a, b in zip(d, d_ok))  # same seed: same lists
    _, _, st = _search(tmp_path / "ix", q)
    assert st["state"] == "loaded"  # rewritten whole


def test_other_searchers_write_no_state(tmp_path):
    cb, codes, q = _data(n=500)
    _build(tmp_path / "ix", cb, codes).close()
    with open_index(tmp_path / "ix", options=IndexOptions(backend="numpy")) as ix:
        ix.search(q, 3)
    assert not (tmp_path / "ix" / STATE_FILE).exists()
