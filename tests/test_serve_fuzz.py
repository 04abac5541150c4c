"""A short run of the HTTP fuzz benchmark (bench/serve_fuzz.py): every case three times against a
real server subprocess; no 5xx, no leaking body, the expected status per case, half-open
connections closed by the server."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

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
        result = fuzz.run_fuzz(server, 3 * len(fuzz.CASES), seed=1, n_half_open=4, progress=False)
    assert result["n_5xx"] == 0, result["problems"]
    assert result["n_leaking_bodies"] == 0, result["problems"]
    assert result["n_unexpected_status"] == 0, result["problems"]
    assert set(result["per_case"]) == {c.name for c in fuzz.CASES}
    assert result["half_open"]["closed_by_server"] == 4 and result["half_open"]["health_status_meanwhile"] == 200


def test_leak_patterns_catch_what_the_review_found():
    fuzz = _bench()
    for body in (b"cannot identify image file <_io.BytesIO object at 0x7f3a2b1c9d80>", b"Expected UploadFile, received: <class 'str'>",
                 b"DecompressionBombError: Image size exceeds limit", b"Traceback (most recent call last):"):
        assert fuzz.leaks(fuzz.Answer(400, {"content-type": "application/json"}, body)), body
    assert not fuzz.leaks(fuzz.Answer(413, {"content-type": "application/json"},
                                      b'{"error":"file: the upload is 1x50000 pixels, an aspect ratio of 50,000:1; the limit is 20:1"}'))


def test_leak_patterns_catch_python_reprs_but_not_json_quotes():
    fuzz = _bench()
    ans = lambda body: fuzz.Answer(404, {"content-type": "application/json"}, body)  # noqa: E731
    assert "python repr" in fuzz.leaks(ans(b'{"error":"no item with id \'nope\' in the image index"}'))
    assert not fuzz.leaks(ans(b'{"error":"no item with id \\"nope\\" in the image index"}'))
    assert not fuzz.leaks(ans(b'{"error":"id: the path segments \'.\' and \'..\' are not allowed; the item\'s id"}'))
