"""What an outsider's probe of a running service found (docs/serve.md, "An outsider's probe"): an
address or form that cannot be read as sent is refused naming the parameter, a cut-off multipart
body says it was cut off, and the form parser's own limits say which limit."""

from __future__ import annotations

import json
import socket

import pytest

from distilhash.serve import routes

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

from fastapi.testclient import TestClient  # noqa: E402

from serve_fixtures import COLOURS, ServerThread, make_app, png_bytes  # noqa: E402

KEY = "outsider-key"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return make_app(tmp_path_factory.mktemp("oworld"), api_key=KEY)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def _refusal(r, status: int = 400) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "status"}, body
    return body["error"]


def _form(*parts: tuple[str, str | None, bytes], boundary: bytes = b"B0und") -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += b"--" + boundary + b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


MP = {"Content-Type": "multipart/form-data; boundary=B0und"}


@pytest.mark.parametrize("query", ["q=%FF%FEcat", "q=%ED%A0%80", "q=cat&direction=t2i%C0"])
def test_address_parameters_that_are_not_utf8_are_refused(client, query):
    """They used to be searched with U+FFFD in place of the bytes (a 200 for a query nobody typed)."""
    name = query.rsplit("&", 1)[-1].split("=")[0]
    assert _refusal(client.get(f"{routes.SEARCH}?{query}")) == f"{name}: not valid UTF-8 text; send the address's parameters as UTF-8"


@pytest.mark.parametrize("path, query, name", [
    (routes.SEARCH, "q=cat&q=dog", "q"), (routes.SEARCH, "q=cat&k=3&k=200", "k"),
    (routes.SEARCH, "q=cat&direction=t2i&direction=t2t", "direction"), (routes.SIMILAR, "id=a&id=b", "id"),
    (routes.SEARCH, "q=cat&%6B=3&k=4", "k"),  # the same name percent-encoded
])
def test_a_parameter_given_twice_is_refused_not_read_as_one_of_them(client, path, query, name):
    """The framework kept the last value silently: ``q=cat&q=dog`` searched "dog"."""
    assert _refusal(client.get(f"{path}?{query}")) == f"{name}: parameter given 2 times in the address; send it once"


def test_plain_and_unicode_queries_still_pass(client):
    for query in ("q=cat&k=3", "q=caf%C3%A9&k=2", "q=%F0%9F%90%88", "q=a+red+heart&direction=t2i"):
        r = client.get(f"{routes.SEARCH}?{query}")
        assert r.status_code == 200, (query, r.text)
    assert client.get(f"{routes.SEARCH}?q=caf%C3%A9").json()["query"] == "café"


@pytest.mark.parametrize("parts, name", [
    ((("file", "a.png", png_bytes(COLOURS[0])), ("file", "b.png", b"not an image")), "file"),
    ((("file", "a.png", png_bytes(COLOURS[0])), ("k", None, b"3"), ("k", None, b"300")), "k"),
])
def test_a_form_field_sent_twice_is_refused(client, parts, name):
    """Two ``file`` parts used to search the second one (a 415 about a file the user may never have meant)."""
    r = client.post(routes.SEARCH_IMAGE, content=_form(*parts), headers=MP)
    assert _refusal(r) == f"{name}: form field sent 2 times; send it once"


def test_an_urlencoded_field_sent_twice_is_refused(client):
    r = client.post(routes.SEARCH_IMAGE, content=b"k=3&k=4", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert _refusal(r) == "k: form field given 2 times; send it once"


def test_a_multipart_body_cut_off_says_so(client):
    """It used to be a 422 "file: is required" although the file part was there, only unfinished."""
    whole = _form(("file", "a.png", png_bytes(COLOURS[1])))
    for cut in (whole[:-12], whole[:len(whole) // 2]):
        message = _refusal(client.post(routes.SEARCH_IMAGE, content=cut, headers=MP))
        assert message.startswith("the multipart body ends before its closing boundary (--B0und--)"), message
    assert client.post(routes.SEARCH_IMAGE, content=whole, headers=MP).status_code == 200


def test_a_content_length_shorter_than_the_body_is_a_cut_off_body(app):
    """Over a real socket: the server reads Content-Length bytes, the rest is not the form's."""
    body = _form(("file", "a.png", png_bytes(COLOURS[2])))
    with ServerThread(app) as url:
        port = int(url.rsplit(":", 1)[1])
        head = (f"POST {routes.SEARCH_IMAGE} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                f"Content-Type: multipart/form-data; boundary=B0und\r\nContent-Length: 100\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(head + body)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        status = answer.split(b" ", 2)[1]
        error = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]
        assert status == b"400" and "closing boundary" in error, answer[:300]


@pytest.mark.parametrize("content, ctype, expected", [
    (_form(*((f"f{i}", None, b"x") for i in range(1001))), MP["Content-Type"],
     "the form has more than 1,000 fields; send only the fields this route reads"),
    (_form(("file", "a.png", png_bytes(COLOURS[0])), ("metadata", None, b'{"a": "' + b"x" * (1 << 20) + b'"}')),
     MP["Content-Type"], "a text field of the form is over 1,024 KB; send a file as a file part (with a filename), "
                         "and metadata under 64 KB"),
    (_form(("file", "a.png", png_bytes(COLOURS[0]))), "multipart/form-data",
     "the multipart/form-data Content-Type has no boundary (multipart/form-data; boundary=...)"),
    (b"--B0und\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--B0und--\r\n", MP["Content-Type"],
     "a part of the multipart form has no name (Content-Disposition: form-data; name=file)"),
])
def test_the_form_parsers_limits_say_which_limit(client, content, ctype, expected):
    """They all read "the request body is not a well-formed form" (a 1 MB metadata field too)."""
    r = client.post(routes.ITEMS if b"metadata" in content else routes.SEARCH_IMAGE, content=content,
                    headers={"Content-Type": ctype, "X-API-Key": KEY})
    assert _refusal(r) == expected


def _raw(port: int, request: bytes) -> tuple[int, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_a_long_address_and_unreadable_http_get_json_refusals_that_say_why(app, http):
    """An address past 65,535 bytes read as a plain-text "Invalid HTTP request received." (the parser's URL
    reader stops there), under the 128 KB header cap the docs promised; so did every request the parser refused."""
    pytest.importorskip(http)
    from distilhash.serve.connections import MAX_LINE_BYTES, H11WithDeadline, HttpToolsWithDeadline

    protocol = HttpToolsWithDeadline if http == "httptools" else H11WithDeadline
    with ServerThread(app, http=protocol) as url:
        port = int(url.rsplit(":", 1)[1])
        for n in (MAX_LINE_BYTES, 70_000, 120_000):
            status, body = _raw(port, f"GET {routes.SEARCH}?q={'a' * n} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            assert status == 414 and body["error"].startswith("the request line is longer than 65,000 bytes"), body
        status, body = _raw(port, f"GET {routes.SEARCH}?q={'a' * 20_000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert status == 400 and body["error"] == "q: the query text has 20000 characters; the limit is 500"
        status, body = _raw(port, b"BREW /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # llhttp knows no BREW, h11 any token
        assert (status, body["error"][:24]) in {(400, "the request is not valid"), (405, "BREW is not allowed on /")}, body
        for bad in (b"\x16\x03\x01\x02\x00" + b"\x00" * 40 + b"\r\n\r\n",
                    b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n",
                    b"POST /api/search/image HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"):
            status, body = _raw(port, bad)
            assert status == 400 and body["error"].startswith("the request is not valid HTTP/1.1"), (bad[:30], body)
        assert _raw(port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")[0] == 200


def _png_with_text_chunk(inflated: int) -> bytes:
    import struct
    import zlib

    base = png_bytes(COLOURS[3])
    data = b"Comment\x00\x00" + zlib.compress(b"A" * inflated, 9)
    chunk = struct.pack(">I", len(data)) + b"zTXt" + data + struct.pack(">I", zlib.crc32(b"zTXt" + data) & 0xFFFFFFFF)
    return base[:33] + chunk + base[33:]  # after the signature and IHDR


def test_a_png_whose_text_chunk_is_a_bomb_is_named_a_damaged_png(client):
    """Pillow refuses a text chunk inflating past 1 MB; the answer said "not an image in a supported format"."""
    r = client.post(routes.SEARCH_IMAGE, files={"file": ("x.png", _png_with_text_chunk(4 << 20), "image/png")})
    assert _refusal(r, 415) == "file: the upload is a damaged PNG file: its header chunks cannot be read"
    r = client.post(routes.SEARCH_IMAGE, files={"file": ("x.png", b"GIF89a" + b"\x00" * 30, "image/png")})  # the bytes decide
    assert "a damaged GIF file" in _refusal(r, 415)
    r = client.post(routes.SEARCH_IMAGE, files={"file": ("x.png", b"hello world", "image/png")})
    assert "not an image in a supported format" in _refusal(r, 415)
