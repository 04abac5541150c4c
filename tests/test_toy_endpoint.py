"""TOY (scratch): GET /api/toy answers its model and /openapi.json documents it."""
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("faiss")
from fastapi.testclient import TestClient  # noqa: E402

from distilhash.serve import routes  # noqa: E402
from serve_fixtures import make_world  # noqa: E402


def test_toy_endpoint(tmp_path):
    from distilhash.serve.app import create_app

    world = make_world(tmp_path)
    with TestClient(create_app([world["image_index"], world["text_index"]])) as c:
        got = c.get(routes.TOY).json()
        assert got["modalities"] == ["image", "text"] and got["total"] == sum(c.get(routes.HEALTH).json()["indexes"].values())
        spec = c.get(routes.OPENAPI).json()
        assert spec["paths"][routes.TOY]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ToyAnswer")
