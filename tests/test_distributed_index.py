"""The sharded index: results identical to one index over the same items; routing of add/delete/get."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from distilhash.serve import routes

from distilhash.codes import Encoded
from distilhash.index.sharded import (
    ORDER_KEY,
    create_sharded_index,
    is_sharded,
    shard_of,
)
from distilhash.errors import DataError
from distilhash.index import create_index, open_index


def _binary_items(n=400, n_bits=16, seed=0):
    rng = np.random.default_rng(seed)
    # few distinct codes: many exact distance ties, so the tie rule is exercised
    centres = rng.integers(0, 256, (6, n_bits // 8), dtype=np.uint8)
    data = centres[rng.integers(0, len(centres), n)]
    flip = rng.random((n, n_bits // 8)) < 0.1
    data = data ^ (flip * rng.integers(1, 256, data.shape)).astype(np.uint8)
    ids = [f"id{i:05d}" for i in range(n)]
    return ids, Encoded("binary", data, n_bits), [{"row": i} for i in range(n)]


def _pq_items(n=300, seed=1):
    rng = np.random.default_rng(seed)
    books = rng.normal(size=(4, 16, 2)).astype(np.float32)
    data = rng.integers(0, 4, (n, 4), dtype=np.uint8)  # few codewords used: many ties
    return [f"p{i}" for i in range(n)], Encoded("pq", data, 16, books, "l2"), [{} for _ in range(n)]


def _pair(tmp_path, ids, enc, md, n_shards=4, fanout="threads"):
    kw = {"kind": enc.kind, "n_bits": enc.n_bits if enc.kind == "binary" else None, "codebooks": enc.codebooks,
          "metric": enc.metric}
    single = create_index(tmp_path / "single", **kw)
    single.add(ids, enc, md)
    sharded = create_sharded_index(tmp_path / "sharded", n_shards, fanout=fanout, **kw)
    for start in range(0, len(ids), 97):  # several adds: order across calls matters too
        sharded.add(ids[start:start + 97], enc.take(np.arange(start, min(len(ids), start + 97))), md[start:start + 97])
    return single, sharded


def _same(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert ra.ids == rb.ids
        np.testing.assert_array_equal(ra.distances, rb.distances)
        assert ra.metadata == rb.metadata


@pytest.mark.parametrize("fanout", ["threads", "serial"])
def test_sharded_binary_search_equals_single_index_with_ties(tmp_path, fanout):
    ids, enc, md = _binary_items()
    single, sharded = _pair(tmp_path, ids, enc, md, fanout=fanout)
    counts = sharded.info()["shard_counts"]
    assert sum(counts) == len(ids) and min(counts) > 0 and len(counts) == 4
    queries = enc.take(np.arange(0, 400, 7))
    for k in (1, 10, 50, 500):
        _same(single.search(queries, k), sharded.search(queries, k))
    _same(single.search_radius(queries, 3), sharded.search_radius(queries, 3))
    assert all(ORDER_KEY not in m for r in sharded.search(queries, 20) for m in r.metadata)
    single.close(), sharded.close()


def test_sharded_pq_search_equals_single_and_survives_delete_compact_reopen(tmp_path):
    ids, enc, md = _pq_items()
    single, sharded = _pair(tmp_path, ids, enc, md)
    q = np.random.default_rng(3).normal(size=(9, 8)).astype(np.float32)
    _same(single.search(q, 25), sharded.search(q, 25))
    gone = ids[::5]
    assert single.delete(gone) == sharded.delete(gone) == len(gone)
    _same(single.search(q, 25), sharded.search(q, 25))
    sharded.compact(), single.compact()
    _same(single.search(q, 25), sharded.search(q, 25))
    # a re-added id goes last in the order, in both
    single.add([ids[0]], enc.take([0]), [{}]), sharded.add([ids[0]], enc.take([0]), [{}])
    _same(single.search(q, 300), sharded.search(q, 300))
    sharded.close()
    with open_index(tmp_path / "sharded") as again:
        assert is_sharded(tmp_path / "sharded") and len(again) == len(single)
        _same(single.search(q, 300), again.search(q, 300))
        assert again.verify().ok
    single.close()


def test_add_delete_get_route_to_the_owning_shard(tmp_path):
    ids, enc, md = _binary_items(n=80)
    with create_sharded_index(tmp_path / "s", 3, kind="binary", n_bits=16) as idx:
        idx.add(ids, enc, md)
        for s, shard in enumerate(idx.shards):
            assert all(shard_of(i, 3) == s for i, _ in shard.iter_metadata())
        got = idx.get([ids[5], "nope"])
        assert set(got) == {ids[5]} and got[ids[5]][1] == {"row": 5}
        with pytest.raises(DataError, match="already in the index"):
            idx.add([ids[3]], enc.take([3]))
        with pytest.raises(DataError, match="not in the index"):
            idx.delete([ids[1], "nope"])
        assert len(idx) == 80  # the refused delete deleted nothing
        assert idx.delete([ids[1], "nope"], missing_ok=True) == 1
        with pytest.raises(DataError, match="reserved key"):
            idx.add(["x"], enc.take([0]), [{ORDER_KEY: 1}])
        assert shard_of("abc", 7) == shard_of("abc", 7)
        sample = idx.sample_codes(30, seed=1)
        live = {bytes(c) for c, _ in idx.get([i for i in ids if i != ids[1]]).values()}
        assert sample.shape == (30, 2) and {bytes(c) for c in sample} <= live
        assert idx.sample_codes(500).shape == (len(idx), 2)  # capped at the live items


def _reshard(src, dst, n_shards):
    """A sharded copy of the index ``src`` (items in the same order)."""
    from distilhash.index import open_index

    with open_index(src) as one:
        items = list(one.iter_metadata())
        got = one.get([i for i, _ in items])
        m = one.manifest
    ids = [i for i, _ in items]
    with create_sharded_index(dst, n_shards, kind=m["kind"], n_bits=m["n_bits"], model_dir=m["model_dir"],
                              teacher=m["teacher"], extra=m["extra"]) as idx:
        idx.add(ids, np.stack([got[i][0] for i in ids]), [md for _, md in items])


def test_service_serves_a_sharded_index_like_the_single_one(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from distilhash.serve.app import create_app
    from distilhash.serve.thumbs import write_thumbnails
    from serve_fixtures import make_world

    world = make_world(tmp_path)
    _reshard(world["image_index"], tmp_path / "ix-image-sharded", 3)
    shutil.copytree(world["text_index"], tmp_path / "ix-text-2")
    write_thumbnails(tmp_path / "ix-image-sharded", datasets={world["dataset"].name: world["dataset"]}, progress=False)
    key = "k3y"
    # the keyed service writes the text index, so the other one may not serve it read-only (serve/readonly.py)
    with TestClient(create_app([world["image_index"], world["text_index"]], api_key=key)) as one, \
            TestClient(create_app([tmp_path / "ix-image-sharded", tmp_path / "ix-text-2"], api_key=key)) as sharded:
        for q in ("cat", "dog car", "moon"):
            a = one.get(routes.SEARCH, params={"q": q, "k": 12, "direction": "t2i"}).json()["results"]
            b = sharded.get(routes.SEARCH, params={"q": q, "k": 12, "direction": "t2i"}).json()["results"]
            assert [(x["id"], x["distance"], x["metadata"]) for x in a] == [(x["id"], x["distance"], x["metadata"]) for x in b]
        assert sharded.get(b[0]["thumbnail"]).status_code == 200
        assert sharded.get(routes.HEALTH).json()["indexes"]["image"] == len(world["dataset"])
        first = b[0]["id"]
        assert sharded.delete(f"{routes.ITEM_PREFIX}{first}", headers={"X-API-Key": key}).status_code == 200
        after = sharded.get(routes.SEARCH, params={"q": "moon", "k": 12, "direction": "t2i"}).json()["results"]
        assert first not in [x["id"] for x in after]


def test_order_files_are_a_rebuildable_cache(tmp_path):
    """A lost or torn order file (crash between a shard's add and the append) is recovered from metadata."""
    ids, enc, md = _binary_items(n=200)
    single, sharded = _pair(tmp_path, ids, enc, md, n_shards=3)
    sharded.close()
    (tmp_path / "sharded" / "order-000.bin").unlink()
    torn = tmp_path / "sharded" / "order-001.bin"
    torn.write_bytes(torn.read_bytes()[:-13])
    q = enc.take(np.arange(0, 200, 9))
    with open_index(tmp_path / "sharded", writable=True) as again:
        _same(single.search(q, 40), again.search(q, 40))
        again.add(["late"], enc.take([0]), [{}])  # appends after rewriting the short files
        single.add(["late"], enc.take([0]), [{}])
    with open_index(tmp_path / "sharded") as again:
        _same(single.search(q, 250), again.search(q, 250))
    single.close()


def test_cli_builds_searches_edits_and_verifies_a_sharded_index(tmp_path):
    import json

    from typer.testing import CliRunner

    from distilhash.cli.main import app
    from test_index_cli import ToySign, _encoded_file

    def cli(*args, code=0):
        res = CliRunner().invoke(app, [str(a) for a in args])
        assert res.exit_code == code, res.output + str(res.exception)
        return res.output

    model = tmp_path / "model"
    model.mkdir()
    ToySign().save(model)
    texts = ["cat dog", "car boat", "tree moon star", "fish boat", "cat", "dog", "car"]
    ids = [f"t{i}" for i in range(len(texts))]
    codes = _encoded_file(tmp_path, texts, ids)
    for name, extra in (("one", []), ("sharded", ["--shards", "3"])):
        cli("index", "build", tmp_path / name, "--codes", codes, "--modality", "text", "--model", model, *extra)
    info = json.loads(cli("index", "info", tmp_path / "sharded", "--json"))
    assert info["count"] == 7 and info["n_shards"] == 3 and sum(info["shard_counts"]) == 7
    for q in ("car boat", "cat"):
        a, b = (json.loads(cli("search", tmp_path / n, "--text", q, "--k", "7", "--json")) for n in ("one", "sharded"))
        assert a == b
    cli("index", "delete", tmp_path / "sharded", "t1")
    cli("index", "compact", tmp_path / "sharded")
    assert "ok" in cli("index", "verify", tmp_path / "sharded")
    (tmp_path / "sharded" / "shard-001" / "manifest.json").write_text("{}")
    assert "shard-001" in cli("index", "verify", tmp_path / "sharded", code=1)
