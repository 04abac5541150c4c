"""Answers do not reveal where the server keeps its files: a stored image path is sent as its file name."""

from types import SimpleNamespace

import numpy as np
import pytest

from distilhash.serve.answers import result_items
from distilhash.serve.jsonsafe import public_metadata


@pytest.mark.parametrize("stored,sent", [
    ("/srv/photos/trip/red-apple.jpg", "red-apple.jpg"),
    ("C:\\Users\\me\\pics\\boat.png", "boat.png"),
    ("boat.png", "boat.png"),                         # already a bare name (e.g. metadata a client added)
    ("https://example.org/a/b.jpg", "https://example.org/a/b.jpg"),
])
def test_public_metadata_keeps_only_the_file_name_of_a_server_path(stored, sent):
    md = {"dataset": "trip", "row": 3, "image": stored, "caption": "x"}
    out = public_metadata(md)
    assert out["image"] == sent and out["row"] == 3 and out["caption"] == "x"
    assert md["image"] == stored  # the stored metadata is not changed


def test_search_answers_send_public_metadata():
    res = SimpleNamespace(ids=["a"], distances=np.array([1.0]),
                          metadata=[{"dataset": "trip", "row": 0, "image": "/home/alice/secret/dir/cat.jpg", "caption": "a cat"}])
    item = result_items(SimpleNamespace(modality="image"), res, has_thumbs=False)[0]
    assert item["metadata"]["image"] == "cat.jpg" and "/home/alice" not in str(item)
