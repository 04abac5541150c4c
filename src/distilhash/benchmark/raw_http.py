"""A raw HTTP/1.1 client over sockets for benchmarks that send what a polite client never would:
malformed request lines, forged lengths, chunked or trickled bodies (``bench/serve_fuzz.py``).

:func:`request` builds a request's parts (headers, then the body whole or in chunks),
:func:`multipart` a form body byte by byte, :func:`exchange` sends the parts on a new
connection to 127.0.0.1 (stopping early when the server answers or closes) and reads one
:class:`Answer`.
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Answer", "exchange", "request", "multipart"]


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
