"""Every acknowledged write checked (distilhash.benchmark.write_check): through a running service
(a small HTTP stand-in here) and on disk in a real index."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np

from distilhash.benchmark.write_check import Ledger, verify_live, verify_on_disk
from distilhash.codes import Encoded
from distilhash.index import IndexOptions, create_index

ITEMS, SIMILAR = "/api/items/", "/api/search/similar"


def _service(items: dict[str, dict], similar: dict[str, list[str]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            if url.path.startswith(ITEMS) and unquote(url.path[len(ITEMS):]) in items:
                body = {"metadata": items[unquote(url.path[len(ITEMS):])]}
            elif url.path == SIMILAR and parse_qs(url.query)["id"][0] in items:
                body = {"results": [{"id": i} for i in similar.get(parse_qs(url.query)["id"][0], [])]}
            else:
                self.send_response(404)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_live_check_counts_fetched_found_by_own_code_and_deletes_gone():
    ledger = Ledger()
    ledger.added = {"a": {"w": 1}, "b/x": {"w": 2}, "c": {"w": 3}, "lost": {"w": 4}}
    ledger.deleted = {"gone", "a"}  # "a" answers 200: a delete that did not take
    srv = _service(items={"a": {"w": 1}, "b/x": {"w": 0}, "c": {"w": 3}},
                   similar={"a": ["z", "a"], "b/x": ["b/x"], "c": ["z"]})
    try:
        out = verify_live(f"http://127.0.0.1:{srv.server_address[1]}", ledger, 10, ITEMS, SIMILAR)
    finally:
        srv.shutdown()
    assert out["adds_checked"] == 4 and out["adds_fetched"] == 3 and out["adds_metadata_ok"] == 2  # b/x's metadata differs
    assert out["adds_found_by_own_code"] == 2 and sorted(out["not_found_by_own_code"]) == ["c", "lost"]
    assert out["own_code_rank_median"] == 1.5 and out["own_code_rank_max"] == 2
    assert out["deletes_checked"] == 2 and out["deletes_gone"] == 1
    assert "GET lost: 404" in out["problems"] and "deleted a still answered" in out["problems"]


def test_disk_check_finds_adds_and_resurrected_deletes_in_the_reopened_index(tmp_path):
    rng = np.random.default_rng(0)
    cb = rng.normal(size=(4, 16, 2)).astype(np.float32)
    codes = rng.integers(0, 16, (30, 4), dtype=np.uint8)
    with create_index(tmp_path / "ix", kind="pq", codebooks=cb, options=IndexOptions(bulk_threshold=1)) as idx:
        idx.add([f"i{i}" for i in range(30)], Encoded("pq", codes, 16, cb, "l2"))
        idx.delete(["i0", "i1"])
    ledger = Ledger()
    ledger.added = {f"i{i}": {} for i in range(2, 8)} | {"never-written": {}}
    ledger.deleted = {"i0", "i1", "i9"}  # i9 is still there: a delete that did not last
    ledger.unknown = {"i10", "nothing"}
    out = verify_on_disk(tmp_path / "ix", ledger, ["i2"], k=5)
    assert out["adds_present"] == 6 and out["adds_expected"] == 7
    assert out["deletes_present"] == 1 and out["count_after"] == 28
    assert out["writes_without_answer"] == 2 and out["of_those_present"] == 1
    # i2's own code finds i2 itself in the exact search (l2 distance 0): not outranked, so reported
    assert out["own_code_not_returned"] == 1 and out["of_those_outranked_in_exact_search"] == 0 and out["of_those_missing"] == ["i2"]


def _client() -> "WriteClient":
    from distilhash.benchmark.write_check import WriteClient

    def request(method, path, host, port, headers=None, body=b""):
        return json.dumps([method, path, headers or {}, body.decode()]).encode()

    def form(fields, files):
        return "multipart/form-data; boundary=x", json.dumps({"fields": fields, "files": sorted(files)}).encode()

    return WriteClient(request, form, "ACCEPTED", "/api/items", ITEMS)


def test_a_writer_adds_then_deletes_its_own_items_and_keeps_the_ledger():
    from distilhash.benchmark.write_check import Writer

    ledger = Ledger()
    w = Writer(3, "k3y", "127.0.0.1", 80, [(7, b"png7"), (9, b"png9")], {7: "a cat", 9: "a dog"}, 1.0, ledger, 0, _client(), tag="t")
    label, raw = w.next_request()
    method, path, headers, body = json.loads(raw)
    assert (label, method, path) == ("ADD w3-0", "POST", "/api/items") and headers["X-API-Key"] == "k3y"
    assert json.loads(body)["fields"]["id"] == "w3-0" and json.loads(json.loads(body)["fields"]["metadata"])["bench"] == "t"
    assert w.done(label, 201, b"") is None and ledger.added == {"w3-0": {"writer": 3, "row": 9, "bench": "t"}}
    label, raw = w.next_request()  # p_delete = 1 and a live item: it deletes it
    assert label == "DELETE w3-0" and json.loads(raw)[:2] == ["DELETE", ITEMS + "w3-0"]
    assert w.done(label, 200, b"") is None and ledger.deleted == {"w3-0"} and ledger.added == {}
    label, _ = w.next_request()  # nothing live: an add again
    assert label == "ADD w3-1" and w.done(label, None, b"") is None and ledger.unknown == {"w3-1"}
    label, _ = w.next_request()
    assert w.done(label, 500, b"boom") == "HTTP 500 (expected 201)" and len(ledger.refused) == 1
    assert len(ledger.ms["add"]) == 3 and len(ledger.ms["delete"]) == 1


def test_read_back_after_each_acknowledged_write_counts_stale_answers():
    from distilhash.benchmark.write_check import Writer

    ledger = Ledger()
    w = Writer(0, "k", "h", 1, [(0, b"p")], {0: "c"}, 1.0, ledger, 0, _client(), read_back=True)
    label, raw = w.next_request()
    assert json.loads(raw)[2]["Connection"] == "close"
    w.done(label, 201, b"")
    label, raw = w.next_request()
    assert label == "READ w0-0" and json.loads(raw)[:2] == ["GET", ITEMS + "w0-0"]
    assert w.done(label, 200, json.dumps({"metadata": {"writer": 0, "row": 0, "bench": "serve_writes"}}).encode()) is None
    label, _ = w.next_request()
    w.done(label, 200, b"")  # the delete acknowledged
    label, _ = w.next_request()
    assert label == "READ w0-0"
    assert w.done(label, 200, json.dumps({"metadata": {}}).encode()).startswith("read-your-writes")  # still there: stale
    assert ledger.read_back["checked"] == 2 and ledger.read_back["stale"] == 1
    label, _ = w.next_request()  # the item is still live for this writer? no: deleted; so an add
    assert label == "ADD w0-1"
    w.done(label, 201, b"")
    w.next_request()  # its read-back
    w.done("READ w0-1", 200, json.dumps({"metadata": {"writer": 0, "row": 0, "bench": "serve_writes"}}).encode())
    label, _ = w.next_request()
    assert label == "DELETE w0-1"
    w.done(label, 200, b"")
    w.next_request()
    assert w.done("READ w0-1", 404, b"") == "ACCEPTED"  # gone, as it should be: the load generator's "not an error"
