"""The service under hostile clients (issue 27) and the write key as HTTP defines it (issue 23):
strict ids, typed captions, the key compared without surrounding whitespace."""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

from fastapi.testclient import TestClient  # noqa: E402

from serve_fixtures import COLOURS, ServerThread, make_world, png_bytes  # noqa: E402

KEY = "hostile-key-42"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_world(tmp_path_factory.mktemp("hostile"))


@pytest.fixture
def client(tmp_path):
    from distilhash.serve.app import create_app

    w = make_world(tmp_path)
    with TestClient(create_app([w["image_index"], w["text_index"]], api_key=KEY, max_upload_mb=0.05)) as c:
        yield c


def _add(client, item_id: str, key: str = KEY, **form):
    files = {"image": ("i.png", png_bytes(COLOURS[0]), "image/png")}
    return client.post("/api/items", data={"id": item_id, **form}, files=files, headers={"X-API-Key": key})


# -- the write key ------------------------------------------------------------------------
@pytest.mark.parametrize("sent", [KEY + " ", " " + KEY, "\t" + KEY + " \t"])
def test_key_with_surrounding_whitespace_is_the_key(client, sent):
    """RFC 9110 5.5: OWS around a field value is not part of it; the test client does not strip it,
    so this is the server's own comparison."""
    assert _add(client, "ws-1", key=sent).status_code == 201


@pytest.mark.parametrize("sent, status", [("", 401), ("  ", 401), (KEY[:-1], 403), (KEY + "x", 403), (KEY + " x", 403),
                                          ("x" + KEY, 403), (KEY.upper(), 403), ("k" * 5000, 403)])
def test_wrong_keys_are_refused(client, sent, status):
    r = _add(client, "wk-1", key=sent)
    assert r.status_code == status, r.text
    assert client.get("/api/items/wk-1").status_code == 404


def test_key_with_whitespace_over_a_real_socket(world):
    """The same through a real HTTP parser (whether it strips OWS or not, the answer is the same)."""
    from distilhash.serve.app import create_app

    app = create_app([world["image_index"], world["text_index"]], api_key=KEY, max_upload_mb=0.05)
    body = (b"--B\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\nsock-1\r\n--B\r\nContent-Disposition: form-data; "
            b"name=\"image\"; filename=\"i.png\"\r\nContent-Type: image/png\r\n\r\n" + png_bytes(COLOURS[1]) + b"\r\n--B--\r\n")
    with ServerThread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        for key_line, want in ((b"X-API-Key: \t" + KEY.encode() + b" \t", b"201"), (b"X-API-Key: " + KEY.encode() + b"x ", b"403")):
            head = (b"POST /api/items HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + key_line +
                    b"\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: %d\r\n\r\n" % len(body))
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                s.sendall(head + body)
                answer = s.recv(65536)
            assert answer.split(b" ", 2)[1] == want, answer[:200]


@pytest.mark.parametrize("key", [" k", "k\t", "kéy", "k\x00", ""])
def test_a_key_no_client_could_send_is_refused_at_start(key):
    from distilhash.serve.config import ServiceConfig, ServiceError

    if key == "":  # empty means read-only, as without a key
        assert ServiceConfig(api_key=key).api_key is None
        return
    with pytest.raises(ServiceError, match="api key"):
        ServiceConfig(api_key=key)


# -- ids ----------------------------------------------------------------------------------
@pytest.mark.parametrize("item_id, words", [
    ("\u200b", "U+200B"), ("id\u200b", "U+200B"), ("a\u202eb", "U+202E"), ("x\u2066y", "U+2066"),
    ("tag\U000e0041", "U+E0041"), ("a\u2028b", "U+2028"), ("a\u2029b", "U+2029"), ("pua\ue000", "U+E000"),
    ("soft\u00adhyphen", "U+00AD"), ("bom\ufeff", "U+FEFF"), ("esc\x1b", "U+001B"), ("id ", "whitespace"),
    (" id", "whitespace"), ("id\u00a0", "whitespace"), ("\u3000id", "whitespace"), ("a/../b", "'..'"),
    ("x" * 201, "limit is 200"),
])
def test_ids_that_look_like_others_are_refused(client, item_id, words):
    r = _add(client, item_id)
    assert r.status_code == 400, r.text
    message = r.json()["error"]
    assert words in message and "\\u" not in message and "'\\" not in message
    assert client.get("/api/health").json()["indexes"]["image"] == 40


def test_ids_are_stored_nfc_and_found_by_either_spelling(client):
    nfd, nfc = "cafe\u0301", "caf\u00e9"
    r = _add(client, nfd)
    assert r.status_code == 201 and r.json()["id"] == nfc
    assert _add(client, nfc).status_code == 409  # the same word: one item
    from urllib.parse import quote

    assert client.get(f"/api/items/{quote(nfd)}").json()["id"] == nfc
    assert client.get(f"/api/items/{quote(nfc)}").json()["id"] == nfc
    assert client.delete(f"/api/items/{quote(nfd)}", headers={"X-API-Key": KEY}).json()["deleted"] == nfc
    assert client.get(f"/api/items/{quote(nfc)}").status_code == 404


@pytest.mark.parametrize("item_id", ["inner space ok", "dir/file name.jpg", "日本語", "emoji-🐈", "ÆØÅ"])
def test_ordinary_ids_are_still_accepted(client, item_id):
    assert _add(client, item_id).status_code == 201


# -- captions -----------------------------------------------------------------------------
@pytest.mark.parametrize("caption, status", [(5, 422), ([1], 422), ({"a": 1}, 422), (None, 422), (True, 422), (1.5, 422),
                                             ("", 400), ("   ", 400), ("x" * 60_000, 400), ("nul\x00", 400), ("esc\x1b[31m", 400)])
def test_captions_inside_metadata_get_the_caption_rules(client, caption, status):
    import json

    r = _add(client, "md-cap", metadata=json.dumps({"caption": caption}))
    assert r.status_code == status, r.text
    assert r.json()["error"].startswith("metadata.caption:")
    assert client.get("/api/items/md-cap").status_code == 404


def test_a_caption_in_metadata_is_stored_stripped_and_the_field_wins(client):
    import json

    r = _add(client, "cap-a", metadata=json.dumps({"caption": "  a red cat\n"}))
    assert r.status_code == 201 and r.json()["caption"] == "a red cat"
    r = _add(client, "cap-b", metadata=json.dumps({"caption": "from metadata"}), caption="from the field")
    assert r.json()["caption"] == "from the field"
    r = client.post("/api/items", data={"id": "cap-t", "caption": "x" * 501, "target": "text"}, headers={"X-API-Key": KEY})
    assert r.status_code == 400 and "500" in r.json()["error"]


def test_non_text_caption_through_the_python_api_is_422(world):
    from distilhash.serve.config import ServiceError
    from distilhash.serve.engine import SearchService

    svc = SearchService([world["text_index"]])
    try:
        with pytest.raises(ServiceError) as err:
            svc.add_item("py-1", caption=5)
        assert err.value.status == 422
    finally:
        svc.close()


# -- Host / Origin (DNS rebinding) --------------------------------------------------------
@pytest.fixture(scope="module")
def loopback_app(world):
    from distilhash.serve.app import create_app
    from distilhash.serve.hosts import default_allowed_hosts

    with TestClient(create_app([world["image_index"], world["text_index"]], api_key=KEY,
                               allowed_hosts=default_allowed_hosts("127.0.0.1", ["search.example.org"]))) as c:
        yield c


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil.example:80",
                                  "LOCALHOST.EVIL.EXAMPLE", "[::2]:80", "0.0.0.0:8000", "127.0.0.2", "testserver", "search.example.org.evil"])
def test_foreign_host_names_are_refused(loopback_app, host):
    for path in ("/api/health", "/", "/api/items/it000", "/api/search?q=cat"):
        r = loopback_app.get(path, headers={"Host": host})
        assert r.status_code == 421, (host, path, r.status_code)
        assert "--allowed-host" in r.json()["error"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost:1234", "LocalHost", "[::1]:8000", "search.example.org",
                                  "search.example.org:443"])
def test_loopback_and_allowed_names_are_served(loopback_app, host):
    assert loopback_app.get("/api/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("origin, status", [("http://evil.example", 403), ("null", 403), ("file://", 403),
                                            ("http://127.0.0.1.evil.example:8000", 403), ("http://localhost:8000", 200),
                                            ("http://127.0.0.1:8000", 200), ("https://search.example.org", 200)])
def test_cross_site_origins_are_refused(loopback_app, origin, status):
    r = loopback_app.get("/api/health", headers={"Host": "127.0.0.1:8000", "Origin": origin})
    assert r.status_code == status
    r = loopback_app.delete("/api/items/nope", headers={"Host": "127.0.0.1:8000", "Origin": origin, "X-API-Key": KEY})
    assert r.status_code == (403 if status == 403 else 404)


def test_allow_list_defaults_follow_the_binding():
    from distilhash.serve.hosts import default_allowed_hosts

    assert set(default_allowed_hosts("127.0.0.1")) == {"127.0.0.1", "localhost", "::1"}
    assert "::1" in default_allowed_hosts("::1") and "localhost" in default_allowed_hosts("localhost")
    assert default_allowed_hosts("0.0.0.0") is None  # reachable by any name: checks only when told names
    assert "search.example.org" in default_allowed_hosts("0.0.0.0", ["search.example.org"])
    assert default_allowed_hosts("127.0.0.1", ["*"]) is None


def test_requests_without_host_are_not_browsers_and_pass(world):
    from distilhash.serve.app import create_app
    from distilhash.serve.hosts import default_allowed_hosts

    app = create_app([world["image_index"]], allowed_hosts=default_allowed_hosts("127.0.0.1"))
    with ServerThread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        for head, want in ((b"GET /api/health HTTP/1.0\r\n\r\n", b"200"), (b"GET /api/health HTTP/1.0\r\nHost: evil.example\r\n\r\n", b"421")):
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                s.sendall(head)
                assert s.recv(65536).split(b" ", 2)[1] == want
