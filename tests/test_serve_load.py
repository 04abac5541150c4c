"""Load on loopback: the load generator itself (fast), and 50 clients for 60 s (slow, bounded).

The figures that matter (1M items, the real MiniLM text path) come from bench/serve_load.py;
these tests check behaviour: no errors under concurrency, the run stops by itself, and the
results are the right ones.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from distilhash.serve import routes

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

from serve_fixtures import WORDS, ServerThread, make_world  # noqa: E402


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from distilhash.serve.app import create_app

    world = make_world(tmp_path_factory.mktemp("world"), n=200)
    with ServerThread(create_app([world["image_index"], world["text_index"]])) as u:
        yield u


def _paths():
    return [f"{routes.SEARCH}?q={quote(a + ' ' + b)}&k=10&direction=t2t" for a in WORDS for b in WORDS if a != b]


def _check(status: int, body: bytes) -> str | None:
    data = json.loads(body)
    q = set(data["query"].split())
    top = data["results"][0]["caption"].split()
    return None if q & set(top) else f"top result {top} shares no word with {q}"


def test_loadgen_refuses_non_loopback():
    from distilhash.serve.loadgen import run_load

    with pytest.raises(ValueError, match="loopback"):
        run_load("http://example.com:80", ["/"], duration_s=0.1)


def test_short_concurrent_run_has_no_errors(url):
    from distilhash.serve.loadgen import run_load

    res = run_load(url, _paths(), concurrency=8, duration_s=1.5, max_requests=400, check=_check)
    s = res.summary()
    assert s["errors"] == 0, s["error_examples"]
    assert 0 < s["requests"] <= 400 and s["status_counts"] == {"200": s["requests"]}
    assert s["p50_ms"] <= s["p99_ms"] and res.wall_s < 10
    # a request budget also stops the run
    assert run_load(url, _paths(), concurrency=4, duration_s=30, max_requests=20).requests == 20


@pytest.mark.slow
def test_fifty_clients_for_sixty_seconds(url):
    from distilhash.serve.loadgen import run_load

    res = run_load(url, _paths(), concurrency=50, duration_s=60, max_requests=200_000, check=_check)
    s = res.summary()
    print(json.dumps(s, indent=1))
    assert s["errors"] == 0, s["error_examples"]
    assert s["requests"] > 50 and res.wall_s < 90
