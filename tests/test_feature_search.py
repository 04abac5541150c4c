"""`distilhash teacher search` and `search_features`: the float teacher's ranking of an own folder, no codes.

A folder of 12 small pictures (4 red, 4 green, 4 blue squares, captioned by colour) goes through the
documented steps, ``data prepare folder`` and ``teacher extract``, with a toy teacher whose text and
image features share three colour axes; then the search must rank the query's colour first, by cosine,
and refuse bad input by name.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from distilhash.cli.main import app
from distilhash.errors import ConfigError, DataError, FeatureError
from distilhash.pipeline.feature_search import search_features
from distilhash.pipeline.inputs import load_features_and_split
from distilhash.teachers.base import TeacherBase
from distilhash.teachers.registry import TEACHERS

COLOURS = {"red": (230, 20, 20), "green": (20, 200, 30), "blue": (30, 40, 230)}


class ColourTeacher(TeacherBase):
    """Texts: which colour words they hold; images: their mean colour. Both on the same 3 axes (r, g, b)."""

    name = "colour-toy"
    width = 3
    fingerprint = "colour-toy-1"

    def __init__(self, arg=None, **_):
        pass

    def encode_texts(self, texts, batch_size=256, progress=False):
        out = np.array([[1.0 if w in t.split() else 0.0 for w in COLOURS] for t in texts], np.float32) + 0.05
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_images(self, images, batch_size=64, progress=False):
        arr = np.stack([np.asarray(im, np.float32).reshape(-1, 3).mean(axis=0) for im in images]) + 1.0
        return (arr / np.linalg.norm(arr, axis=1, keepdims=True)).astype(np.float32)


if "colour-toy" not in TEACHERS:
    TEACHERS.register("colour-toy")(ColourTeacher)


def cli(*args: object, code: int = 0) -> str:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == code, f"distilhash {' '.join(map(str, args))}: exit {res.exit_code}\n{res.output}{res.exception!r}"
    return res.output


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """A prepared folder dataset 'squares' with colour-toy features (the documented two steps)."""
    monkeypatch.chdir(tmp_path)
    d = tmp_path / "squares"
    d.mkdir()
    rows = []
    for k in range(12):
        colour = list(COLOURS)[k % 3]
        shade = np.clip(np.array(COLOURS[colour]) + 5 * (k // 3), 0, 255).astype(np.uint8)
        Image.fromarray(np.tile(shade, (24, 24, 1))).save(d / f"{colour}{k}.png")
        rows.append({"image": f"{colour}{k}.png", "caption": f"a {colour} square", "labels": [colour]})
    (d / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cli("data", "prepare", "folder", "--path", d)
    cli("teacher", "extract", "--dataset", "squares", "--teacher", "colour-toy")
    return d


def test_text_query_ranks_its_colour_first_with_cosine_scores(folder):
    found = search_features("squares", texts=["red", "a blue thing"], k=5)
    assert found.n_items == 12 and found.teacher == "colour-toy" and found.modality == "image"
    red, blue = found.hits
    assert [h.id.rstrip("0123456789") for h in red[:4]] == ["red"] * 4  # all four red pictures, then another colour
    assert red[4].id.rstrip("0123456789") != "red"
    assert all(h.id.startswith("blue") for h in blue[:4])
    scores = [h.score for h in red]
    assert scores == sorted(scores, reverse=True) and 0.9 < scores[0] <= 1.0
    # the score is the cosine of the cached image features with the query's text features
    q = ColourTeacher().encode_texts(["red"])[0]
    from distilhash.teachers.cache import default_features_dir, load_features

    feats = load_features(default_features_dir("squares", "colour-toy"))
    row = feats.ids.index(red[0].id)
    assert red[0].score == pytest.approx(float(feats.image[row] @ q / np.linalg.norm(feats.image[row])), abs=1e-5)
    assert red[0].metadata["caption"] == "a red square" and red[0].metadata["image"].endswith(".png")


def test_image_query_and_caption_modality(folder):
    found = search_features("squares", images=[folder / "green4.png"], k=3)
    assert found.hits[0][0].id == "green4" and found.hits[0][0].score == pytest.approx(1.0, abs=1e-4)
    by_caption = search_features("squares", texts=["green"], k=4, modality="text")
    assert all(h.metadata["caption"] == "a green square" for h in by_caption.hits[0])


def test_cli_prints_top_k_with_captions_ids_files_and_json(folder):
    out = cli("teacher", "search", "--dataset", "squares", "--text", "blue", "-k", "2")
    assert "query: blue" in out and "a blue square" in out and "cosine" in out and "12 items of squares" in out
    assert out.count("a red square") == 0
    payload = json.loads(cli("teacher", "search", "--dataset", "squares", "--text", "red", "-k", "3", "--json"))
    hits = payload["queries"][0]["results"]
    assert len(hits) == 3 and all(h["caption"] == "a red square" and h["image"].endswith(".png") for h in hits)
    assert payload["teacher"] == "colour-toy" and payload["items"] == 12


def test_k_larger_than_the_collection_returns_every_item(folder):
    assert len(search_features("squares", texts=["red"], k=50).hits[0]) == 12


def test_bad_input_is_refused_by_name(folder, tmp_path):
    with pytest.raises(DataError, match="empty"):
        search_features("squares", texts=["red", "  "])
    with pytest.raises(DataError, match="one kind"):
        search_features("squares")
    with pytest.raises(ConfigError, match="k must be"):
        search_features("squares", texts=["red"], k=0)
    with pytest.raises(ConfigError, match="unknown teacher kind 'nosuch'"):
        search_features("squares", texts=["red"], teacher="nosuch")
    with pytest.raises(FeatureError, match="teacher extract --dataset squares --teacher minilm-lit"):
        search_features("squares", texts=["red"], teacher="minilm-lit")  # a real teacher, never extracted here
    out = cli("teacher", "search", "--dataset", "nosuch", "--text", "red", code=1)
    assert "no prepared dataset named 'nosuch'" in out
    out = cli("teacher", "search", "--dataset", "squares", "--text", "red", "-k", "0", code=2)
    assert "--k" in out
    out = cli("teacher", "search", "--dataset", "squares", "--text", "", code=1)
    assert "empty" in out
    out = cli("teacher", "search", "--dataset", "squares", code=2)
    assert "give --text or --image" in out
    assert "Traceback" not in out


def test_a_folder_without_features_names_the_command_that_makes_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = tmp_path / "bare"
    d.mkdir()
    for k in range(4):
        Image.new("RGB", (16, 16), (10 * k, 0, 0)).save(d / f"p{k}.png")
    (d / "captions.csv").write_text("image,caption\n" + "".join(f"p{k}.png,picture {k}\n" for k in range(4)))
    cli("data", "prepare", "folder", "--path", d)
    out = cli("teacher", "search", "--dataset", "bare", "--text", "red", code=1)
    assert "no teacher feature cache" in out and "distilhash teacher extract --dataset bare" in out


def test_features_of_another_fit_of_the_teacher_are_refused(folder, monkeypatch):
    monkeypatch.setattr(ColourTeacher, "fingerprint", "colour-toy-2")  # refitted after `teacher extract`
    with pytest.raises(FeatureError, match="another fit of 'colour-toy'.*teacher extract --dataset squares --teacher colour-toy"):
        search_features("squares", texts=["red"])


def test_cli_header_says_what_is_compared_with_what(folder):
    # it ended "... image features (DIR) with each query's", a sentence cut short
    by_text = cli("teacher", "search", "--dataset", "squares", "--text", "blue", "-k", "1")
    by_image = cli("teacher", "search", "--dataset", "squares", "--image", folder / "green4.png", "-k", "1")
    flat = [" ".join(out.split()) for out in (by_text, by_image)]
    assert "image features" in flat[0] and "with each query's text features" in flat[0]
    assert "with each query's image features" in flat[1]


def test_a_teacher_without_features_names_the_ones_there_and_no_missing_option(folder):
    # it offered "(or pass --features)", an option `teacher search` does not have
    out = " ".join(cli("teacher", "search", "--dataset", "squares", "--text", "red", "--teacher", "minilm-lit", code=1).split())
    assert "teacher extract --dataset squares --teacher minilm-lit" in out
    assert "--features" not in out and "'squares' has features of colour-toy (--teacher)" in out
    with pytest.raises(FeatureError, match=r"or pass --features\); 'squares' has features of colour-toy"):
        load_features_and_split("squares", "minilm-lit")  # commands with --features still offer it
