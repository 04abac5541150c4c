"""A short run of the HTTP fuzz benchmark (bench/serve_fuzz.py over distilhash.benchmark.http_fuzz):
every case three times against a real server subprocess; no 5xx, no leaking body, the expected
status per case, half-open connections closed by the server. The harness's cases and leak
patterns are checked without a server."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

from distilhash.benchmark import http_fuzz as hf
from distilhash.benchmark.raw_http import Answer
from distilhash.serve import routes

BENCH = Path(__file__).resolve().parents[1] / "bench" / "serve_fuzz.py"


def _bench():
    import sys

    if "serve_fuzz" not in sys.modules:
        spec = importlib.util.spec_from_file_location("serve_fuzz", BENCH)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["serve_fuzz"] = mod  # its dataclasses look their module up
        spec.loader.exec_module(mod)
    return sys.modules["serve_fuzz"]


def test_short_fuzz_run_has_no_5xx_no_leaks_and_expected_statuses(tmp_path):
    fuzz = _bench()
    with fuzz.fuzz_server(tmp_path, n_items=40, header_timeout=1.0, body_timeout=1.0) as server:
        cases = hf.fuzz_cases(fuzz.ROUTES)
        result = hf.run_fuzz(server, fuzz.ROUTES, 3 * len(cases), seed=1, n_half_open=4, progress=False)
    assert result["n_5xx"] == 0, result["problems"]
    assert result["n_leaking_bodies"] == 0, result["problems"]
    assert result["n_unexpected_status"] == 0, result["problems"]
    assert set(result["per_case"]) == {c.name for c in cases}
    assert result["half_open"]["closed_by_server"] == 4 and result["half_open"]["health_status_meanwhile"] == 200


def test_every_case_makes_raw_request_bytes_on_the_service_routes_the_same_for_a_seed():
    r = hf.Routes.of(routes)
    assert r.ITEMS == routes.ITEMS and r.b.SEARCH == routes.SEARCH.encode()

    def draw(seed: int) -> list[list[bytes]]:
        rng, ctx = __import__("random").Random(seed), {}
        return [case.make(rng, ctx) for case in hf.fuzz_cases(r) * 2]

    first = draw(3)
    assert all(parts and all(isinstance(x, bytes) for x in parts) for parts in first)
    assert first == draw(3) and first != draw(4)  # seeded: the same run is the same requests
    heads = b"".join(parts[0][:120] for parts in first)
    assert routes.SEARCH_IMAGE.encode() in heads and routes.ITEMS.encode() in heads
    assert all(c.expect for c in hf.fuzz_cases(r))  # every case states what it may get


def test_leak_patterns_catch_what_the_review_found():
    fuzz = hf
    for body in (b"cannot identify image file <_io.BytesIO object at 0x7f3a2b1c9d80>", b"Expected UploadFile, received: <class 'str'>",
                 b"DecompressionBombError: Image size exceeds limit", b"Traceback (most recent call last):"):
        assert fuzz.leaks(Answer(400, {"content-type": "application/json"}, body)), body
    assert not fuzz.leaks(Answer(413, {"content-type": "application/json"},
                                      b'{"error":"file: the upload is 1x50000 pixels, an aspect ratio of 50,000:1; the limit is 20:1"}'))


def test_leak_patterns_catch_python_reprs_but_not_json_quotes():
    fuzz = hf
    ans = lambda body: Answer(404, {"content-type": "application/json"}, body)  # noqa: E731
    assert "python repr" in fuzz.leaks(ans(b'{"error":"no item with id \'nope\' in the image index"}'))
    assert not fuzz.leaks(ans(b'{"error":"no item with id \\"nope\\" in the image index"}'))
    assert not fuzz.leaks(ans(b'{"error":"id: the path segments \'.\' and \'..\' are not allowed; the item\'s id"}'))
