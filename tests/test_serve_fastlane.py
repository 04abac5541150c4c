"""The text search fast lane (``serve/fastlane.py``) answers exactly as the FastAPI route does:
same status, headers and answer for every query string it takes, and the route's own validation
for every one it leaves to the application."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

from fastapi.testclient import TestClient  # noqa: E402

from distilhash.serve import fastlane, routes  # noqa: E402
from distilhash.serve.fastlane import plain_search_params  # noqa: E402
from serve_fixtures import make_weak_match, make_world  # noqa: E402

#: query strings the fast lane takes (answers or the service's own refusals)
PLAIN = ["q=red%20circle&k=3", "q=red+circle", "q=blue&k=5&direction=t2t", "q=blue&direction=i2i", "q=&k=3",
         "q=x&k=101", "q=caf%C3%A9&k=2&foo=bar", "direction=t2i&k=4&q=green", "q=" + "a" * 600]
#: query strings left to the application (FastAPI's validation; repeats and bad UTF-8 the guard refuses first)
OTHER = ["k=3", "q=x&k=0", "q=x&k=abc", "q=x&k=%2B5", "q=x&k=010", "q=a&q=b", "q=x&k=3&k=4", "q=x&k=1.0", "q=x&k=-2",
         "q=x&k=9999999"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from distilhash.serve.app import create_app

    world = make_world(tmp_path_factory.mktemp("world"))
    calibration = make_weak_match(world, tmp_path_factory.mktemp("weak-match"))
    app = create_app([world["image_index"], world["text_index"]], weak_match_dir=str(calibration))
    with TestClient(app) as c:
        yield c


def test_plain_query_strings_are_read_as_the_route_reads_them():
    assert plain_search_params(b"q=red+circle") == ("red circle", 10, None)
    assert plain_search_params(b"k=7&q=a%20b&direction=t2t&x=1") == ("a b", 7, "t2t")
    assert plain_search_params(b"q=&direction=") == ("", 10, "")
    assert plain_search_params(b"q=%FF") == ("\ufffd", 10, None)  # Starlette's replacement of bad UTF-8
    for other in OTHER:
        assert plain_search_params(other.encode()) is None, other


def _answer(r) -> tuple[int, str, dict]:
    """Status, content type and JSON answer without the timings (they differ from call to call)."""
    body = json.loads(r.content)
    for key in ("took_ms", "timings_ms"):
        body.pop(key, None)
    return r.status_code, r.headers["content-type"], body


def test_both_lanes_give_the_same_answer(client, monkeypatch):
    taken: list[str] = []

    def spy(qs: bytes):
        params = plain_search_params(qs)
        if params is not None:
            taken.append(qs.decode())
        return params

    monkeypatch.setattr(fastlane, "plain_search_params", spy)
    fast = {qs: _answer(client.get(f"{routes.SEARCH}?{qs}")) for qs in PLAIN + OTHER}
    assert taken == PLAIN  # the plain ones took the fast lane, the others went to the application
    monkeypatch.setattr(fastlane, "plain_search_params", lambda qs: None)  # everything through FastAPI
    for qs, got in fast.items():
        assert got == _answer(client.get(f"{routes.SEARCH}?{qs}")), qs
    statuses = {qs: got[0] for qs, got in fast.items()}
    assert statuses["q=red%20circle&k=3"] == 200 and len(fast["q=red%20circle&k=3"][2]["results"]) == 3
    assert statuses["q=blue&direction=i2i"] == 400 and statuses["q=&k=3"] == 400 and statuses["q=x&k=101"] == 400
    assert statuses["k=3"] == 422 and statuses["q=x&k=0"] == 422


def test_fast_lane_requests_are_timed_and_counted_by_the_guard(client):
    before = client.get(routes.STATS).json()
    client.get(f"{routes.SEARCH}?q=red")
    client.get(f"{routes.SEARCH}?q=")
    after = client.get(routes.STATS).json()
    stage = f"http GET {routes.SEARCH}"
    assert after["latency_ms"][stage]["count"] == before["latency_ms"].get(stage, {}).get("count", 0) + 2
    assert after["errors_by_status"].get("400", 0) == before["errors_by_status"].get("400", 0) + 1


def test_non_get_and_other_paths_are_left_to_the_application(client):
    assert client.post(f"{routes.SEARCH}?q=red").status_code == 405
    assert client.get(f"{routes.SEARCH}/?q=red", follow_redirects=False).status_code in (307, 404)
