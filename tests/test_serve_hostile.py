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
