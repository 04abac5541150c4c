"""The request guard: a plain ASGI middleware in front of every route of the service.

Before the application sees a request it:

0. refuses a ``Host`` or ``Origin`` outside the allow-list, when there is one (421 / 403; DNS
   rebinding, :mod:`distilhash.serve.hosts`);
1. refuses an invalid or oversized ``Content-Length`` (413 before any byte of the body is read);
2. checks the API key of write requests (:func:`~distilhash.serve.routes.is_write`) from the
   headers, so a request without the right key is refused (401/403) before its body is read;
3. reads the body of requests that have one (at most ``max_uploads`` at once, else 503 at once;
   :mod:`distilhash.serve.limits`) into a spool that moves to disk past a few KB, counting bytes
   as they arrive: past the cap (``--max-upload-mb`` plus room for the multipart envelope) it
   answers 413 at once, chunked uploads included; a body that stalls, arrives below the minimum
   rate after its grace period, or misses its overall deadline gets 408;
4. checks that every text field of a form is valid UTF-8 (the form parser would otherwise read
   undecodable bytes as Latin-1 and store mojibake), that no field is sent twice (the form parser
   would keep one silently) and that a multipart body reaches its closing boundary (a cut-off
   upload used to read as "file: is required"): 400 naming the field or the boundary;
5. checks the same of the address's parameters on ``/api/`` routes (``q=%FF`` used to be searched
   as U+FFFD, ``q=cat&q=dog`` as "dog"): 400 naming the parameter;
6. refuses searches at once (503) while the Ray engine's cluster head does not answer
   (:func:`~distilhash.serve.engines.cluster_refusal`): they would hang until the process ends;

and counts error statuses and records the latency of each ``/api/`` route.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import IO, Any
from urllib.parse import unquote_to_bytes

from distilhash.serve.config import ServiceError
from distilhash.serve.limits import SPOOL_CHUNK, BodyLimits, BodyTooSlow, UploadSlots, receive_body
from distilhash.serve.engines import cluster_refusal
from distilhash.serve.routes import API, SEARCH, SEARCH_IMAGE, SIMILAR, is_write

__all__ = ["RequestGuard", "form_text_problem", "query_problem", "ENVELOPE_BYTES"]

#: room for the multipart envelope (boundaries, part headers, the other form fields)
ENVELOPE_BYTES = 64 << 10

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: the routes that search the index's shards (refused at once while a Ray cluster's head is lost)
_SEARCHES = frozenset({SEARCH, SEARCH_IMAGE, SIMILAR})


def form_text_problem(body: bytes | IO[bytes], content_type: str) -> str | None:
    """Why a form body's text fields are not UTF-8 (naming the field), or None when they all are.

    ``body``: the bytes, or a file positioned at their start (read in chunks; left at its end).
    Multipart file parts (those with a ``filename``) are bytes and not checked.
    """
    from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

    kind, params = parse_options_header(content_type)
    if kind == b"application/x-www-form-urlencoded" and not isinstance(body, bytes):
        body = body.read()
    if kind == b"application/x-www-form-urlencoded":
        return _pairs_problem(body, "form field", "send form fields as UTF-8")
    if kind != b"multipart/form-data" or b"boundary" not in params:
        return None
    parts: list[dict[str, Any]] = []
    cur_field = bytearray()
    cur_value = bytearray()

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        cur_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        cur_value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1]["headers"][bytes(cur_field).lower()] = bytes(cur_value)
        cur_field.clear()
        cur_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if b"filename" not in parse_options_header(parts[-1]["headers"].get(b"content-disposition"))[1]:
            parts[-1]["data"].extend(data[start:end])

    parser = MultipartParser(params[b"boundary"], {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                                                  "on_header_value": on_header_value, "on_header_end": on_header_end,
                                                  "on_part_data": on_part_data})
    try:
        if isinstance(body, bytes):
            parser.write(body)
        else:
            for chunk in iter(lambda: body.read(SPOOL_CHUNK), b""):
                parser.write(chunk)
        parser.finalize()
    except Exception:  # a malformed envelope: the form parser after us refuses it with its own 400
        return None
    if parser.state != MultipartState.END:
        boundary = params[b"boundary"].decode("latin-1")[:70]
        return (f"the multipart body ends before its closing boundary (--{_field_name(boundary.encode())}--): the upload "
                "is incomplete (cut off, or a Content-Length smaller than the body); send the whole form")
    names = Counter(parse_options_header(p["headers"].get(b"content-disposition"))[1].get(b"name", b"") for p in parts)
    repeated = next((name for name, n in names.items() if name and n > 1), None)
    if repeated is not None:
        return f"{_field_name(repeated)}: form field sent {names[repeated]} times; send it once"
    for part in parts:
        _, opts = parse_options_header(part["headers"].get(b"content-disposition"))
        if b"filename" in opts:
            continue
        raw_name = opts.get(b"name", b"")
        try:
            raw_name.decode("utf-8")
            bytes(part["data"]).decode("utf-8")
        except UnicodeDecodeError:
            return f"{_field_name(raw_name)}: not valid UTF-8 text; send form fields as UTF-8"
    return None


def query_problem(query_string: bytes) -> str | None:
    """Why an address's parameters cannot be read as sent (naming the parameter), or None.

    A parameter given twice (the framework would keep one of them silently) or not valid UTF-8
    after percent-decoding (it would be read with U+FFFD in place of the bytes).
    """
    if not query_string:
        return None
    return _pairs_problem(query_string, "parameter", "send the address's parameters as UTF-8", where="in the address")


def _pairs_problem(body: bytes, kind: str, advice: str, where: str = "") -> str | None:
    """``name=value&...`` pairs (a query string or an urlencoded form): a repeated name or bytes that are not UTF-8."""
    seen: set[bytes] = set()
    for pair in body.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        for part, what in ((name, f"a {kind} name"), (value, None)):
            if b"%" not in part and part.isascii():
                continue
            try:
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return f"{what or _field_name(name)}: not valid UTF-8 text; {advice}"
        key = unquote_to_bytes(name.replace(b"+", b" ")) if b"%" in name or b"+" in name else name
        if key in seen:
            count = sum(1 for p in body.split(b"&") if (unquote_to_bytes(p.partition(b"=")[0].replace(b"+", b" "))) == key)
            return f"{_field_name(key)}: {kind} given {count} times{' ' + where if where else ''}; send it once"
        seen.add(key)
    return None


def _field_name(raw: bytes) -> str:
    name = raw.decode("utf-8", "replace")
    return name if name.isprintable() and name and len(name) <= 40 else "a form field"


class RequestGuard:
    """ASGI middleware (see module docstring).

    Args:
        app: the wrapped ASGI application.
        svc: the :class:`~distilhash.serve.engine.SearchService` (API key check, error counts, latency stats).
        cap: largest upload in bytes (the body limit is ``cap + ENVELOPE_BYTES``).
        body_timeout: seconds a request body may stall between two chunks before a 408.
        hosts: the ``Host`` / ``Origin`` allow-list (None: no check).
        limits: how bodies must arrive and how many at once (default: :class:`BodyLimits` with
            ``stall_s=body_timeout``).
    """

    def __init__(self, app: Any, svc: Any, cap: int, body_timeout: float = 15.0, hosts: Any = None,
                 limits: BodyLimits | None = None) -> None:
        self.app, self.svc, self.cap, self.hosts = app, svc, cap, hosts
        self.limits = limits if limits is not None else BodyLimits(stall_s=body_timeout)
        self.body_timeout = self.limits.stall_s
        self.slots = UploadSlots(self.limits.max_uploads)
        self.limit = cap + ENVELOPE_BYTES

    async def _refuse(self, scope: dict, receive: Any, send: Any, status: int, message: str,
                      extra: dict[str, str] | None = None) -> None:
        from distilhash.serve.responses import refusal  # fastapi: imported when the server runs

        self.svc.errors[status] = self.svc.errors.get(status, 0) + 1
        headers = {"Connection": "close", **(extra or {})} if scope["method"] in _BODY_METHODS else extra
        await refusal(status, message, headers)(scope, receive, send)

    async def _read_body(self, receive: Any) -> tuple[IO[bytes] | None, int, str]:
        """(spool, 0, "") or (None, status, message) when it is too large or too slow; (None, 0, "") when the client left."""
        try:
            spool, _ = await receive_body(receive, self.limits, self.limit)
        except BodyTooSlow as exc:
            return None, 408, exc.message
        except OverflowError:
            return None, 413, (f"the request body passed {self.limit:,} bytes; uploads are limited to "
                               f"{self.cap:,} bytes ({self.cap / 2**20:.1f} MB)")
        return spool, 0, ""

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        svc = self.svc
        method, path = scope["method"], scope["path"]
        headers = dict(scope.get("headers") or ())
        if self.hosts is not None:
            refused = self.hosts.refusal(headers.get(b"host"), headers.get(b"origin"))
            if refused is not None:
                await self._refuse(scope, receive, send, *refused)
                return
        if path.startswith(API):
            problem = query_problem(scope.get("query_string") or b"")
            if problem is not None:
                await self._refuse(scope, receive, send, 400, problem)
                return
            if path in _SEARCHES and (down := cluster_refusal(svc.config.engine)) is not None:
                await self._refuse(scope, receive, send, 503, down, {"Retry-After": "10"})
                return
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await self._refuse(scope, receive, send, 400, "the Content-Length header is not a byte count")
                return
            if int(length) > self.limit:
                await self._refuse(scope, receive, send, 413, f"the request has {int(length):,} bytes; uploads are limited to "
                                                             f"{self.cap:,} bytes ({self.cap / 2**20:.1f} MB)")
                return
        if is_write(method, path):
            try:
                key = headers.get(b"x-api-key")
                svc.check_key(key.decode("latin-1") if key is not None else None)
            except ServiceError as exc:
                await self._refuse(scope, receive, send, exc.status, exc.message)
                return
        slot = method in _BODY_METHODS and (length not in (None, b"0") or b"transfer-encoding" in headers)
        if slot and not self.slots.try_take():
            await self._refuse(scope, receive, send, 503, f"the service is receiving {self.slots.n} uploads already; "
                                                         "try again in a moment", {"Retry-After": "1"})
            return
        try:
            if method in _BODY_METHODS:
                spool, status, message = await self._read_body(receive)
                if spool is None:
                    if status:
                        await self._refuse(scope, receive, send, status, message)
                    return  # the client went away
                with spool:
                    content_type = headers.get(b"content-type", b"").decode("latin-1")
                    problem = form_text_problem(spool, content_type) if content_type.startswith(("multipart/", "application/x-www")) else None
                    if problem is not None:
                        await self._refuse(scope, receive, send, 400, problem)
                        return
                    spool.seek(0)
                    await self._handle(scope, _replay(spool, receive), send, t0)
                return
            await self._handle(scope, receive, send, t0)
        finally:
            if slot:
                self.slots.give_back()

    async def _handle(self, scope: dict, receive: Any, send: Any, t0: float) -> None:
        """The application's answer, counting error statuses and timing ``/api/`` routes."""
        svc, method, path = self.svc, scope["method"], scope["path"]
        status_seen = [0]

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_seen[0] = message["status"]
                if status_seen[0] >= 400:
                    svc.errors[status_seen[0]] = svc.errors.get(status_seen[0], 0) + 1
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if path.startswith(API):
                route = scope.get("route")
                svc.stats_.record(f"http {method} {route.path}" if route is not None else "http other",
                                  (time.perf_counter() - t0) * 1e3)


def _replay(spool: IO[bytes], receive: Any) -> Any:
    """An ASGI ``receive`` that hands out the spooled body in chunks, then defers to the real one (disconnects)."""
    done = [False]

    async def replay() -> dict:
        if not done[0]:
            chunk = spool.read(SPOOL_CHUNK)
            more = len(chunk) == SPOOL_CHUNK
            if not more:
                done[0] = True
            return {"type": "http.request", "body": chunk, "more_body": more}
        return await receive()

    return replay
