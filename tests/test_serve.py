"""The search service in-process (FastAPI TestClient): queries, items, thumbnails, limits, keys."""

from __future__ import annotations

import io

import numpy as np
import pytest

from distilhash.serve import routes

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

from fastapi.testclient import TestClient  # noqa: E402

from serve_fixtures import COLOURS, WORDS, make_world, png_bytes  # noqa: E402

KEY = "s3cret-key"


def _client(world):
    from distilhash.serve.app import create_app

    return TestClient(create_app([world["image_index"], world["text_index"]], api_key=KEY, max_upload_mb=0.05))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Shared by the tests that only read (built once per module)."""
    return make_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def client(world):
    with _client(world) as c:
        yield c


@pytest.fixture
def fresh(tmp_path):
    """A world of its own, for tests that add or delete items."""
    world = make_world(tmp_path)
    with _client(world) as c:
        yield c, world


def test_text_search_finds_matching_captions_and_images(client, world):
    r = client.get(routes.SEARCH, params={"q": "boat", "k": 5, "direction": "t2t"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["direction"] == "t2t" and len(body["results"]) == 5
    assert all("boat" in x["caption"].split() for x in body["results"][:5])
    dist = [x["distance"] for x in body["results"]]
    assert dist == sorted(dist) and dist[0] == 0
    assert body["model"]["method"] == "serve-toy-sign" and body["model"]["bits"] == 8 and body["model"]["teacher"] == "serve-toy"
    assert body["took_ms"] > 0 and {"teacher_text", "project", "search"} <= set(body["timings_ms"])

    # default direction with an image index served: text -> images; the top images are the boat-coloured ones
    r = client.get(routes.SEARCH, params={"q": "boat", "k": 4}).json()
    assert r["direction"] == "t2i"
    boat = WORDS.index("boat")
    assert all(world["first"][int(x["id"][2:])] == boat for x in r["results"])


def test_thumbnails_come_from_the_index_store(client, world):
    from PIL import Image

    res = client.get(routes.SEARCH, params={"q": "star", "k": 3}).json()["results"]
    url = res[0]["thumbnail"]
    assert url.startswith(routes.THUMBNAIL_PREFIX)
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    im = Image.open(io.BytesIO(r.content)).convert("RGB")
    assert im.size == (96, 96)
    # the thumbnail is the item's own picture: its mean colour is the star colour
    mean = np.asarray(im, np.float32).reshape(-1, 3).mean(0)
    assert np.abs(mean - COLOURS[WORDS.index("star")]).max() < 20

    item = client.get(f"{routes.ITEM_PREFIX}{res[0]['id']}").json()
    assert item["id"] == res[0]["id"] and item["metadata"]["row"] == int(res[0]["id"][2:]) and item["thumbnail"] == url


def test_image_upload_search(client, world):
    fish = COLOURS[WORDS.index("fish")]
    r = client.post(routes.SEARCH_IMAGE, files={"file": ("q.png", png_bytes(fish), "image/png")}, data={"k": "3"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["direction"] == "i2t"  # a text index is served: image -> captions
    assert all("fish" in x["caption"].split() for x in body["results"])
    r = client.post(routes.SEARCH_IMAGE, files={"file": ("q.jpg", png_bytes(fish, fmt="JPEG"), "image/jpeg")},
                    data={"k": "2", "direction": "i2i"}).json()
    assert r["direction"] == "i2i" and all(world["first"][int(x["id"][2:])] == WORDS.index("fish") for x in r["results"])


@pytest.mark.parametrize("params, status, words", [
    ({"q": ""}, 400, "empty"),
    ({"q": "   "}, 400, "empty"),
    ({"q": "x" * 501}, 400, "501 characters"),
    ({"q": "cat", "k": 0}, 422, "k"),
    ({"q": "cat", "k": 101}, 400, "from 1 to 100"),
    ({"q": "cat", "k": "many"}, 422, "k"),
    ({"q": "cat", "direction": "x2y"}, 400, "unknown direction"),
    ({"q": "cat", "direction": "i2t"}, 400, "image query"),
    ({}, 422, "q"),
])
def test_bad_text_queries_are_refused_clearly(client, params, status, words):
    r = client.get(routes.SEARCH, params=params)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


def test_bad_uploads_are_refused_clearly(client):
    r = client.post(routes.SEARCH_IMAGE, files={"file": ("notes.txt", b"hello, not an image", "text/plain")})
    assert r.status_code == 415 and "not an image" in r.json()["error"]
    r = client.post(routes.SEARCH_IMAGE, files={"file": ("empty.png", b"", "image/png")})
    assert r.status_code == 400 and "empty" in r.json()["error"]
    big = np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(big).save(buf, format="PNG")
    assert len(buf.getvalue()) > 0.05 * 2**20
    r = client.post(routes.SEARCH_IMAGE, files={"file": ("big.png", buf.getvalue(), "image/png")})
    assert r.status_code == 413 and "limit" in r.json()["error"]
    r = client.post(routes.SEARCH_IMAGE, data={"k": "3"})
    assert r.status_code == 422 and "file" in r.json()["error"]


def test_unknown_ids_and_path_traversal(client, world):
    for bad in ["nope", "..", "%2E%2E%2Fmanifest.json", "..%2F..%2Fetc%2Fpasswd", "thumbs.sqlite", "manifest.json"]:
        for route in (routes.ITEM_PREFIX, routes.THUMBNAIL_PREFIX):
            r = client.get(f"{route}{bad}")
            assert r.status_code == 404, (bad, route, r.status_code)
            assert b"format" not in r.content and b"root:" not in r.content  # never a file's content
    r = client.get(routes.ITEM_PREFIX + "nope")
    assert 'no item with id "nope"' in r.json()["error"]
    r = client.get(routes.ITEM_PREFIX + "../../manifest.json")
    assert r.status_code == 404
    r = client.get(routes.ITEM_PREFIX + "it001", params={"target": "video"})
    assert r.status_code == 400 and "unknown target" in r.json()["error"]


def test_add_and_delete_need_the_key(fresh):
    client, world = fresh
    moon = COLOURS[WORDS.index("moon")]
    form = {"id": "new-1", "caption": "a moon over water", "metadata": '{"source_note": "test"}'}
    files = {"image": ("m.png", png_bytes(moon), "image/png")}
    r = client.post(routes.ITEMS, data=form, files=files)
    assert r.status_code == 401 and "X-API-Key" in r.json()["error"]
    r = client.post(routes.ITEMS, data=form, files=files, headers={"X-API-Key": "wrong"})
    assert r.status_code == 403 and "wrong API key" in r.json()["error"]
    assert client.get(routes.ITEM_PREFIX + "new-1").status_code == 404

    r = client.post(routes.ITEMS, data=form, files=files, headers={"X-API-Key": KEY})
    assert r.status_code == 201, r.text
    assert r.json()["metadata"]["source_note"] == "test" and r.json()["thumbnail"]
    assert client.get(r.json()["thumbnail"]).status_code == 200
    # now found by an image query, and duplicates are refused
    res = client.post(routes.SEARCH_IMAGE, files={"file": ("q.png", png_bytes(moon), "image/png")},
                      data={"k": "6", "direction": "i2i"}).json()
    assert "new-1" in [x["id"] for x in res["results"]]
    assert client.post(routes.ITEMS, data=form, files=files, headers={"X-API-Key": KEY}).status_code == 409
    r = client.post(routes.ITEMS, data={"id": "new-2", "metadata": "[1, 2"}, files=files, headers={"X-API-Key": KEY})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = client.post(routes.ITEMS, data={"id": "new-3"}, headers={"X-API-Key": KEY})
    assert r.status_code == 400 and "image" in r.json()["error"]
    # a text item in the text index
    r = client.post(routes.ITEMS, data={"id": "cap-1", "caption": "dog car", "target": "text"}, headers={"X-API-Key": KEY})
    assert r.status_code == 201, r.text
    res = client.get(routes.SEARCH, params={"q": "dog car", "k": 3, "direction": "t2t"}).json()
    assert "cap-1" in [x["id"] for x in res["results"]]

    count = client.get(routes.HEALTH).json()["indexes"]["image"]
    assert client.delete(routes.ITEM_PREFIX + "new-1").status_code == 401
    assert client.delete(routes.ITEM_PREFIX + "new-1", headers={"X-API-Key": "nope"}).status_code == 403
    r = client.delete(routes.ITEM_PREFIX + "new-1", headers={"X-API-Key": KEY})
    assert r.status_code == 200 and r.json()["count"] == count - 1
    assert client.get(routes.ITEM_PREFIX + "new-1").status_code == 404
    assert client.delete(routes.ITEM_PREFIX + "new-1", headers={"X-API-Key": KEY}).status_code == 404


def test_read_only_without_key(tmp_path):
    from distilhash.serve.app import create_app

    world = make_world(tmp_path)  # its own: the module's keyed service holds the shared world's indexes as their writer
    with TestClient(create_app(world["image_index"])) as c:
        r = c.post(routes.ITEMS, data={"id": "x"}, headers={"X-API-Key": "anything"})
        assert r.status_code == 403 and "without an API key" in r.json()["error"]
        # image index only: text -> images by default; image -> captions is not available
        assert c.get(routes.SEARCH, params={"q": "cat"}).json()["direction"] == "t2i"
        r = c.post(routes.SEARCH_IMAGE, files={"file": ("q.png", png_bytes(COLOURS[0]), "image/png")})
        assert r.json()["direction"] == "i2i"
        r = c.post(routes.SEARCH_IMAGE, files={"file": ("q.png", png_bytes(COLOURS[0]), "image/png")}, data={"direction": "i2t"})
        assert r.status_code == 400 and "index of text items" in r.json()["error"]


def test_health_stats_openapi_page_and_cache(fresh):
    client, _ = fresh
    for _ in range(3):
        assert client.get(routes.SEARCH, params={"q": "tree cat", "k": 2}).status_code == 200
    stats = client.get(routes.STATS).json()
    assert stats["indexes"]["image"]["count"] == 40 and stats["indexes"]["image"]["bits"] == 8
    assert stats["indexes"]["text"]["model"]["teacher"] == "serve-toy"
    assert stats["indexes"]["image"]["thumbnails"] == 40
    lat = stats["latency_ms"]["text_query"]
    assert lat["count"] == 3 and 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert stats["text_cache"]["hits"] == 2 and stats["text_cache"]["misses"] == 1
    assert client.get(routes.HEALTH).json()["status"] == "ok"
    schema = client.get("/openapi.json").json()
    assert {routes.SEARCH, routes.SEARCH_IMAGE, "/api/items/{item_id}", "/api/thumbnails/{item_id}", routes.SIMILAR, routes.ITEMS, routes.STATS} <= set(schema["paths"])
    page = client.get("/")
    assert page.status_code == 200 and 'id="q"' in page.text and 'id="drop"' in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/../engine.py").status_code == 404


def test_text_batcher_batches_concurrent_queries(world):
    """Concurrent text queries are answered correctly, and encoded in fewer teacher calls than queries."""
    from concurrent.futures import ThreadPoolExecutor

    from distilhash.serve.engine import SearchService, ServiceConfig

    svc = SearchService([world["text_index"]], config=ServiceConfig(text_cache_size=0))
    try:
        teacher = next(iter(svc.targets.values())).encoder.teacher
        calls0 = teacher.text_calls
        queries = [f"{w} {v}" for w in WORDS for v in WORDS if w != v] * 2
        with ThreadPoolExecutor(16) as pool:
            out = list(pool.map(lambda q: svc.search_text(q, 1, "t2t"), queries))
        for q, o in zip(queries, out):
            top = set(o["results"][0]["caption"].split())
            assert top & set(q.split()), (q, top)
        calls = teacher.text_calls - calls0
        assert calls <= len(queries)
        assert svc.stats()["text_batches"]["texts"] == len(queries)
    finally:
        svc.close()


def test_cli_serve_is_registered():
    from typer.testing import CliRunner

    from distilhash.cli.main import app

    res = CliRunner().invoke(app, ["serve", "--help"])
    assert res.exit_code == 0 and "--api-key" in res.output and "--max-upload-mb" in res.output


def test_warm_builds_searchers_and_rwlock_excludes_writers(world):
    import threading
    import time

    from distilhash.serve.batching import RWLock
    from distilhash.serve.engine import SearchService

    svc = SearchService([world["image_index"]])
    try:
        svc.warm()
        assert all(t.index._searcher is not None for t in svc.targets.values())
    finally:
        svc.close()

    lock, events = RWLock(), []
    with lock.read(), lock.read():  # readers share
        t = threading.Thread(target=lambda: (lock.write().__enter__(), events.append("w")))
        t.start()
        time.sleep(0.1)
        assert events == []  # the writer waits for the readers
    t.join(timeout=5)
    assert events == ["w"]
