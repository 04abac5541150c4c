"""The service under hostile input: image bombs, oversized and chunked bodies, poisoned metadata,
awkward ids, half-open connections, and error bodies that must not leak internals (issue 14)."""

from __future__ import annotations

import io
import re
import socket

import numpy as np
import pytest

from distilhash.serve import routes

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

from fastapi.testclient import TestClient  # noqa: E402

from serve_fixtures import COLOURS, WORDS, ServerThread, make_world, png_bytes  # noqa: E402

KEY = "s3cret-key"
LEAK = re.compile(r"0x[0-9a-f]{6,}|<class|Traceback|Error\b|Exception\b|object at", re.I)


def _png(w: int, h: int, mode: str = "L") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("hworld"))


@pytest.fixture
def fresh(tmp_path):
    from distilhash.serve.app import create_app

    world = make_world(tmp_path)
    with TestClient(create_app([world["image_index"], world["text_index"]], api_key=KEY, max_upload_mb=0.05)) as c:
        yield c, world


def _clean(r) -> dict:
    """The JSON error body, checked for leaks of internals."""
    body = r.json()
    assert set(body) == {"error", "status"} and body["status"] == r.status_code, body
    assert not LEAK.search(body["error"]), body["error"]
    return body


# -- images -------------------------------------------------------------------------------
@pytest.mark.parametrize("w, h, words", [(1, 50_000, "aspect ratio of 50,000:1"), (1, 600_000, "aspect ratio"),
                                         (1, 40_000_000, "aspect ratio"), (7000, 7000, "(49.0 megapixels), over the limit of 40.0")])
def test_image_bombs_are_refused_from_the_header(world, w, h, words):
    from distilhash.serve.app import create_app

    data = _png(w, h)
    assert len(data) < 2**20  # under the byte cap: only the header check stops it
    with TestClient(create_app([world["image_index"], world["text_index"]], max_upload_mb=1)) as client:
        r = client.post(routes.SEARCH_IMAGE, files={"file": ("bomb.png", data, "image/png")})
    assert r.status_code == 413, r.text
    msg = _clean(r)["error"]
    assert words in msg and f"{w} x {h} pixels" in msg and msg.startswith("file:")


def test_bounded_open_is_shared_and_reduces_large_images(tmp_path):
    from PIL import Image

    from distilhash.data.images import ImageLimits, ImageTooLargeError, open_image_bounded
    from distilhash.errors import DataError

    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (10, 200, 30)).save(path, format="JPEG")
    im = open_image_bounded(path, ImageLimits(max_side=512))
    assert im.mode == "RGB" and max(im.size) == 512 and im.size == (512, 384)
    assert np.abs(np.asarray(im, np.float32).mean((0, 1)) - [10, 200, 30]).max() < 8
    with pytest.raises(ImageTooLargeError, match="aspect ratio of 50,000:1"):
        open_image_bounded(_png(50_000, 1))
    with pytest.raises(ImageTooLargeError, match=r"20 x 20 pixels \(0.0 megapixels\), over the limit"):
        open_image_bounded(_png(20, 20), ImageLimits(max_pixels=100))
    ppm = io.BytesIO()
    Image.new("RGB", (8, 8)).save(ppm, format="PPM")
    with pytest.raises(DataError, match="not an image in a supported format"):
        open_image_bounded(ppm.getvalue())
    jpeg = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(jpeg, format="JPEG")
    with pytest.raises(DataError, match="truncated or damaged") as err:
        open_image_bounded(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    assert not isinstance(err.value, ImageTooLargeError)
    with pytest.raises(DataError, match="no such file"):
        open_image_bounded(tmp_path / "missing.png")


def test_bad_uploads_get_clear_bodies(fresh):
    client, _ = fresh
    cases = [
        ({"files": {"file": ("x.txt", b"hello", "text/plain")}}, 415, "not an image"),
        ({"files": {"file": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "image/png")}}, 415, "a damaged PNG file"),
        ({"data": {"file": "just text"}}, 422, "file: expected a file upload"),
        ({"content": b'{"file": 1}', "headers": {"content-type": "application/json"}}, 422, "file: is required"),
        ({"files": {"file": ("q.png", png_bytes(COLOURS[0]), "image/png")}, "data": {"k": "lots"}}, 422, "k: expected an integer"),
        ({"files": {"file": ("q.png", png_bytes(COLOURS[0]), "image/png")}, "data": {"direction": "t2i"}}, 400, "text query"),
    ]
    for kwargs, status, words in cases:
        r = client.post(routes.SEARCH_IMAGE, **kwargs)
        assert r.status_code == status, (kwargs, r.text)
        assert words in _clean(r)["error"], r.text
    for r in (client.get("/api/nowhere"), client.put(routes.ITEM_PREFIX + "x"), client.get(routes.SEARCH, params={"q": "cat", "k": "1e9"})):
        _clean(r)


# -- bodies and keys ----------------------------------------------------------------------
def _raw(port: int, head: bytes, chunks: list[bytes] = (), read_first: bool = False) -> bytes:
    """Send ``head`` then ``chunks`` (stopping early when the server already answered); the answer's bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        if read_first:
            return s.recv(65536)
        for c in chunks:
            try:
                s.sendall(c)
            except (BrokenPipeError, ConnectionResetError):
                break
        out = b""
        try:
            while True:
                got = s.recv(65536)
                if not got:
                    break
                out += got
        except (ConnectionResetError, socket.timeout):
            pass
        return out


@pytest.fixture(scope="module")
def live(world):
    from distilhash.serve.app import create_app
    from distilhash.serve.connections import protocol_class

    app = create_app([world["image_index"], world["text_index"]], api_key=KEY, max_upload_mb=0.05, body_timeout=1.0)
    with ServerThread(app, http=protocol_class(header_timeout=1.0)) as url:
        yield int(url.rsplit(":", 1)[1]), app.state.service


def test_write_key_is_checked_before_the_body_is_read(live):
    port, _ = live
    head = (b"POST /api/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=B\r\n\r\n")
    # no body sent at all: the answer comes from the headers alone
    answer = _raw(port, head, read_first=True)
    assert answer.startswith(b"HTTP/1.1 401") and b"X-API-Key" in answer
    answer = _raw(port, head.replace(b"\r\n\r\n", b"\r\nX-API-Key: wrong\r\n\r\n"), read_first=True)
    assert answer.startswith(b"HTTP/1.1 403")


def test_chunked_body_over_the_cap_is_refused_while_streaming(live):
    port, svc = live
    head = (b"POST /api/search/image HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=B\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (32 << 10, b"a" * (32 << 10))
    answer = _raw(port, head, [chunk] * 64)  # 2 MB offered against a 0.05 MB cap
    assert answer.startswith(b"HTTP/1.1 413") and b"limited to" in answer
    # with a valid key, the add route is capped the same way
    answer = _raw(port, head.replace(routes.SEARCH_IMAGE.encode(), routes.ITEMS.encode()).replace(b"\r\n\r\n", f"\r\nX-API-Key: {KEY}\r\n\r\n".encode()),
                  [chunk] * 64)
    assert answer.startswith(b"HTTP/1.1 413")
    assert svc.errors.get(413, 0) >= 2


def test_stalled_body_gets_408_and_silent_connections_are_closed(live):
    port, _ = live
    head = (b"POST /api/search/image HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            b"Content-Type: multipart/form-data; boundary=B\r\n\r\n--B\r\n")
    assert _raw(port, head).startswith(b"HTTP/1.1 408")  # 1,000 bytes announced, 5 sent, then silence
    # a connection that sends nothing, or half a request line, is closed by the server
    for partial in (b"", b"GET /api/heal"):
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(partial)
            assert s.recv(1024) == b""  # closed by the server (the socket timeout would raise instead)


# -- metadata -----------------------------------------------------------------------------
@pytest.mark.parametrize("metadata, words", [
    ('{"n": ' + "9" * 30 + "}", "64 bits"),
    ('{"n": ' + "-9" * 1 + "9" * 25 + "}", "64 bits"),
    ("[" * 300 + "]" * 300, "JSON object"),
    ('{"a": ' + "[" * 300 + "]" * 300 + "}", "nested"),
    ('{"a": NaN}', "not a JSON number"),
    ('{"a": Infinity}', "not a JSON number"),
    ('"text"', "JSON object"),
    ('{"a": "' + "x" * 70_000 + '"}', "limit"),
    ('{"a": 1', "not valid JSON"),
])
def test_metadata_is_checked_before_anything_is_stored(fresh, metadata, words):
    client, _ = fresh
    before = client.get(routes.HEALTH).json()["indexes"]
    r = client.post(routes.ITEMS, data={"id": "poison", "caption": "cat", "metadata": metadata},
                    files={"image": ("c.png", png_bytes(COLOURS[0]), "image/png")}, headers={"X-API-Key": KEY})
    assert r.status_code == 400 and words in _clean(r)["error"], r.text
    assert client.get(routes.ITEM_PREFIX + "poison").status_code == 404
    assert client.get(routes.THUMBNAIL_PREFIX + "poison").status_code == 404
    assert client.get(routes.HEALTH).json()["indexes"] == before


def test_items_stored_earlier_with_unencodable_metadata_are_served_with_a_note(tmp_path):
    from distilhash.index import open_index
    from distilhash.serve.app import create_app

    world = make_world(tmp_path)
    deep: list = []
    node = deep
    for _ in range(400):
        node.append([])
        node = node[0]
    teacher_codes = None
    with open_index(world["image_index"], writable=True) as idx:
        teacher_codes = idx.get(["it000"])["it000"][0]
        idx.add(["old-big", "old-deep"], np.stack([teacher_codes, teacher_codes]),
                [{"caption": "cat", "n": 10**40}, {"caption": "cat", "tree": deep}])
    with TestClient(create_app([world["image_index"], world["text_index"]])) as client:
        r = client.get(routes.SEARCH, params={"q": "cat", "k": 20})
        assert r.status_code == 200, r.text
        got = {x["id"]: x for x in r.json()["results"]}
        assert {"old-big", "old-deep"} <= set(got)
        assert got["old-big"]["metadata"]["n"] == str(10**40) and "metadata_note" in got["old-big"]
        assert "metadata_note" in got["old-deep"] and "metadata_note" not in got["it000"]
        item = client.get(routes.ITEM_PREFIX + "old-big")
        assert item.status_code == 200 and "metadata_note" in item.json()


# -- ids and thumbnails --------------------------------------------------------------------
def test_refused_duplicate_keeps_the_existing_thumbnail(fresh):
    client, _ = fresh
    form = {"id": "dup", "caption": "a moon"}
    moon, sun = png_bytes(COLOURS[WORDS.index("moon")]), png_bytes(COLOURS[WORDS.index("star")])
    assert client.post(routes.ITEMS, data=form, files={"image": ("m.png", moon, "image/png")}, headers={"X-API-Key": KEY}).status_code == 201
    before = client.get(routes.THUMBNAIL_PREFIX + "dup").content
    r = client.post(routes.ITEMS, data=form, files={"image": ("s.png", sun, "image/png")}, headers={"X-API-Key": KEY})
    assert r.status_code == 409 and "already in the image index" in _clean(r)["error"]
    assert client.get(routes.THUMBNAIL_PREFIX + "dup").content == before


@pytest.mark.parametrize("item_id", ["cats/001.jpg", "a/thumbnail", "/lead", "sp ace?#&", "ünï/cødé"])
def test_ids_with_slashes_and_odd_characters_work_everywhere(fresh, item_id):
    from urllib.parse import quote

    client, _ = fresh
    r = client.post(routes.ITEMS, data={"id": item_id, "caption": "a moon"},
                    files={"image": ("m.png", png_bytes(COLOURS[WORDS.index("moon")]), "image/png")}, headers={"X-API-Key": KEY})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == item_id
    assert client.get(body["url"]).json()["id"] == item_id
    assert client.get(body["thumbnail"]).headers["content-type"] == "image/webp"
    res = client.get(routes.SIMILAR, params={"id": item_id, "k": 20}).json()
    assert res["item"]["id"] == item_id
    assert item_id in [x["id"] for x in res["results"]] and res["results"][0]["distance"] == 0
    r = client.delete(f"{routes.ITEM_PREFIX}{quote(item_id, safe='')}", headers={"X-API-Key": KEY})
    assert r.status_code == 200 and r.json()["deleted"] == item_id
    assert client.get(body["url"]).status_code == 404


def test_percent_signs_in_ids_survive_a_real_server(live):
    """(The in-process TestClient decodes paths twice; uvicorn once, as clients expect.)"""
    import httpx

    port, _ = live
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": KEY}) as client:
        r = client.post(routes.ITEMS, data={"id": "x%2Fy/z", "caption": "cat", "target": "text"})
        assert r.status_code == 201, r.text
        assert client.get(r.json()["url"]).json()["id"] == "x%2Fy/z"
        assert client.delete(r.json()["url"]).json()["deleted"] == "x%2Fy/z"


@pytest.mark.parametrize("raw_id, words", [(b"ab\xff\xfe", "not valid UTF-8"), (b"tab\there", "U+0009"), (b"..", "'..'"),
                                            (b"a/./b", "'.'"), (b" ", "non-empty"), (b"x" * 201, "limit is 200")])
def test_bad_ids_are_refused_clearly(fresh, raw_id, words):
    client, _ = fresh
    body = (b'--XX\r\nContent-Disposition: form-data; name="id"\r\n\r\n' + raw_id +
            b'\r\n--XX\r\nContent-Disposition: form-data; name="caption"\r\n\r\ncat\r\n'
            b'--XX\r\nContent-Disposition: form-data; name="target"\r\n\r\ntext\r\n--XX--\r\n')
    r = client.post(routes.ITEMS, content=body, headers={"content-type": "multipart/form-data; boundary=XX", "X-API-Key": KEY})
    assert r.status_code == 400 and words in _clean(r)["error"], r.text
    assert client.get(routes.HEALTH).json()["indexes"]["text"] == 40


# -- answers -------------------------------------------------------------------------------
def test_answers_say_what_the_distance_is_and_how_the_best_hit_compares(tmp_path):
    from distilhash.serve.app import create_app

    world = make_world(tmp_path)  # its own: a read-only service does not run beside the module's keyed one (serve/readonly.py)
    with TestClient(create_app([world["image_index"], world["text_index"]])) as client:
        body = client.get(routes.SEARCH, params={"q": "boat", "k": 3}).json()
        assert body["distance"]["kind"] == "hamming" and body["distance"]["bits"] == 8
        m = body["match"]
        assert m["best"] == body["results"][0]["distance"] and m["sample"] == 40
        assert m["typical"] > m["best"] and m["contrast"] > 0
        assert isinstance(body["notes"], list)


def test_match_reference_uses_the_index_distances(tmp_path):
    """The sampled 'typical' distances are exactly the distances the index reports, binary and PQ."""
    from distilhash.codes import Encoded
    from distilhash.index import create_index
    from distilhash.serve.match import MatchReference

    rng = np.random.default_rng(0)
    n = 300
    for kind in ("binary", "pq-ip", "pq-l2"):
        d = tmp_path / kind
        if kind == "binary":
            idx = create_index(d, kind="binary", n_bits=16)
            codes = rng.integers(0, 256, (n, 2), dtype=np.uint8)
            query = rng.integers(0, 256, (1, 2), dtype=np.uint8)
            idx.add([f"i{i}" for i in range(n)], codes)
            q = Encoded("binary", query, 16)
        else:
            cb = rng.normal(size=(4, 16, 3)).astype(np.float32)
            idx = create_index(d, kind="pq", codebooks=cb, metric=kind[3:])
            codes = rng.integers(0, 16, (n, 4), dtype=np.uint8)
            idx.add([f"i{i}" for i in range(n)], codes)
            q = rng.normal(size=(1, 12)).astype(np.float32)
        ref = MatchReference(idx, n=50, seed=1)
        res = idx.search(q, n)[0]
        by_code = {}
        all_codes = {i: c for i, (c, _) in idx.get(res.ids).items()}
        for i, dist in zip(res.ids, res.distances):
            by_code.setdefault(all_codes[i].tobytes(), float(dist))
        got = ref.distances(q)[0]
        want = [by_code[c.tobytes()] for c in ref.codes]
        assert np.allclose(got, want, atol=1e-4), kind
        idx.close()


def test_more_like_this_on_a_pq_index_starts_with_the_item(tmp_path):
    """PQ: the query is the item's reconstruction from the codebooks; with l2 it is at distance 0 from itself."""
    from serve_fixtures import ServeToySign, ServeToyTeacher

    from distilhash.index import create_index
    from distilhash.query_encoders.query_encoder import ModelQueryEncoder
    from distilhash.serve.engine import SearchService
    from distilhash.serve.match import distance_info

    rng = np.random.default_rng(3)
    cb = rng.normal(size=(4, 16, 3)).astype(np.float32)
    with create_index(tmp_path / "pq", kind="pq", codebooks=cb, metric="l2", extra={"modality": "image"}) as idx:
        codes = np.unique(rng.integers(0, 16, (80, 4), dtype=np.uint8), axis=0)
        idx.add([f"p{i}" for i in range(len(codes))], codes, [{"caption": f"item {i}"} for i in range(len(codes))])
        assert distance_info(idx)["kind"] == "adc-l2"
    encoder = ModelQueryEncoder.from_method(ServeToySign(), ServeToyTeacher())  # "more like this" encodes nothing
    svc = SearchService([tmp_path / "pq"], encoder=encoder)
    try:
        res = svc.similar("p7", k=5)
        assert res["results"][0]["id"] == "p7" and res["results"][0]["distance"] == pytest.approx(0, abs=1e-5)
        assert res["distance"]["kind"] == "adc-l2" and res["match"]["typical"] > res["match"]["best"]
        with pytest.raises(Exception, match='no item with id "nope"'):
            svc.similar("nope")
    finally:
        svc.close()


def test_cli_query_images_use_the_same_bounded_opener(tmp_path):
    from distilhash.errors import DataError
    from distilhash.query_encoders.query_encoder import load_images

    strip = tmp_path / "strip.png"
    strip.write_bytes(_png(1, 600_000))
    with pytest.raises(DataError, match=r"query image: image file .*strip.png is 1 x 600000 pixels, an aspect ratio"):
        load_images([strip])
    ok = tmp_path / "ok.png"
    ok.write_bytes(_png(3000, 2000, "RGB"))
    (im,) = load_images([ok])
    assert im.mode == "RGB" and im.size == (1024, 683)
