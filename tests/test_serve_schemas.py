"""The service's answers are its documented models: ``/openapi.json`` names the model of every
route, each live answer validates against its model (no key more, none missing), the bytes sent
are the service's own answer unchanged, and every route path comes from ``serve/routes.py``."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("faiss")

from fastapi.routing import APIRoute  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from distilhash.serve import routes  # noqa: E402
from distilhash.serve import api as schemas  # noqa: E402
from serve_fixtures import COLOURS, make_weak_match, make_world, png_bytes  # noqa: E402

KEY = "schema-key"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from distilhash.serve.app import create_app

    world = make_world(tmp_path_factory.mktemp("world"))
    calibration = make_weak_match(world, tmp_path_factory.mktemp("weak-match"))
    return create_app([world["image_index"], world["text_index"]], api_key=KEY, max_upload_mb=0.05,
                      weak_match_dir=str(calibration))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


def _api_routes(app):
    """The JSON routes (FastAPI keeps an included router as one entry of ``app.routes``)."""
    from distilhash.serve.api import router

    return [r for r in router.routes if isinstance(r, APIRoute) and r.include_in_schema]


def test_openapi_names_the_response_model_of_every_route(client, app):
    spec = client.get(routes.OPENAPI).json()
    documented = {name for name in spec["components"]["schemas"]}
    assert {m.__name__ for m in schemas.ANSWER_MODELS} <= documented
    checked = set()
    for route in _api_routes(app):
        path = route.path_format
        for method in route.methods:
            op = spec["paths"][path][method.lower()]
            ok = op["responses"][str(route.status_code or 200)]
            if route.path == routes.THUMBNAIL:  # bytes of an image, not JSON
                assert {"image/webp", "image/png"} <= set(ok["content"]), path
                continue
            ref = ok["content"]["application/json"]["schema"]["$ref"]
            assert ref.split("/")[-1] == route.response_model.__name__, (method, path)
            for code in ("400", "404", "500"):  # refusals are documented too
                assert op["responses"][code]["content"]["application/json"]["schema"]["$ref"].endswith("/Refusal"), (method, path, code)
            checked.add((method, route.path))
    # every JSON route (a new endpoint is checked with no count to update), the known ones among them
    known = {("GET", routes.HEALTH), ("GET", routes.STATS), ("GET", routes.START), ("GET", routes.SEARCH),
             ("POST", routes.SEARCH_IMAGE), ("GET", routes.SIMILAR), ("GET", routes.ITEM), ("POST", routes.ITEMS),
             ("DELETE", routes.ITEM)}
    assert known <= checked


def test_every_route_path_is_a_constant_of_the_routes_module(app):
    constants = {v for k, v in vars(routes).items() if k.isupper() and isinstance(v, str)}
    paths = {getattr(r, "path", None) for r in [*app.routes, *_api_routes(app)]}
    assert {r.path for r in _api_routes(app)} <= constants
    assert set(routes.PAGE_ROUTES.values()) - {routes.DOCS} <= paths | {routes.PAGE}
    assert routes.ROUTES_JS in paths and routes.OPENAPI in paths


def test_the_table_marks_exactly_the_routes_that_take_the_api_key(app):
    """A route that reads ``X-API-Key`` is a write in ``routes.TABLE`` (so the guard asks for the key
    before the body), and every write row names a served route: the table cannot drift from the app."""
    keyed = {(m, r.path) for r in _api_routes(app) for m in r.methods
             if any(p.alias.lower() == "x-api-key" for p in r.dependant.header_params)}
    rows = {(m, row.path) for row in routes.TABLE for m in row.writes}
    assert keyed == rows == {("POST", routes.ITEMS), ("DELETE", routes.ITEM)}
    assert all(routes.is_write(m, routes.item_path("a/b") if "{" in path else path) for m, path in rows)
    assert not routes.is_write("GET", routes.item_path("a/b")) and not routes.is_write("POST", routes.SEARCH_IMAGE)


def test_the_page_gets_its_route_table_as_a_script(client):
    r = client.get(routes.ROUTES_JS)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.text == routes.routes_js() and '"searchImage": "/api/search/image"' in r.text
    page = client.get(routes.PAGE).text
    assert page.index(routes.ROUTES_JS) < page.index("app.js")


def _check(model, answer):
    """``answer`` validates against ``model``, and passing through it (as the routes do) keeps every byte."""
    from distilhash.serve.jsonsafe import dumps

    through = model.model_validate(answer).model_dump(mode="json", exclude_unset=True)
    assert dumps(through) == dumps(answer), model.__name__


def test_live_answers_validate_against_their_models(client, app):
    got = {
        schemas.Health: [client.get(routes.HEALTH).json()],
        schemas.Stats: [],
        schemas.StartInfo: [client.get(routes.START).json()],
        schemas.SearchAnswer: [client.get(routes.SEARCH, params={"q": q, "k": 3, "direction": d}).json()
                               for q in ("red boat", "zzqx vbnm") for d in ("t2i", "t2t")],
        schemas.SimilarAnswer: [],
        schemas.ItemAnswer: [],
        schemas.Deleted: [],
        schemas.Refusal: [client.get(routes.item_path("no-such-item")).json(),
                          client.get(routes.SEARCH, params={"q": "boat", "k": "many"}).json(),
                          client.post(routes.ITEMS, data={"id": "x"}).json()],  # the guard's 401
    }
    got[schemas.SearchAnswer].append(client.post(routes.SEARCH_IMAGE, files={"file": ("a.png", png_bytes(COLOURS[0]), "image/png")},
                                                 data={"k": "3", "direction": "i2t"}).json())
    first = got[schemas.SearchAnswer][0]["results"][0]["id"]
    got[schemas.SimilarAnswer].append(client.get(routes.SIMILAR, params={"id": first, "k": 3}).json())
    got[schemas.ItemAnswer].append(client.get(routes.item_path(first)).json())
    added = client.post(routes.ITEMS, data={"id": "cats/new one", "caption": "a red boat", "target": "text",
                                            "metadata": '{"n": 1}'}, headers={"X-API-Key": KEY})
    assert added.status_code == 201, added.text
    got[schemas.ItemAnswer].append(added.json())
    got[schemas.Deleted].append(client.request("DELETE", routes.item_path("cats/new one"), params={"target": "text"},
                                               headers={"X-API-Key": KEY}).json())
    got[schemas.Stats].append(client.get(routes.STATS).json())  # after the others: latency for every stage
    for model, answers in got.items():
        assert answers, model.__name__
        for answer in answers:
            _check(model, answer)
    text = got[schemas.SearchAnswer]
    assert text[0]["encoder"]["name"] and "likeness" in text[0]["match"]  # the optional parts were exercised
    assert "encoder" not in text[-1]  # an image answer has no text encoder


def test_a_key_the_model_does_not_declare_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        schemas.Health.model_validate({"status": "ok", "indexes": {}, "surprise": 1})


def test_the_bytes_sent_are_the_service_answer_unchanged(client, app):
    from distilhash.serve.jsonsafe import dumps

    svc = app.state.service
    item = svc.get_item(svc.similar(client.get(routes.START).json()["sample"][0]["id"], 1)["item"]["id"])
    assert client.get(routes.item_path(item["id"]), params={"target": item["target"]}).content == dumps(item)
    assert client.get(routes.HEALTH).content == dumps(svc.health())
    assert client.get(routes.START).content == dumps(app.state.start.info())


def test_the_items_mixin_host_contract_is_met_by_the_service(app):
    from distilhash.serve.items import ItemHost

    assert isinstance(app.state.service, ItemHost)
