"""Every acknowledged write checked: the ledger of what writers were told, and its verification
through the running service and on disk after it stopped (``bench/serve_writes.py``).

Acknowledged = durable: an add answered 201 must be fetchable by id with its metadata, found by a
search for its own code, and present when the index is reopened from its files; a delete answered
200 must be gone from both. A write without an answer (timeout) is reported apart, not checked.
The service's paths come in as arguments (this package does not import the service).
"""

from __future__ import annotations

import io
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np

__all__ = ["Ledger", "WriteClient", "Writer", "image_pool", "verify_live", "verify_on_disk"]


def image_pool(dataset: str, rows: list[int], n: int, seed: int) -> list[tuple[int, bytes]]:
    """``n`` PNG files (dataset row, bytes) of ``rows``' images; past ``len(rows)`` the images come
    again with a little pixel noise (a new picture for the teacher, the same caption)."""
    from PIL import Image

    from distilhash.data.store import open_prepared

    ds, _ = open_prepared(dataset)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        r = rows[i % len(rows)]
        px = np.asarray(ds.images.load(r), np.int16)
        if i >= len(rows):
            px = np.clip(px + rng.integers(-12, 13, px.shape), 0, 255)
        buf = io.BytesIO()
        Image.fromarray(px.astype(np.uint8)).save(buf, format="PNG")
        out.append((r, buf.getvalue()))
    return out


class Ledger:
    """What the writers were told: acknowledged adds and deletes, and writes without an answer."""

    def __init__(self) -> None:
        self.added: dict[str, dict] = {}  # id -> metadata sent
        self.deleted: set[str] = set()
        self.unknown: set[str] = set()  # no answer: the write may or may not have happened
        self.refused: list[str] = []
        self.ms: dict[str, list[float]] = {"add": [], "delete": [], "read_back": []}
        self.read_back = {"checked": 0, "stale": 0, "examples": []}


@dataclass(frozen=True)
class WriteClient:
    """How a writer speaks to the service: the load generator's raw-request and form builders, its
    "accepted" answer (not an error) and the service's paths (passed in: this package does not
    import the service)."""

    request: Callable[..., bytes]  #: (method, path, host, port, headers=None, body=b"") -> request bytes
    multipart: Callable[[dict[str, str], dict[str, tuple[str, bytes, str]]], tuple[str, bytes]]  #: -> (content type, body)
    accepted: str
    items: str  #: POST: add an item
    item_prefix: str  #: + quoted id: one item (GET, DELETE)


class Writer:
    """One writing client (a load-generator session: ``kind``, ``pause_s``, ``next_request``,
    ``done``): adds an item (an image of ``images``, its caption, metadata naming the writer and
    ``tag``) or, with probability ``p_delete`` when it has live items, deletes one it added; with
    ``read_back`` every acknowledged write is read back at once on a new connection. What it was
    told goes to ``ledger``."""

    kind = "write"

    def __init__(self, wid: int, key: str, host: str, port: int, images: list[tuple[int, bytes]], captions: list[str],
                 p_delete: float, ledger: Ledger, seed: int, http: WriteClient, pause_s: float = 0.0, read_back: bool = False,
                 tag: str = "serve_writes") -> None:
        self.http, self.tag = http, tag
        self.pause_s = pause_s
        self.read_back = read_back
        self.check: tuple[str, str, dict | None] | None = None  # (op, id, metadata) to read back next
        self.wid, self.key, self.host, self.port = wid, key, host, port
        self.images, self.captions, self.p_delete, self.ledger = images, captions, p_delete, ledger
        self.rng = random.Random(seed)
        self.live: list[str] = []
        self.n = 0
        self.pending: tuple[str, str, dict | None, float] | None = None

    def next_request(self) -> tuple[str, bytes]:
        http_request, multipart = self.http.request, self.http.multipart
        close = {"Connection": "close"} if self.read_back else {}
        if self.check is not None:
            op, item_id, md = self.check
            self.pending = ("read_back", item_id, md, time.perf_counter())
            return f"READ {item_id}", http_request("GET", self.http.item_prefix + quote(item_id, safe=""), self.host, self.port)
        if self.live and self.rng.random() < self.p_delete:
            item_id = self.live.pop(self.rng.randrange(len(self.live)))
            self.pending = ("delete", item_id, None, time.perf_counter())
            path = self.http.item_prefix + quote(item_id, safe="")
            return f"DELETE {item_id}", http_request("DELETE", path, self.host, self.port, {"X-API-Key": self.key, **close})
        item_id = f"w{self.wid}-{self.n}"
        row, png = self.images[(self.wid * 7919 + self.n * 53) % len(self.images)]
        self.n += 1
        md = {"writer": self.wid, "row": row, "bench": self.tag}
        ctype, body = multipart({"id": item_id, "caption": self.captions[row], "metadata": json.dumps(md)},
                                {"image": (f"{item_id}.png", png, "image/png")})
        self.pending = ("add", item_id, md, time.perf_counter())
        return f"ADD {item_id}", http_request("POST", self.http.items, self.host, self.port,
                                              {"X-API-Key": self.key, "Content-Type": ctype, **close}, body)

    def done(self, label: str, status: int | None, body: bytes) -> str | None:
        op, item_id, md, t0 = self.pending
        self.ledger.ms[op].append((time.perf_counter() - t0) * 1e3)
        if op == "read_back":
            return self._read_back_done(item_id, md, status, body)
        if status is None:
            self.ledger.unknown.add(item_id)
            return None  # counted as an error by the load generator already
        ok = 201 if op == "add" else 200
        if status != ok:
            self.ledger.refused.append(f"{label}: HTTP {status} {body[:160]!r}")
            if op == "delete":
                self.live.append(item_id)
            return f"HTTP {status} (expected {ok})"
        if op == "add":
            self.ledger.added[item_id] = md
            self.live.append(item_id)
        else:
            self.ledger.added.pop(item_id, None)
            self.ledger.deleted.add(item_id)
        if self.read_back:
            self.check = (op, item_id, md)
        return None

    def _read_back_done(self, item_id: str, md: dict | None, status: int | None, body: bytes) -> str | None:
        """The read after an acknowledged write: an add answers 200 with its metadata, a delete 404."""
        self.check = None
        if status is None:
            return None  # no answer (counted as an error by the load generator)
        rb = self.ledger.read_back
        rb["checked"] += 1
        if md is None:
            if status == 404:
                return self.http.accepted  # gone, as it should be: not an error
            fresh = False
        else:
            fresh = status == 200 and all(json.loads(body)["metadata"].get(a) == b for a, b in md.items())
        if fresh:
            return None
        rb["stale"] += 1
        rb["examples"] = (rb["examples"] + [f"{item_id}: HTTP {status}"])[:5]
        return f"read-your-writes: {item_id} answered {status} right after its write was acknowledged"


def _status(url: str, timeout: float = 30) -> tuple[int, dict | None]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


def verify_live(url: str, ledger: Ledger, k: int, item_prefix: str, similar: str) -> dict:
    """Through the running service at ``url``: every acknowledged add fetched (``item_prefix`` + id:
    200, its metadata) and found by a search for its own code (``similar?id=ID&k=k``), every
    acknowledged delete gone (both 404)."""
    out = {"adds_checked": 0, "adds_fetched": 0, "adds_metadata_ok": 0, "adds_found_by_own_code": 0, "not_found_by_own_code": [], "own_code_rank": [],
           "deletes_checked": 0, "deletes_gone": 0, "problems": []}
    for item_id, md in sorted(ledger.added.items()):
        out["adds_checked"] += 1
        q = quote(item_id, safe="")
        st, got = _status(f"{url}{item_prefix}{q}")
        if st == 200:
            out["adds_fetched"] += 1
            out["adds_metadata_ok"] += int(all(got["metadata"].get(a) == b for a, b in md.items()))
        else:
            out["problems"].append(f"GET {item_id}: {st}")
        st, got = _status(f"{url}{similar}?id={q}&k={k}")
        ids = [r["id"] for r in got["results"]] if st == 200 else []
        if item_id in ids:
            out["adds_found_by_own_code"] += 1
            out["own_code_rank"].append(ids.index(item_id) + 1)
        else:  # judged on disk: k items may score at least as well as the item's own code (see verify_on_disk)
            out["not_found_by_own_code"].append(item_id)
    for item_id in sorted(ledger.deleted):
        out["deletes_checked"] += 1
        q = quote(item_id, safe="")
        gone = _status(f"{url}{item_prefix}{q}")[0] == 404 and _status(f"{url}{similar}?id={q}&k=1")[0] == 404
        out["deletes_gone"] += int(gone)
        if not gone:
            out["problems"].append(f"deleted {item_id} still answered")
    ranks = np.asarray(out.pop("own_code_rank") or [0])
    out["own_code_rank_median"], out["own_code_rank_max"] = float(np.median(ranks)), int(ranks.max())
    return out


def verify_on_disk(index: Path, ledger: Ledger, not_found: list[str], k: int) -> dict:
    """After the service stopped: the index reopened from its files holds every acknowledged add
    and no acknowledged delete. Adds the service's own-code search did not return are searched
    again here, exhaustively: with the inner-product metric an item's own code is not always its
    best match, so such an add is "outranked" when the exact top-k holds k items scoring at least
    as well as the item itself, and missing otherwise."""
    from distilhash.index import open_index

    t0 = time.perf_counter()
    outranked, missing = 0, []
    with open_index(index) as idx:
        present = idx.get(sorted(ledger.added))
        resurrected = idx.get(sorted(ledger.deleted))
        unknown_present = len(idx.get(sorted(ledger.unknown))) if ledger.unknown else 0
        count, gen = len(idx), idx.manifest["generation"]
        cb = idx.codebooks
        for item_id, (code, _) in idx.get(not_found).items():
            q = cb[np.arange(cb.shape[0]), code.astype(np.int64)].reshape(1, -1).astype(np.float32)
            res = idx.search(q, k)[0]
            own = float(-(q * q).sum()) if idx.metric == "ip" else 0.0
            if item_id not in res.ids and len(res.ids) == k and float(res.distances[-1]) <= own + 1e-6:
                outranked += 1
            else:
                missing.append(item_id)
    return {"adds_present": len(present), "adds_expected": len(ledger.added), "deletes_present": len(resurrected),
            "writes_without_answer": len(ledger.unknown), "of_those_present": unknown_present,
            "own_code_not_returned": len(not_found), "of_those_outranked_in_exact_search": outranked, "of_those_missing": missing,
            "count_after": count, "generation_after": gen, "reopen_s": round(time.perf_counter() - t0, 2)}
