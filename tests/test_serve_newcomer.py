"""What tripped a new user of the HTTP service on an own folder (issue 24), each fixed and held here.

* ``POST /api/search/image?k=3`` (``k`` in the address, as for text search) silently answered 10 results:
  ``k`` and ``direction`` are now read from the address too, and sent twice with different values is a 400.
* A raw image body (``curl --data-binary @photo.jpg``) or a misnamed part got "file: is required": the message
  now says the image goes in a multipart/form-data field named ``file``, with the curl spelling.
"""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from serve_fixtures import COLOURS, make_world, png_bytes  # noqa: E402

from distilhash.serve import routes  # noqa: E402
from distilhash.serve.app import create_app  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    world = make_world(tmp_path_factory.mktemp("world"))
    with TestClient(create_app([world["image_index"], world["text_index"]])) as c:
        yield c


def _upload() -> dict:
    return {"file": ("q.png", png_bytes(COLOURS[2]), "image/png")}


def test_k_and_direction_in_the_address_of_an_image_search_are_used(client):
    r = client.post(routes.SEARCH_IMAGE, params={"k": 3}, files=_upload())
    assert r.status_code == 200 and r.json()["k"] == 3 and len(r.json()["results"]) == 3
    r = client.post(routes.SEARCH_IMAGE, params={"direction": "i2i", "k": 2}, files=_upload())
    assert r.json()["direction"] == "i2i" and len(r.json()["results"]) == 2
    r = client.post(routes.SEARCH_IMAGE, data={"k": "4"}, files=_upload())  # the form field, as before
    assert len(r.json()["results"]) == 4
    assert len(client.post(routes.SEARCH_IMAGE, files=_upload()).json()["results"]) == 10  # the default, as before
    r = client.post(routes.SEARCH_IMAGE, params={"k": 2}, data={"k": "2"}, files=_upload())  # the same twice: fine
    assert len(r.json()["results"]) == 2


def test_k_sent_twice_with_different_values_is_refused_by_name(client):
    r = client.post(routes.SEARCH_IMAGE, params={"k": 3}, data={"k": "5"}, files=_upload())
    assert r.status_code == 400
    assert r.json()["error"].startswith("k: sent twice with different values") and "5" in r.json()["error"]
    r = client.post(routes.SEARCH_IMAGE, params={"k": 0}, files=_upload())
    assert r.status_code == 422 and "k: expected an integer >= 1" in r.json()["error"]


def test_a_raw_image_body_is_told_how_to_send_the_file(client):
    r = client.post(routes.SEARCH_IMAGE, content=png_bytes(COLOURS[1]), headers={"content-type": "image/png"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert "file: is required, as a multipart/form-data field named file" in error and "curl -F file=@photo.jpg" in error
    r = client.post(routes.SEARCH_IMAGE, files={"image": ("q.png", png_bytes(COLOURS[1]), "image/png")})  # misnamed part
    assert r.status_code == 422 and "field named file" in r.json()["error"]


def test_a_port_in_use_is_refused_before_anything_loads(tmp_path):
    """`distilhash serve` on a busy port loaded the index and the teacher, printed the address to open, and only
    then failed in uvicorn ("[Errno 98] ... address already in use"): now it stops first, saying what to do."""
    import socket
    import time

    from typer.testing import CliRunner

    from distilhash.cli.main import app

    world = make_world(tmp_path / "w", n=12)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        t0 = time.perf_counter()
        res = CliRunner().invoke(app, ["serve", str(world["image_index"]), "--port", str(port)])
        assert res.exit_code == 1, res.output
        assert f"port {port} on 127.0.0.1 is already in use" in res.output and "--port" in res.output
        assert "open http" not in res.output and time.perf_counter() - t0 < 10
    from distilhash.serve.connections import check_port_free

    check_port_free("127.0.0.1", port)  # free again once the other server stops


def test_after_an_add_the_match_no_longer_says_all_items(tmp_path):
    """A 12-item service with a key: the typical distance is the median of all 12 items, until a 13th is added."""
    world = make_world(tmp_path / "w", n=12)
    with TestClient(create_app([world["image_index"]], api_key="k3y-for-tests")) as c:
        before = c.get(routes.SEARCH, params={"q": "boat", "k": 3}).json()["match"]
        assert before["sample_is_collection"] and before["sample"] == 12
        r = c.post(routes.ITEMS, headers={"X-API-Key": "k3y-for-tests"}, data={"id": "new1", "caption": "a boat"},
                   files={"image": ("b.png", png_bytes(COLOURS[4]), "image/png")})
        assert r.status_code == 201, r.text
        after = c.get(routes.SEARCH, params={"q": "boat", "k": 3}).json()["match"]
        assert after["sample"] == 12 and not after["sample_is_collection"]


def test_an_index_whose_model_moved_says_so_and_how_to_point_at_it(tmp_path):
    """The model directory recorded in the index was moved: `search` and `serve` said "... is not a model directory
    (method.json: [Errno 2] No such file or directory: ...)"; now they say it moved and name --model."""
    from typer.testing import CliRunner

    from distilhash.cli.main import app

    world = make_world(tmp_path / "w", n=12)
    world["model"].rename(tmp_path / "moved-model")
    res = CliRunner().invoke(app, ["search", str(world["image_index"]), "--text", "boat"])
    assert res.exit_code == 1
    assert "was built with the model" in res.output and "no longer there (moved or deleted?)" in res.output
    assert "--model DIR" in res.output and "Errno" not in res.output
    res = CliRunner().invoke(app, ["search", str(world["image_index"]), "--text", "boat", "--model", str(tmp_path / "moved-model"),
                                   "--json"])
    assert res.exit_code == 0, res.output  # pointed at its new place, it answers


def test_head_of_the_page_and_of_health_answers_200(client):
    """`curl -I http://127.0.0.1:8000/` (and an uptime monitor's HEAD /api/health) got 405 Method Not Allowed."""
    for path in (routes.PAGE, routes.HEALTH):
        r = client.head(path)
        assert r.status_code == 200 and r.content == b"", (path, r.status_code)
    assert client.get(routes.HEALTH).json()["status"] == "ok"
    assert client.head(routes.SEARCH, params={"q": "cat"}).status_code == 405  # the other routes are unchanged
