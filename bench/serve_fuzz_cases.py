"""Requests for the HTTP fuzz run (``bench/serve_fuzz.py``): a raw HTTP/1.1 client over sockets,
hostile payloads (image bombs with real or forged headers, deep JSON, bad ids) and the case list.

Each :class:`Case` makes the request parts of one malformed (or control) request from a random
generator; ``expect`` lists the statuses a correct service may answer.
"""

from __future__ import annotations

import io
import random
import socket
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from distilhash.serve import routes

#: the routes as bytes, for raw requests
RB = SimpleNamespace(**{name: getattr(routes, name).encode() for name in
                        ("HEALTH", "ITEMS", "ITEM_PREFIX", "THUMBNAIL_PREFIX", "SEARCH", "SEARCH_IMAGE", "SIMILAR")})

KEY = "fuzz-key-0123456789"
UPLOAD_MB = 1.0
CAP = int(UPLOAD_MB * 2**20)

# -- raw HTTP ------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int  # 0 = the server closed the connection without an answer
    headers: dict[str, str]
    body: bytes
    closed_early: bool = False  # the server answered before the whole request was sent


def exchange(port: int, parts: list[bytes], timeout: float = 30.0, pause: float = 0.0) -> Answer:
    """Send ``parts`` on a new connection (stop early when the server answers or closes); read one answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        early = False
        for i, part in enumerate(parts):
            try:
                s.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                early = True
                break
            if pause:
                time.sleep(pause)
            if i < len(parts) - 1 and _readable(s):
                early = True
                break
        return _read_answer(s, early)


def _readable(s: socket.socket) -> bool:
    import select

    return bool(select.select([s], [], [], 0)[0])


def _read_answer(s: socket.socket, early: bool) -> Answer:
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            got = s.recv(65536)
            if not got:
                return Answer(0, {}, buf, early)
            buf += got
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(body) < n:
                got = s.recv(65536)
                if not got:
                    break
                body += got
        elif headers.get("transfer-encoding") == "chunked":
            while not body.endswith(b"0\r\n\r\n"):
                got = s.recv(65536)
                if not got:
                    break
                body += got
        return Answer(status, headers, body, early)
    except (ConnectionResetError, socket.timeout):
        return Answer(0, {}, buf, early)


def request(method: str, path: bytes | str, headers: dict[str, Any] | None = None, body: bytes = b"",
            chunked: bool = False, chunk: int = 32 << 10) -> list[bytes]:
    """The parts of an HTTP/1.1 request (headers, then the body in one part or in chunks)."""
    path = path.encode("latin-1") if isinstance(path, str) else path
    h = {"Host": "127.0.0.1", "Connection": "close", **(headers or {})}
    if chunked:
        h["Transfer-Encoding"] = "chunked"
    elif body and "Content-Length" not in h:
        h["Content-Length"] = str(len(body))
    head = method.encode() + b" " + path + b" HTTP/1.1\r\n"
    head += b"".join(k.encode("latin-1") + b": " + (v if isinstance(v, bytes) else str(v).encode("latin-1")) + b"\r\n"
                     for k, v in h.items()) + b"\r\n"
    if not chunked:
        return [head + body] if len(body) < (256 << 10) else [head] + [body[i:i + chunk] for i in range(0, len(body), chunk)]
    parts = [head] + [b"%x\r\n%s\r\n" % (len(body[i:i + chunk]), body[i:i + chunk]) for i in range(0, len(body), chunk)]
    return parts + [b"0\r\n\r\n"]


def multipart(fields: list[tuple[bytes, bytes, bytes | None, bytes | None]], boundary: bytes = b"fuzzBOUNDARY") -> tuple[bytes, str]:
    """(body, content type) of a multipart form: ``(name, value, filename or None, content type or None)``."""
    out = b""
    for name, value, filename, ctype in fields:
        disp = b'form-data; name="' + name + b'"' + (b'; filename="' + filename + b'"' if filename is not None else b"")
        out += b"--" + boundary + b"\r\nContent-Disposition: " + disp + b"\r\n"
        if ctype:
            out += b"Content-Type: " + ctype + b"\r\n"
        out += b"\r\n" + value + b"\r\n"
    return out + b"--" + boundary + b"--\r\n", "multipart/form-data; boundary=" + boundary.decode()


# -- payloads ------------------------------------------------------------------------------
def png(w: int, h: int, mode: str = "L") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, format="PNG")
    return buf.getvalue()


def small_image(rng: random.Random, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (rng.randint(8, 64), rng.randint(8, 64)), tuple(rng.randrange(256) for _ in range(3))).save(buf, format=fmt)
    return buf.getvalue()


def png_with_header(w: int, h: int) -> bytes:
    """A 1x1 PNG whose IHDR claims ``w x h`` (valid CRC): a header-only bomb."""
    data = bytearray(png(1, 1))
    ihdr = 8 + 8  # signature + length + type
    data[ihdr:ihdr + 8] = w.to_bytes(4, "big") + h.to_bytes(4, "big")
    crc = zlib.crc32(bytes(data[12:ihdr + 13]))
    data[ihdr + 13:ihdr + 17] = crc.to_bytes(4, "big")
    return bytes(data)


def gif_with_screen(w: int, h: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("P", (1, 1)).save(buf, format="GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = w.to_bytes(2, "little") + h.to_bytes(2, "little")
    return bytes(data)


def jpeg_with_size(w: int, h: int) -> bytes:
    """A small JPEG whose SOF claims ``w x h``."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG")
    data = bytearray(buf.getvalue())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = h.to_bytes(2, "big") + w.to_bytes(2, "big")
    return bytes(data)


_BOMBS: list[Callable[[], bytes]] = [
    lambda: png(1, 50_000), lambda: png(1, 600_000), lambda: png(50_000, 1), lambda: png(1, 40_000_000),
    lambda: png_with_header(60_000, 60_000), lambda: png_with_header(7_000, 7_000), lambda: png_with_header(1, 2**31 - 1),
    lambda: gif_with_screen(65_535, 65_535), lambda: jpeg_with_size(65_000, 65_000), lambda: jpeg_with_size(60_000, 2),
]
_LARGE_OK = len(_BOMBS)  # index of an image inside every limit but large: 6000x6000 (36 Mpx)
_BOMBS.append(lambda: png(6000, 6000, "RGB"))
_BOMB_CACHE: dict[int, bytes] = {}


def bomb(i: int) -> bytes:
    if i not in _BOMB_CACHE:
        _BOMB_CACHE[i] = _BOMBS[i]()
    return _BOMB_CACHE[i]


def deep(n: int, obj: bool = True) -> bytes:
    inner = b'{"a":' * n + b"1" + b"}" * n if obj else b"[" * n + b"]" * n
    return b'{"x":' + inner + b"}"


# -- the cases -----------------------------------------------------------------------------
@dataclass
class Case:
    """One kind of malformed request: ``make(rng, ctx)`` -> request parts; ``expect`` = allowed statuses."""

    name: str
    make: Callable[[random.Random, dict[str, Any]], list[bytes]]
    expect: frozenset[int] = frozenset()
    pause: float = 0.0


#: ids that would look like another id or like nothing (zero-width, bidi override, tag, line
#: separator, private use, surrounding whitespace, byte-order mark, bidi isolate)
LOOKALIKE_IDS = ["\u200b", "id\u200b", "a\u202eb", "tag\U000e0041", "a\u2028b", "pua\ue000", "trailing ", " leading",
                 "nbsp\u00a0", "bom\ufeff", "x\u2066y"]


#: Host headers a DNS-rebinding page makes the browser send to the loopback service
REBINDING_HOSTS = ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "localhost.evil.example:80",
                   "LOCALHOST.evil.example", "[::2]:80", "0.0.0.0", "127.0.0.2"]
#: Origins of other sites (and the opaque "null")
FOREIGN_ORIGINS = ["http://evil.example", "https://evil.example:8443", "null", "http://127.0.0.1.evil.example",
                   "file://", "http://localhost.evil.example"]


def _image_search(rng: random.Random, data: bytes, filename: bytes = b"q.png", ctype: bytes = b"image/png",
                  extra: list | None = None, chunked: bool = False) -> list[bytes]:
    body, ct = multipart([(b"file", data, filename, ctype)] + (extra or []))
    return request("POST", routes.SEARCH_IMAGE, {"Content-Type": ct}, body, chunked=chunked)


def _add(fields: list, key: str | None = KEY, chunked: bool = False) -> list[bytes]:
    body, ct = multipart(fields)
    headers = {"Content-Type": ct}
    if key is not None:
        headers["X-API-Key"] = key
    return request("POST", routes.ITEMS, headers, body, chunked=chunked)


def _img_field(rng: random.Random) -> tuple:
    return (b"image", small_image(rng), b"i.png", b"image/png")


def _fresh_id(rng: random.Random, prefix: str = "fz") -> bytes:
    return f"{prefix}-{rng.getrandbits(48):012x}".encode()


def _slash_id(rng: random.Random, ctx: dict[str, Any]) -> bytes:
    item_id = b"dir/" + _fresh_id(rng) + rng.choice([b"", b"/thumbnail", b"/x y.jpg", b"/%2F"])
    ctx.setdefault("slash_ids", []).append(item_id)
    return item_id


def _use_slash_id(rng: random.Random, ctx: dict[str, Any]) -> list[bytes]:
    from urllib.parse import quote_from_bytes

    ids = ctx.get("slash_ids") or [b"it000"]
    item_id = ids.pop() if len(ids) > 1 or ids[0] != b"it000" else ids[0]
    path = quote_from_bytes(item_id, safe="")
    if item_id == b"it000" or rng.random() < 0.5:
        ids.append(item_id)  # still there: fetch it or its thumbnail
        return request("GET", rng.choice([routes.ITEM_PREFIX, routes.THUMBNAIL_PREFIX]) + path + "?target=image")
    return request("DELETE", routes.ITEM_PREFIX + path + "?target=image", {"X-API-Key": KEY})


def _query(rng: random.Random) -> list[bytes]:
    qs = [b"q=", b"q=%20%20", b"q=" + b"x" * rng.choice([501, 5000]), b"q=cat&k=0", b"q=cat&k=-1", b"q=cat&k=1e9",
          b"q=cat&k=" + b"9" * 40, b"q=cat&k=abc", b"q=cat&k=", b"q=cat&direction=x2y", b"q=cat&direction=i2t",
          b"q=%FF%FE%FD", b"q=%00abc", b"q=%E2%82", b"k=3", b"q=cat&q=dog&k=2&k=3", b"q=" + b"%F0%9F%98%80" * 50,
          b"q=cat%ZZ", b"q=cat&target=" + b"%FF" * 3]
    return request("GET", RB.SEARCH + b"?" + rng.choice(qs))


def _paths(rng: random.Random) -> list[bytes]:
    paths = [RB.ITEM_PREFIX + b"..%2F..%2Fmanifest.json", RB.ITEM_PREFIX + b"%2e%2e/%2e%2e/etc/passwd", RB.THUMBNAIL_PREFIX + b"%00",
             RB.ITEM_PREFIX + b"%FF%FE", RB.ITEM_PREFIX + b"a" * 8000, b"/api/nowhere", RB.ITEM_PREFIX, b"/static/../engine.py",
             RB.ITEM_PREFIX + b"x?target=video", RB.THUMBNAIL_PREFIX + b"it000?target=%FF", RB.SIMILAR + b"?id=",
             RB.SIMILAR + b"?id=nope&k=5", RB.SIMILAR + b"?id=it001&k=500", b"//api//health", b"/%",
             RB.ITEM_PREFIX + b"it000/thumbnail", RB.SIMILAR + b"?id=%FF&target=text"]
    return request(rng.choice(["GET", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "TRACE"]), rng.choice(paths))


def _bad_http(rng: random.Random) -> list[bytes]:
    raws = [b"GARBAGE\r\n\r\n", b"GET " + RB.HEALTH + b" HTTP/9.9\r\n\r\n", b"GET\r\n\r\n", b"\x00\x01\x02\x03\r\n\r\n",
            b"GET " + RB.HEALTH + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
            b"POST " + RB.ITEMS + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nX-API-Key: " + KEY.encode() +
            b"\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n",
            b"POST " + RB.SEARCH_IMAGE + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789",
            b"GET " + RB.HEALTH + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
            b"POST " + RB.SEARCH_IMAGE + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"]
    return [rng.choice(raws)]


def _big_headers(rng: random.Random) -> list[bytes]:
    """Legal but large: a 70 KB header line, 300 header lines, a 60 KB key (HTTP sets no limit; uvicorn takes them)."""
    raws = [b"GET " + RB.HEALTH + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"h" * 70_000 + b"\r\n\r\n",
            b"GET " + RB.HEALTH + b" HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(300)) + b"\r\n",
            b"DELETE " + RB.ITEM_PREFIX + b"it000 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + b"\xff" * 60_000 + b"\r\n\r\n"]
    return [rng.choice(raws)]


def _content_types(rng: random.Random) -> list[bytes]:
    body = small_image(rng)
    kinds = [("application/json", b'{"file": "x"}'), ("text/plain", b"hello"), ("multipart/form-data", body),
             ("multipart/form-data; boundary=", body), ("multipart/form-data; boundary=zz", b"--zz\r\nbroken"),
             ("application/x-www-form-urlencoded", b"file=%FF%FE&k=3"), ("image/png", body), ("", body),
             ("multipart/form-data; boundary=fuzzBOUNDARY; charset=klingon", multipart([(b"k", b"3", None, None)])[0])]
    ct, data = rng.choice(kinds)
    route = rng.choice([routes.SEARCH_IMAGE, routes.ITEMS])
    headers = {"Content-Type": ct} if ct else {}
    if route == routes.ITEMS:
        headers["X-API-Key"] = KEY
    return request("POST", route, headers, data)


CASES: list[Case] = [
    Case("image bomb (search)", lambda rng, ctx: _image_search(rng, bomb(rng.randrange(_LARGE_OK))), frozenset({413})),
    Case("image bomb (add)", lambda rng, ctx: _add([(b"id", _fresh_id(rng), None, None),
                                                    (b"image", bomb(rng.randrange(_LARGE_OK)), b"b.png", b"image/png")]), frozenset({413})),
    Case("not an image / truncated", lambda rng, ctx: _image_search(rng, rng.choice([
        b"hello", rng.randbytes(rng.randint(1, 4000)), b"\x89PNG\r\n\x1a\n" + rng.randbytes(200), small_image(rng)[:40],
        small_image(rng, "JPEG")[: rng.randint(20, 200)], b"GIF89a" + rng.randbytes(30), b"BM" + rng.randbytes(60),
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"])), frozenset({400, 415})),
    Case("large image at the limits (6000x6000 PNG, control)", lambda rng, ctx: _image_search(rng, bomb(_LARGE_OK)),
         frozenset({200})),
    Case("valid image search (control)", lambda rng, ctx: _image_search(rng, small_image(rng, rng.choice(["PNG", "JPEG", "WEBP"]))),
         frozenset({200})),
    Case("oversized upload (Content-Length)", lambda rng, ctx: _image_search(rng, rng.randbytes(CAP + rng.randint(70_000, 300_000))),
         frozenset({413})),
    Case("chunked oversize (search)", lambda rng, ctx: _image_search(rng, b"\0" * (2 * CAP), chunked=True), frozenset({413})),
    Case("chunked oversize (add, right key)", lambda rng, ctx: _add([(b"id", _fresh_id(rng), None, None),
                                                                     (b"image", b"\0" * (2 * CAP), b"b.png", b"image/png")], chunked=True),
         frozenset({413})),
    Case("chunked upload without key", lambda rng, ctx: _add([(b"id", b"nokey", None, None),
                                                             (b"image", b"\0" * (2 * CAP), b"b.png", b"image/png")], key=None, chunked=True),
         frozenset({401})),
    Case("wrong key", lambda rng, ctx: _add([(b"id", b"x", None, None)], key=rng.choice(["wrong", "", "k" * 5000, KEY[:-1], KEY + "x",
                                                                                    "x" + KEY, KEY + " x", KEY.upper()])),
         frozenset({401, 403})),
    # RFC 9110 5.5: whitespace around a field value is not part of it (parsers may or may not strip
    # it; the service compares the key without it either way), so this is the right key
    Case("right key with surrounding whitespace", lambda rng, ctx: _add([(b"id", _fresh_id(rng, "ws"), None, None), _img_field(rng)],
                                                                        key=rng.choice([KEY + " ", " " + KEY, "\t" + KEY + " \t"])),
         frozenset({201})),
    Case("delete without / with wrong key", lambda rng, ctx: request("DELETE", routes.item_path("it000"),
                                                                      {"X-API-Key": "nope"} if rng.random() < 0.5 else {}),
         frozenset({401, 403})),
    Case("metadata: big integer", lambda rng, ctx: _add([(b"id", _fresh_id(rng), None, None), _img_field(rng),
                                                         (b"metadata", b'{"n": ' + b"9" * rng.randint(21, 400) + b"}", None, None)]),
         frozenset({400})),
    Case("metadata: deep nesting", lambda rng, ctx: _add([(b"id", _fresh_id(rng), None, None), _img_field(rng),
                                                          (b"metadata", deep(rng.choice([40, 255, 300, 3000]), rng.random() < 0.5), None, None)]),
         frozenset({400})),
    Case("metadata: bad JSON", lambda rng, ctx: _add([(b"id", _fresh_id(rng), None, None), _img_field(rng), (b"metadata", rng.choice([
        b"{", b"[1,2", b'{"a": NaN}', b'{"a": Infinity}', b'"text"', b"[]", b"null", b"\xff\xfe", b'{"a": "\xff"}',
        b'{"a": "' + b"x" * 70_000 + b'"}', b"{'a': 1}", b'{"a": 1e999}']), None, None)]), frozenset({400})),
    Case("bad id", lambda rng, ctx: _add([(b"id", rng.choice([b"ab\xff\xfe", b"\xc3\x28", b"tab\there", b"nul\x00x", b"..", b"a/../b",
                                                              b" ", b"", b"x" * 201, b"\xed\xa0\x80"]), None, None), _img_field(rng)]),
         frozenset({400, 422})),
    Case("look-alike id", lambda rng, ctx: _add([(b"id", rng.choice(LOOKALIKE_IDS).encode(), None, None), _img_field(rng)]),
         frozenset({400})),
    Case("caption inside metadata", lambda rng, ctx: _add([(b"id", _fresh_id(rng, "mc"), None, None), _img_field(rng), (b"metadata", rng.choice([
        b'{"caption": 5}', b'{"caption": [1]}', b'{"caption": {"a": 1}}', b'{"caption": null}', b'{"caption": true}',
        b'{"caption": ""}', b'{"caption": "' + b"x" * 60_000 + b'"}', b'{"caption": "nul\\u0000"}', b'{"caption": "esc\\u001b"}']), None, None)]),
         frozenset({400, 422})),
    Case("id with / (add)", lambda rng, ctx: _add([(b"id", _slash_id(rng, ctx), None, None), _img_field(rng)]), frozenset({201})),
    Case("id with / (fetch, thumbnail, delete)", lambda rng, ctx: _use_slash_id(rng, ctx), frozenset({200})),
    Case("duplicate add", lambda rng, ctx: _add([(b"id", b"it000", None, None), _img_field(rng)]), frozenset({409})),
    Case("bad text query", lambda rng, ctx: _query(rng), frozenset({200, 400, 422})),
    Case("path and method fuzz", lambda rng, ctx: _paths(rng), frozenset({200, 400, 404, 405, 422})),
    Case("malformed HTTP", lambda rng, ctx: _bad_http(rng), frozenset({0, 400, 413, 422, 431})),
    Case("large headers", lambda rng, ctx: _big_headers(rng), frozenset({200, 400, 403, 431})),
    Case("DNS rebinding (foreign Host)", lambda rng, ctx: request("GET", rng.choice([routes.HEALTH, routes.item_path("it000"), routes.PAGE]),
                                                                   {"Host": rng.choice(REBINDING_HOSTS)}), frozenset({421})),
    Case("cross-site Origin", lambda rng, ctx: request(rng.choice(["GET", "DELETE"]), routes.item_path("it000"),
                                                       {"Origin": rng.choice(FOREIGN_ORIGINS), "X-API-Key": KEY}), frozenset({403})),
    Case("wrong content type", lambda rng, ctx: _content_types(rng), frozenset({400, 413, 415, 422})),
    Case("body shorter than Content-Length (stall)", lambda rng, ctx: [request("POST", routes.SEARCH_IMAGE,
                                                                               {"Content-Length": "5000", "Content-Type": "multipart/form-data; boundary=B"},
                                                                               b"")[0] + b"--B\r\n"],
         frozenset({408})),
]
