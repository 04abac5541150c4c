"""Source ``openclipart``: metadata, pixels on white, filters with their records, labels, texts, split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from distilhash.cli.main import app
from distilhash.data.dataset import load_dataset, save_dataset
from distilhash.data.images import open_image_file, to_rgb_on_white
from distilhash.data.openclipart import DEFAULT_ROOT, FILTER_REASONS, OpenClipartConfig, build_openclipart
from distilhash.data.openclipart_labels import collection_key, label_matrix, normalise_tag, plural_map
from distilhash.data.sources import create_source_dataset
from distilhash.data.stats import relevant_share
from distilhash.data.svg_meta import parse_svg_meta
from distilhash.errors import ConfigError, DataError

SVG_HEAD = '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"{extra}>'


def _rdf(title: str, tags: list[str], description: str = "") -> str:
    lis = "".join(f"<rdf:li>{t}</rdf:li>" for t in tags)
    return (
        '<metadata><rdf:RDF xmlns:cc="http://web.resource.org/cc/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><cc:Work rdf:about="">'
        f"<dc:title>{title}</dc:title><dc:description>{description}</dc:description>"
        f"<dc:subject><rdf:Bag>{lis}</rdf:Bag></dc:subject>"
        "<dc:creator><cc:Agent><dc:title>the author</dc:title></cc:Agent></dc:creator>"
        "</cc:Work></rdf:RDF></metadata>"
    )


def _svg(meta: str, body: str, w: int = 40, h: int = 40, extra: str = "") -> str:
    return SVG_HEAD.format(w=w, h=h, extra=extra) + meta + body + "</svg>"


def _png(path: Path, colour, box, mode: str = "RGBA", size=(40, 40)) -> None:
    """A transparent page with one filled shape (``mode`` P keeps the transparency as a palette)."""
    im = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse(box, fill=(*colour, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "P":
        im = im.quantize(colors=8, method=Image.Quantize.FASTOCTREE)
    im.save(path)


def _item(root: Path, rel: str, svg: str | None, png: tuple | None) -> None:
    if svg is not None:
        p = root / "svg" / f"{rel}.svg"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(svg)
    if png is not None:
        _png(root / "png" / f"{rel}.png", *png)


@pytest.fixture()
def tree(tmp_path) -> Path:
    """A tiny openclipart tree exercising every rule (see the comments)."""
    r = tmp_path / "openclipart"
    circle = '<circle cx="20" cy="20" r="12" fill="#c00"/>'
    apple = _svg(_rdf("Red apple", ["fruit", "Food", "apples"], "a shiny red apple"), circle)
    _item(r, "food/fruit/apple", apple, ((200, 0, 0), (4, 4, 30, 30)))
    _item(r, "food/fruit/pear", _svg(_rdf("Pear", ["fruit", "food", "apple"]), circle), ((0, 160, 0), (8, 2, 36, 38), "P"))
    # byte-identical SVG in another folder -> duplicate-svg
    _item(r, "unsorted/apple_copy", apple, ((200, 0, 0), (4, 4, 30, 30)))
    # another SVG (other title) whose PNG has the same pixels as the apple -> duplicate-pixels
    _item(r, "food/red_apple_again", _svg(_rdf("Apple again", ["fruit"]), circle), ((200, 0, 0), (4, 4, 30, 30)))
    # fully transparent PNG -> white -> blank
    _item(r, "food/nothing", _svg(_rdf("Nothing", ["food"]), ""), ((0, 0, 0), (0, 0, 0, 0), "RGBA"))
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(r / "png" / "food" / "nothing.png")
    # an undeclared XML entity: the XML parser fails, the regex fallback reads the title
    ent = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="&ns_extend;" width="40" height="40">'
           + _rdf("Fish &amp; chips", ["food", "fish"]) + '<rect x="5" y="5" width="20" height="10"/></svg>')
    _item(r, "food/fish", ent, ((0, 0, 200), (2, 10, 38, 30)))
    # no metadata: folder label only, empty text -> empty-text
    _item(r, "food/untitled", _svg("", circle), ((90, 90, 0), (10, 10, 20, 35)))
    # PNG missing: the SVG is rendered with cairosvg
    _item(r, "food/fruit/lemon", _svg(_rdf("Lemon", ["fruit", "food"]), '<rect x="0" y="10" width="40" height="20" fill="#ee0"/>'), None)
    # a collection of four stars: capped
    for k in range(4):
        _item(r, f"shapes/star_{k}", _svg(_rdf(f"gramastar {k}", ["stars", "shape"]), circle),
              ((30 * k, 0, 250 - 30 * k), (k, k, 20 + 4 * k, 30)))
    # a drawing with no frequent tag and an ignored folder -> no-label
    _item(r, "unsorted/odd", _svg(_rdf("Odd thing", ["weird"]), circle), ((10, 100, 100), (0, 0, 39, 20)))
    return r


def _build(tree: Path, **kw) -> object:
    cfg = {"root": str(tree), "size": 32, "collection_cap": 2, "min_label_items": 2, **kw}
    return build_openclipart(OpenClipartConfig(**cfg), progress=False)


def _reasons(ds) -> dict[str, str]:
    return {r["file"]: r["reason"] for r in ds.meta["filtered_items"]}


def test_every_filter_is_recorded_with_its_reason(tree):
    ds = _build(tree)
    reasons = _reasons(ds)
    assert reasons["unsorted/apple_copy"] == "duplicate-svg"
    assert reasons["food/red_apple_again"] == "duplicate-pixels"
    assert reasons["food/nothing"] == "blank"
    assert reasons["food/untitled"] == "empty-text"
    assert reasons["unsorted/odd"] == "no-label"
    assert sorted(f for f, why in reasons.items() if why == "collection-cap")[0].startswith("shapes/star_")
    assert sum(why == "collection-cap" for why in reasons.values()) == 2
    counts = ds.meta["filter_counts"]
    assert list(counts) == list(FILTER_REASONS) and sum(counts.values()) == len(reasons)
    assert len(ds) + len(reasons) == ds.meta["n_files"] == 13
    assert {"food/fruit/apple", "food/fruit/pear", "food/fish", "food/fruit/lemon"} <= {i[3:] for i in ds.ids}
    assert [x["file"] for x in ds.meta["rendered_from_svg"]] == ["food/fruit/lemon"]
    assert "PNG missing" in ds.meta["rendered_from_svg"][0]["why"]
    dup = next(r for r in ds.meta["filtered_items"] if r["file"] == "food/red_apple_again")
    assert "food/fruit/apple" in dup["detail"]


def test_metadata_entity_fallback_and_missing_metadata(tree):
    ds = _build(tree)
    i = ds.ids.index("oc-food/fish")
    assert ds.texts[i].startswith("Fish & chips.")
    assert ds.meta["metadata_regex_fallback"] == ["food/fish"]
    assert [x["file"] for x in ds.meta["metadata_unreadable"]] == ["food/untitled"]


def test_transparent_pixels_come_out_white(tree):
    ds = _build(tree)
    for rel in ("food/fruit/apple", "food/fruit/pear", "food/fruit/lemon"):
        px = ds.images.pixels[ds.ids.index(f"oc-{rel}")]
        assert px.shape == (32, 32, 3)
        assert (px[0, 0] == 255).all() and (px[-1, -1] == 255).all(), rel  # padding / transparent corners
        assert px.reshape(-1, 3).min(axis=0).max() < 250, rel  # and a drawing on it
    apple = ds.images.pixels[ds.ids.index("oc-food/fruit/apple")].astype(int)
    red = apple[16, 16]
    assert red[0] > 150 and red[1] < 60 and red[2] < 60


def test_shared_loader_composites_on_white(tmp_path):
    _png(tmp_path / "rgba.png", (0, 0, 255), (10, 10, 20, 20))
    _png(tmp_path / "pal.png", (0, 0, 255), (10, 10, 20, 20), "P")
    Image.new("LA", (4, 4), (0, 0)).save(tmp_path / "la.png")
    for name in ("rgba.png", "pal.png", "la.png"):
        px = np.asarray(open_image_file(tmp_path / name))
        assert px[0, 0].tolist() == [255, 255, 255], name
    half = Image.new("RGBA", (1, 1), (0, 0, 0, 128))
    assert np.asarray(to_rgb_on_white(half))[0, 0].tolist() == [127, 127, 127]


def test_labels_tags_and_plurals(tree):
    ds = _build(tree)
    assert "folder2:food/fruit" in ds.label_names and "tag:fruit" in ds.label_names
    assert "tag:apples" not in ds.label_names and ds.meta["plural_merges"]["apples"] == "apple"
    assert not any(n.startswith("folder2:unsorted") for n in ds.label_names)
    assert ds.labels.sum(axis=1).min() >= 1
    apple = ds.ids.index("oc-food/fruit/apple")
    assert ds.tags[apple] == ["fruit", "food", "apple"]
    assert ds.texts[apple] == "Red apple. fruit, food, apple"
    top = _build(tree, labels="folder1")
    assert all(n.startswith("folder1:") for n in top.label_names)


def test_text_variant_title_description(tree):
    ds = _build(tree, text="title+description")
    assert ds.texts[ds.ids.index("oc-food/fruit/apple")] == "Red apple. a shiny red apple"
    assert ds.texts[ds.ids.index("oc-food/fruit/pear")] == "Pear"


def test_deterministic_and_seeded_cap(tree):
    a, b = _build(tree), _build(tree)
    assert a.ids == b.ids and a.content_hash() == b.content_hash()
    assert np.array_equal(a.images.pixels, b.images.pixels)
    kept = {s for s in (_build(tree, seed=s) for s in range(6)) for s in [tuple(i for i in s.ids if "star" in i)]}
    assert len(kept) > 1  # the seed decides which collection members are kept
    assert all(len(k) == 2 for k in kept)
    assert sum("star" in i for i in _build(tree, collection_cap=0).ids) == 4


def test_saved_with_filtered_jsonl(tree, tmp_path):
    ds = _build(tree)
    out = save_dataset(ds, tmp_path / "ds")
    rows = [json.loads(line) for line in (out / "filtered.jsonl").read_text().splitlines()]
    assert rows == ds.meta["filtered_items"]
    back = load_dataset(out)
    assert back.content_hash() == ds.content_hash() and back.images.pixels.shape == (len(ds), 32, 32, 3)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="openclipart-svg"):
        build_openclipart(OpenClipartConfig(root=str(tmp_path)), progress=False)
    with pytest.raises(ConfigError, match="labels"):
        OpenClipartConfig(labels="folder9")
    with pytest.raises(ConfigError, match="openclipart: unknown option"):
        create_source_dataset("openclipart", bogus=1)


def test_unrenderable_is_reported(tree):
    _item(tree, "food/broken", "<svg this is not xml", None)
    (tree / "png" / "food" / "broken.png").write_bytes(b"not a png")
    ds = _build(tree)
    rec = next(r for r in ds.meta["filtered_items"] if r["file"] == "food/broken")
    assert rec["reason"] == "unrenderable" and "PNG unreadable" in rec["detail"] and "SVG" in rec["detail"]


def test_svg_meta_reads_work_not_agent():
    meta = parse_svg_meta(_svg(_rdf("Cat", ["pet", " animal "]), "").encode())
    assert (meta.title, meta.subjects, meta.parser) == ("Cat", ["pet", "animal"], "xml")
    broken = parse_svg_meta(b"<svg>&undeclared;<cc:Work><dc:creator><cc:Agent><dc:title>me</dc:title></cc:Agent>"
                            b"</dc:creator><dc:title>Dog &lt;3</dc:title></cc:Work></svg>")
    assert (broken.title, broken.parser, broken.found) == ("Dog <3", "regex", True) and broken.error
    assert not parse_svg_meta(b"<svg/>").found


def test_word_rules():
    assert normalise_tag(" Signs_and-Symbols ") == "signs and symbols" and normalise_tag("11") == ""
    assert plural_map(["star", "stars", "berries", "berry", "glass", "flag icons", "flag icon", "bus"]) == {
        "stars": "star", "berries": "berry", "flag icons": "flag icon"}
    assert collection_key("Part of the Flat Icon Collection (Wed Aug 25 23:29:46 2004)") == "part of the flat icon collection"
    assert collection_key("gramastar_12") == "gramastar" and collection_key("") == ""
    y, names, rare = label_matrix([["a", "b"], ["a"], ["c"]], min_items=2)
    assert names == ["a"] and rare == {"b": 1, "c": 1} and y.tolist() == [[1], [1], [0]]


def test_relevant_share():
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1]], np.uint8)
    ch = relevant_share(y, np.array([0, 2]), np.array([1, 3, 4]))
    assert ch["mean"] == pytest.approx(2 / 3, abs=1e-4) and ch["queries_without_relevant"] == 0


def test_cli_prepare_and_info(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    res = runner.invoke(app, ["data", "prepare", "openclipart", "--path", str(tree), "--n-query", "2", "--n-train",
                              "3", "--n-val", "1", "--opt", "size=32", "--opt", "collection_cap=2",
                              "--opt", "min_label_items=2"])
    assert res.exit_code == 0, res.output
    assert "duplicate-svg: 1 dropped" in res.output and "blank: 1 dropped" in res.output
    res = runner.invoke(app, ["data", "info", "openclipart"])
    assert res.exit_code == 0, res.output
    assert "chance level" in res.output and "filtered by reason" in res.output
    assert (tmp_path / "home" / "datasets" / "openclipart" / "sample_grid.png").is_file()


@pytest.mark.slow
def test_real_package(tmp_path):
    """Prepares the installed Debian package (minutes): filters, labels and the preset split."""
    if not Path(DEFAULT_ROOT, "svg").is_dir():
        pytest.skip("openclipart-svg is not installed")
    ds = create_source_dataset("openclipart", progress=False)
    counts = ds.meta["filter_counts"]
    assert ds.meta["n_files"] == len(ds) + sum(counts.values())
    assert counts["duplicate-svg"] > 0 and counts["blank"] > 0 and counts["collection-cap"] > 0
    assert ds.labels.sum(axis=1).min() >= 1 and not ds.empty_texts()
    from distilhash.data.prepare import draw_split

    split, note = draw_split(ds, "openclipart", None, {}, 0)  # the preset: whole groups (title, text, drawing hash)
    assert split.sizes()["query"] == 1000 and split.sizes()["val"] == 500 and "whole groups" in note
    corners = ds.images.pixels[:, 0, 0].reshape(-1, 3)
    assert (corners == 255).all(axis=1).mean() > 0.8  # drawings sit on white
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_assembly_reuses_a_scan_and_checks_its_options(tree):
    from dataclasses import replace

    from distilhash.data.openclipart import assemble_openclipart, scan_drawings

    cfg = OpenClipartConfig(root=str(tree), size=32, collection_cap=2, min_label_items=2)
    drawings = scan_drawings(cfg, progress=False)
    assert assemble_openclipart(drawings, cfg).content_hash() == _build(tree).content_hash()
    assert len(assemble_openclipart(drawings, replace(cfg, collection_cap=0))) == len(_build(tree)) + 2
    with pytest.raises(ConfigError, match="size"):
        assemble_openclipart(drawings, replace(cfg, size=64))
