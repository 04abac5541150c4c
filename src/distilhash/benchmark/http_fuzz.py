"""The HTTP fuzz harness of the search service: malformed-request cases, half-open connections,
the leak patterns and the counted run (``bench/serve_fuzz.py``, ``tests/test_serve_fuzz.py``).

Each case makes raw request parts with a seeded ``random.Random``; :func:`run_fuzz` sends them
round-robin to a running server and checks every answer: no 5xx, no body that leaks internals
(:data:`LEAKS`; image bodies excepted), the expected statuses where a case defines them; then a
batch of half-open connections must be closed by the server's header deadline, and the server's
RSS is read before and after. The service's route strings come in as :class:`Routes` (this
package does not import the service).
"""

from __future__ import annotations

import io
import random
import re
import socket
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Any

from distilhash.benchmark.raw_http import Answer, exchange, multipart, request
from distilhash.benchmark.server_process import ServerProcess, rss_mib

__all__ = ["Routes", "KEY", "UPLOAD_MB", "CAP", "LEAKS", "Case", "fuzz_cases", "half_open", "leaks", "run_fuzz", "fuzz_markdown"]

KEY = "fuzz-key-0123456789"
UPLOAD_MB = 1.0
CAP = int(UPLOAD_MB * 2**20)


@dataclass(frozen=True)
class Routes:
    """The service's paths the cases use (``distilhash.serve.routes`` constants of the same names)."""

    HEALTH: str
    ITEMS: str
    ITEM_PREFIX: str
    THUMBNAIL_PREFIX: str
    SEARCH: str
    SEARCH_IMAGE: str
    SIMILAR: str
    PAGE: str

    @classmethod
    def of(cls, module: Any) -> "Routes":
        """The constants of these names from a routes module."""
        return cls(**{f.name: getattr(module, f.name) for f in fields(cls)})

    @property
    def b(self) -> SimpleNamespace:
        """The same paths as bytes, for raw requests."""
        return SimpleNamespace(**{f.name: getattr(self, f.name).encode() for f in fields(self)})


#: what a leaking body looks like
LEAKS = {
    "heap address": re.compile(rb"0x[0-9a-fA-F]{6,}"),
    "class repr": re.compile(rb"<class"),
    "traceback": re.compile(rb"Traceback"),
    "object repr": re.compile(rb"object at"),
    "exception name": re.compile(rb"\b[A-Z][A-Za-z]*(?:Error|Exception|Warning)\b"),
    # a value quoted the way Python's repr() quotes it ('it000', 'a\\x00'); messages quote values
    # JSON-style ("it000"); the literal path segments '.' and '..' of the id rules excepted
    "python repr": re.compile(rb"(?<![A-Za-z])'(?!\.\.?')[^'\s]+'"),
}


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


def _image_search(r: Routes, rng: random.Random, data: bytes, filename: bytes = b"q.png", ctype: bytes = b"image/png",
                  extra: list | None = None, chunked: bool = False) -> list[bytes]:
    body, ct = multipart([(b"file", data, filename, ctype)] + (extra or []))
    return request("POST", r.SEARCH_IMAGE, {"Content-Type": ct}, body, chunked=chunked)


def _add(r: Routes, fields: list, key: str | None = KEY, chunked: bool = False) -> list[bytes]:
    body, ct = multipart(fields)
    headers = {"Content-Type": ct}
    if key is not None:
        headers["X-API-Key"] = key
    return request("POST", r.ITEMS, headers, body, chunked=chunked)


def _img_field(rng: random.Random) -> tuple:
    return (b"image", small_image(rng), b"i.png", b"image/png")


def _fresh_id(rng: random.Random, prefix: str = "fz") -> bytes:
    return f"{prefix}-{rng.getrandbits(48):012x}".encode()


def _slash_id(rng: random.Random, ctx: dict[str, Any]) -> bytes:
    item_id = b"dir/" + _fresh_id(rng) + rng.choice([b"", b"/thumbnail", b"/x y.jpg", b"/%2F"])
    ctx.setdefault("slash_ids", []).append(item_id)
    return item_id


def _use_slash_id(r: Routes, rng: random.Random, ctx: dict[str, Any]) -> list[bytes]:
    from urllib.parse import quote_from_bytes

    ids = ctx.get("slash_ids") or [b"it000"]
    item_id = ids.pop() if len(ids) > 1 or ids[0] != b"it000" else ids[0]
    path = quote_from_bytes(item_id, safe="")
    if item_id == b"it000" or rng.random() < 0.5:
        ids.append(item_id)  # still there: fetch it or its thumbnail
        return request("GET", rng.choice([r.ITEM_PREFIX, r.THUMBNAIL_PREFIX]) + path + "?target=image")
    return request("DELETE", r.ITEM_PREFIX + path + "?target=image", {"X-API-Key": KEY})


def _query(r: Routes, rng: random.Random) -> list[bytes]:
    qs = [b"q=", b"q=%20%20", b"q=" + b"x" * rng.choice([501, 5000]), b"q=cat&k=0", b"q=cat&k=-1", b"q=cat&k=1e9",
          b"q=cat&k=" + b"9" * 40, b"q=cat&k=abc", b"q=cat&k=", b"q=cat&direction=x2y", b"q=cat&direction=i2t",
          b"q=%FF%FE%FD", b"q=%00abc", b"q=%E2%82", b"k=3", b"q=cat&q=dog&k=2&k=3", b"q=" + b"%F0%9F%98%80" * 50,
          b"q=cat%ZZ", b"q=cat&target=" + b"%FF" * 3]
    return request("GET", r.b.SEARCH + b"?" + rng.choice(qs))


def _paths(r: Routes, rng: random.Random) -> list[bytes]:
    paths = [r.b.ITEM_PREFIX + b"..%2F..%2Fmanifest.json", r.b.ITEM_PREFIX + b"%2e%2e/%2e%2e/etc/passwd", r.b.THUMBNAIL_PREFIX + b"%00",
             r.b.ITEM_PREFIX + b"%FF%FE", r.b.ITEM_PREFIX + b"a" * 8000, b"/api/nowhere", r.b.ITEM_PREFIX, b"/static/../engine.py",
             r.b.ITEM_PREFIX + b"x?target=video", r.b.THUMBNAIL_PREFIX + b"it000?target=%FF", r.b.SIMILAR + b"?id=",
             r.b.SIMILAR + b"?id=nope&k=5", r.b.SIMILAR + b"?id=it001&k=500", b"//api//health", b"/%",
             r.b.ITEM_PREFIX + b"it000/thumbnail", r.b.SIMILAR + b"?id=%FF&target=text"]
    return request(rng.choice(["GET", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "TRACE"]), rng.choice(paths))


def _bad_http(r: Routes, rng: random.Random) -> list[bytes]:
    raws = [b"GARBAGE\r\n\r\n", b"GET " + r.b.HEALTH + b" HTTP/9.9\r\n\r\n", b"GET\r\n\r\n", b"\x00\x01\x02\x03\r\n\r\n",
            b"GET " + r.b.HEALTH + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
            b"POST " + r.b.ITEMS + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nX-API-Key: " + KEY.encode() +
            b"\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n",
            b"POST " + r.b.SEARCH_IMAGE + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789",
            b"GET " + r.b.HEALTH + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n",
            b"POST " + r.b.SEARCH_IMAGE + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"]
    return [rng.choice(raws)]


def _big_headers(r: Routes, rng: random.Random) -> list[bytes]:
    """Legal but large: a 70 KB header line, 300 header lines, a 60 KB key (HTTP sets no limit; uvicorn takes them),
    a 70 KB address (over the service's request-line limit: 414)."""
    raws = [b"GET " + r.b.HEALTH + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"h" * 70_000 + b"\r\n\r\n",
            b"GET " + r.b.SEARCH + b"?q=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            b"GET " + r.b.HEALTH + b" HTTP/1.1\r\nHost: localhost\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(300)) + b"\r\n",
            b"DELETE " + r.b.ITEM_PREFIX + b"it000 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + b"\xff" * 60_000 + b"\r\n\r\n"]
    return [rng.choice(raws)]


def _content_types(r: Routes, rng: random.Random) -> list[bytes]:
    body = small_image(rng)
    kinds = [("application/json", b'{"file": "x"}'), ("text/plain", b"hello"), ("multipart/form-data", body),
             ("multipart/form-data; boundary=", body), ("multipart/form-data; boundary=zz", b"--zz\r\nbroken"),
             ("application/x-www-form-urlencoded", b"file=%FF%FE&k=3"), ("image/png", body), ("", body),
             ("multipart/form-data; boundary=fuzzBOUNDARY; charset=klingon", multipart([(b"k", b"3", None, None)])[0])]
    ct, data = rng.choice(kinds)
    route = rng.choice([r.SEARCH_IMAGE, r.ITEMS])
    headers = {"Content-Type": ct} if ct else {}
    if route == r.ITEMS:
        headers["X-API-Key"] = KEY
    return request("POST", route, headers, data)


def fuzz_cases(r: Routes) -> list[Case]:
    """The malformed-request cases against the service whose routes are ``r``."""
    return [
        Case("image bomb (search)", lambda rng, ctx: _image_search(r, rng, bomb(rng.randrange(_LARGE_OK))), frozenset({413})),
        Case("image bomb (add)", lambda rng, ctx: _add(r, [(b"id", _fresh_id(rng), None, None),
                                                        (b"image", bomb(rng.randrange(_LARGE_OK)), b"b.png", b"image/png")]), frozenset({413})),
        Case("not an image / truncated", lambda rng, ctx: _image_search(r, rng, rng.choice([
            b"hello", rng.randbytes(rng.randint(1, 4000)), b"\x89PNG\r\n\x1a\n" + rng.randbytes(200), small_image(rng)[:40],
            small_image(rng, "JPEG")[: rng.randint(20, 200)], b"GIF89a" + rng.randbytes(30), b"BM" + rng.randbytes(60),
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"])), frozenset({400, 415})),
        Case("large image at the limits (6000x6000 PNG, control)", lambda rng, ctx: _image_search(r, rng, bomb(_LARGE_OK)),
             frozenset({200})),
        Case("valid image search (control)", lambda rng, ctx: _image_search(r, rng, small_image(rng, rng.choice(["PNG", "JPEG", "WEBP"]))),
             frozenset({200})),
        Case("oversized upload (Content-Length)", lambda rng, ctx: _image_search(r, rng, rng.randbytes(CAP + rng.randint(70_000, 300_000))),
             frozenset({413})),
        Case("chunked oversize (search)", lambda rng, ctx: _image_search(r, rng, b"\0" * (2 * CAP), chunked=True), frozenset({413})),
        Case("chunked oversize (add, right key)", lambda rng, ctx: _add(r, [(b"id", _fresh_id(rng), None, None),
                                                                         (b"image", b"\0" * (2 * CAP), b"b.png", b"image/png")], chunked=True),
             frozenset({413})),
        Case("chunked upload without key", lambda rng, ctx: _add(r, [(b"id", b"nokey", None, None),
                                                                 (b"image", b"\0" * (2 * CAP), b"b.png", b"image/png")], key=None, chunked=True),
             frozenset({401})),
        Case("wrong key", lambda rng, ctx: _add(r, [(b"id", b"x", None, None)], key=rng.choice(["wrong", "", "k" * 5000, KEY[:-1], KEY + "x",
                                                                                        "x" + KEY, KEY + " x", KEY.upper()])),
             frozenset({401, 403})),
        # RFC 9110 5.5: whitespace around a field value is not part of it (parsers may or may not strip
        # it; the service compares the key without it either way), so this is the right key
        Case("right key with surrounding whitespace", lambda rng, ctx: _add(r, [(b"id", _fresh_id(rng, "ws"), None, None), _img_field(rng)],
                                                                            key=rng.choice([KEY + " ", " " + KEY, "\t" + KEY + " \t"])),
             frozenset({201})),
        Case("delete without / with wrong key", lambda rng, ctx: request("DELETE", r.ITEM_PREFIX + "it000",
                                                                          {"X-API-Key": "nope"} if rng.random() < 0.5 else {}),
             frozenset({401, 403})),
        Case("metadata: big integer", lambda rng, ctx: _add(r, [(b"id", _fresh_id(rng), None, None), _img_field(rng),
                                                             (b"metadata", b'{"n": ' + b"9" * rng.randint(21, 400) + b"}", None, None)]),
             frozenset({400})),
        Case("metadata: deep nesting", lambda rng, ctx: _add(r, [(b"id", _fresh_id(rng), None, None), _img_field(rng),
                                                              (b"metadata", deep(rng.choice([40, 255, 300, 3000]), rng.random() < 0.5), None, None)]),
             frozenset({400})),
        Case("metadata: bad JSON", lambda rng, ctx: _add(r, [(b"id", _fresh_id(rng), None, None), _img_field(rng), (b"metadata", rng.choice([
            b"{", b"[1,2", b'{"a": NaN}', b'{"a": Infinity}', b'"text"', b"[]", b"null", b"\xff\xfe", b'{"a": "\xff"}',
            b'{"a": "' + b"x" * 70_000 + b'"}', b"{'a': 1}", b'{"a": 1e999}']), None, None)]), frozenset({400})),
        Case("bad id", lambda rng, ctx: _add(r, [(b"id", rng.choice([b"ab\xff\xfe", b"\xc3\x28", b"tab\there", b"nul\x00x", b"..", b"a/../b",
                                                                  b" ", b"", b"x" * 201, b"\xed\xa0\x80"]), None, None), _img_field(rng)]),
             frozenset({400, 422})),
        Case("look-alike id", lambda rng, ctx: _add(r, [(b"id", rng.choice(LOOKALIKE_IDS).encode(), None, None), _img_field(rng)]),
             frozenset({400})),
        Case("caption inside metadata", lambda rng, ctx: _add(r, [(b"id", _fresh_id(rng, "mc"), None, None), _img_field(rng), (b"metadata", rng.choice([
            b'{"caption": 5}', b'{"caption": [1]}', b'{"caption": {"a": 1}}', b'{"caption": null}', b'{"caption": true}',
            b'{"caption": ""}', b'{"caption": "' + b"x" * 60_000 + b'"}', b'{"caption": "nul\\u0000"}', b'{"caption": "esc\\u001b"}']), None, None)]),
             frozenset({400, 422})),
        Case("id with / (add)", lambda rng, ctx: _add(r, [(b"id", _slash_id(rng, ctx), None, None), _img_field(rng)]), frozenset({201})),
        Case("id with / (fetch, thumbnail, delete)", lambda rng, ctx: _use_slash_id(r, rng, ctx), frozenset({200})),
        Case("duplicate add", lambda rng, ctx: _add(r, [(b"id", b"it000", None, None), _img_field(rng)]), frozenset({409})),
        Case("bad text query", lambda rng, ctx: _query(r, rng), frozenset({200, 400, 422})),
        Case("path and method fuzz", lambda rng, ctx: _paths(r, rng), frozenset({200, 400, 404, 405, 422})),
        Case("malformed HTTP", lambda rng, ctx: _bad_http(r, rng), frozenset({0, 400, 413, 422, 431})),
        Case("large headers", lambda rng, ctx: _big_headers(r, rng), frozenset({200, 400, 403, 414, 431})),
        Case("DNS rebinding (foreign Host)", lambda rng, ctx: request("GET", rng.choice([r.HEALTH, r.ITEM_PREFIX + "it000", r.PAGE]),
                                                                       {"Host": rng.choice(REBINDING_HOSTS)}), frozenset({421})),
        Case("cross-site Origin", lambda rng, ctx: request(rng.choice(["GET", "DELETE"]), r.ITEM_PREFIX + "it000",
                                                           {"Origin": rng.choice(FOREIGN_ORIGINS), "X-API-Key": KEY}), frozenset({403})),
        Case("wrong content type", lambda rng, ctx: _content_types(r, rng), frozenset({400, 413, 415, 422})),
        Case("body shorter than Content-Length (stall)", lambda rng, ctx: [request("POST", r.SEARCH_IMAGE,
                                                                                   {"Content-Length": "5000", "Content-Type": "multipart/form-data; boundary=B"},
                                                                                   b"")[0] + b"--B\r\n"],
             frozenset({408})),
    ]


# -- half-open connections -----------------------------------------------------------------
def half_open(r: Routes, port: int, n: int, header_timeout: float) -> dict[str, Any]:
    """Open ``n`` connections that never finish their headers; count those the server closes in time."""
    health, items = r.HEALTH.encode(), r.ITEMS.encode()
    kinds = [b"", b"GET " + health[:-3], b"GET " + health + b" HTTP/1.1\r\nHost: x\r\n", b"POST " + items + b" HTTP/1.1\r\nX-Slow: "]
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=header_timeout * 4 + 10)
        s.sendall(kinds[i % len(kinds)])
        socks.append(s)
    health = exchange(port, request("GET", r.HEALTH))  # the server still answers meanwhile
    t0 = time.monotonic()
    closed = 0
    for s in socks:
        try:
            closed += s.recv(1024) == b""
        except (socket.timeout, ConnectionResetError):
            pass
        finally:
            s.close()
    return {"opened": n, "closed_by_server": closed, "seconds_until_all_closed": round(time.monotonic() - t0, 2),
            "health_status_meanwhile": health.status}


# -- the run -------------------------------------------------------------------------------
def leaks(answer: Answer) -> list[str]:
    """The :data:`LEAKS` patterns found in a non-image answer body."""
    if answer.headers.get("content-type", "").startswith("image/"):
        return []
    return [name for name, rx in LEAKS.items() if rx.search(answer.body)]


def run_fuzz(server: ServerProcess, r: Routes, n_requests: int, seed: int = 0, n_half_open: int = 40,
             progress: bool = True) -> dict[str, Any]:
    """Send ``n_requests`` case requests (round-robin over :func:`fuzz_cases` of ``r``), then the
    half-open batch; the tallies (statuses per case, 5xx, leaking bodies, unexpected statuses, RSS)."""
    cases = fuzz_cases(r)
    rng = random.Random(seed)
    ctx: dict[str, Any] = {}
    per_case: dict[str, Counter] = defaultdict(Counter)
    problems: list[dict[str, Any]] = []
    rss_before = rss_mib(server.proc.pid)
    t0 = time.monotonic()
    for i in range(n_requests):
        case = cases[i % len(cases)]
        parts = case.make(rng, ctx)
        ans = exchange(server.port, parts, pause=case.pause)
        per_case[case.name][ans.status] += 1
        leaked = leaks(ans)
        bad_status = ans.status >= 500 or (case.expect and ans.status not in case.expect)
        if leaked or bad_status:
            problems.append({"case": case.name, "status": ans.status, "leaks": leaked, "body": ans.body[:300].decode("utf-8", "replace"),
                             "request_head": parts[0][:200].decode("latin-1")})
        if progress and (i + 1) % 200 == 0:
            print(f"  {i + 1}/{n_requests} requests, {len(problems)} problems, {time.monotonic() - t0:.0f} s", flush=True)
    half = half_open(r, server.port, n_half_open, server.spec["header_timeout"])
    rss_after = rss_mib(server.proc.pid)
    statuses = Counter()
    for c in per_case.values():
        statuses.update(c)
    return {
        "requests": n_requests + n_half_open + 1,
        "case_requests": n_requests,
        "seconds": round(time.monotonic() - t0, 1),
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "per_case": {name: {str(k): v for k, v in sorted(c.items())} for name, c in per_case.items()},
        "n_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "n_leaking_bodies": sum(1 for p in problems if p["leaks"]),
        "n_unexpected_status": sum(1 for p in problems if not p["leaks"] and p["status"] < 500),
        "problems": problems[:50],
        "half_open": half,
        "rss_mib": {"before": round(rss_before["VmRSS"], 1), "after": round(rss_after["VmRSS"], 1),
                    "growth": round(rss_after["VmRSS"] - rss_before["VmRSS"], 1), "peak": round(rss_after["VmHWM"], 1)},
    }


def fuzz_markdown(rec: dict[str, Any]) -> str:
    """The result tables of a fuzz record (``result``, ``goal``, ``server``)."""
    r = rec["result"]
    goal = rec["goal"]
    lines = [
        "# HTTP fuzz run of the search service", "",
        "| figure | value | goal |", "|---|---|---|",
        f"| requests (malformed + controls, + half-open + 1 health) | {r['requests']:,} | >= 2,000 |",
        f"| 5xx answers | {r['n_5xx']} | 0 |",
        f"| bodies leaking internals | {r['n_leaking_bodies']} | 0 |",
        f"| answers with an unexpected status | {r['n_unexpected_status']} | 0 |",
        f"| half-open connections closed by the server | {r['half_open']['closed_by_server']} / {r['half_open']['opened']} "
        f"(within {r['half_open']['seconds_until_all_closed']} s; header deadline {rec['server']['header_timeout']} s) | all |",
        f"| server RSS before / after / growth | {r['rss_mib']['before']} / {r['rss_mib']['after']} / **{r['rss_mib']['growth']} MiB** "
        f"| growth < {goal['rss_growth_mib']} MiB |",
        f"| server RSS high-water mark | {r['rss_mib']['peak']} MiB | |",
        f"| wall time | {r['seconds']} s | |", "",
        "Statuses per case:", "", "| case | statuses (count) |", "|---|---|",
    ]
    for name, c in r["per_case"].items():
        lines.append(f"| {name} | {', '.join(f'{k}: {v}' for k, v in c.items())} |")
    if r["problems"]:
        lines += ["", "First problems:", ""]
        lines += [f"- {p['case']}: status {p['status']}, leaks {p['leaks']}: `{p['body'][:120]}`" for p in r["problems"][:10]]
    return "\n".join(lines) + "\n"
