"""The Material Design Icons pair source keeps icons named by a thing: no variants, symbols or held-out emoji names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.data import mdi_icons as mdi
from distilhash.data.emoji_assets import Emoji, EmojiCatalog
from distilhash.data.npm_tarball import NpmTarball, integrity_of
from npm_fixtures import write_tarball


def _svg(k: int) -> bytes:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M{2 + k % 5} 3H{10 + k} '
            f'V{8 + k % 9}H{2 + k % 5}Z"/></svg>').encode()


def _icon(name: str, tags: list[str], aliases: list[str] = (), styles: list[str] = (), deprecated: bool = False) -> dict:
    return {"name": name, "aliases": list(aliases), "tags": tags, "styles": list(styles), "deprecated": deprecated}


ICONS = [
    _icon("fire-hydrant", ["Home Automation"], aliases=["hydrant", "fire-plug", "hydrant"]),  # kept
    _icon("teapot", ["Food / Drink"]),  # kept
    _icon("teapot-outline", ["Food / Drink"]),  # a variant by name (a style word of another icon)
    _icon("kettle-steam", ["Food / Drink"], styles=["outline"]),  # a variant by its styles
    _icon("numeric-5", ["Alpha / Numeric"]),  # a symbol
    _icon("pump", []),  # no category
    _icon("horse", ["Animal"]),  # a held-out emoji's name
    _icon("old-thing", ["Animal"], deprecated=True),
    _icon("teapot-copy", ["Food / Drink"]),  # the same picture as teapot
]
PIXEL_TWIN = {"teapot-copy": 1}


@pytest.fixture
def package(tmp_path, monkeypatch):
    files = {"meta.json": json.dumps(ICONS).encode(),
             **{f"svg/{icon['name']}.svg": _svg(PIXEL_TWIN.get(icon["name"], k)) for k, icon in enumerate(ICONS)}}
    path = write_tarball(tmp_path / "mdi-tiny.tgz", files)
    monkeypatch.setattr(mdi, "MDI", NpmTarball("@mdi/svg", "0.0.1", integrity_of(path), "DISTILHASH_MDI_SVG"))
    monkeypatch.setenv("DISTILHASH_MDI_SVG", str(path))
    return path


def test_keeps_icons_named_by_a_thing_and_counts_why(package):
    catalog = EmojiCatalog([Emoji("\U0001F40E", "horse", ("horse",), "Animals & Nature", "animal-mammal")])
    g = mdi.mdi_icons(size=24, catalog=catalog)
    assert g.ids == ["mdi-fire-hydrant", "mdi-teapot"] and g.titles == ["fire hydrant", "teapot"]
    assert g.meta["captions"] == ["fire hydrant. hydrant, fire plug", "teapot"]
    assert g.images.shape == (2, 24, 24, 3) and g.images.dtype == np.uint8 and g.images.min() < 100
    assert g.meta["counts"] == {"read": 9, "kept": 2, "style variant": 2, "category Alpha / Numeric": 1,
                                "no category": 1, "name of a held-out emoji": 1, "deprecated": 1, "identical pixels": 1}
    assert g.meta["style_words"] == ["outline"]


def test_the_pinned_release():
    assert mdi.MDI.spec == "@mdi/svg@7.4.47" and mdi.MDI.filename == "mdi-svg-7.4.47.tgz"
    assert mdi.MDI.integrity.startswith("sha512-WQ2gDll12T9WD")


def test_an_alias_naming_a_held_out_emoji_keeps_the_icon_out(tmp_path, monkeypatch):
    """An alias is another name of the same drawing (the package's tortoise is also its turtle) and goes into the
    caption: an icon whose alias names a held-out emoji is left out like one whose name does."""
    icons = [_icon("tortoise", ["Animal"], aliases=["turtle"]), _icon("teapot", ["Food / Drink"], aliases=["kettle"])]
    files = {"meta.json": json.dumps(icons).encode(), **{f"svg/{i['name']}.svg": _svg(k) for k, i in enumerate(icons)}}
    path = write_tarball(tmp_path / "mdi-alias.tgz", files)
    monkeypatch.setattr(mdi, "MDI", NpmTarball("@mdi/svg", "0.0.2", integrity_of(path), "DISTILHASH_MDI_SVG"))
    monkeypatch.setenv("DISTILHASH_MDI_SVG", str(path))
    catalog = EmojiCatalog([Emoji("\U0001F422", "turtle", ("turtle",), "Animals & Nature", "animal-reptile")])
    g = mdi.mdi_icons(size=24, catalog=catalog)
    assert g.ids == ["mdi-teapot"] and g.meta["captions"] == ["teapot. kettle"]
    assert g.meta["counts"] == {"read": 2, "kept": 1, "alias is the name of a held-out emoji": 1}


def test_a_nameless_icon_is_counted_not_a_crash():
    assert mdi.mdi_rule({"tags": ["Animal"]}, frozenset(), frozenset()) == "no name"
    assert mdi.mdi_rule({"name": "--", "tags": ["Animal"]}, frozenset(), frozenset()) == "no name"
    assert mdi.mdi_rule({"name": "teapot", "tags": ["Food / Drink"]}, frozenset(), frozenset()) == ""


def test_a_meta_json_of_the_wrong_shape_is_named(tmp_path, monkeypatch):
    from distilhash.errors import DataError

    for payload, expected in (({"icons": []}, "holds a dict; expected a list of objects"),
                              ([_icon("teapot", ["Food / Drink"]), "kettle"], "entry 1 is a str .*expected an object")):
        path = write_tarball(tmp_path / "mdi-bad.tgz", {"meta.json": json.dumps(payload).encode()})
        monkeypatch.setattr(mdi, "MDI", NpmTarball("@mdi/svg", "0.0.3", integrity_of(path), "DISTILHASH_MDI_SVG"))
        monkeypatch.setenv("DISTILHASH_MDI_SVG", str(path))
        with pytest.raises(DataError, match=f"package/meta.json {expected}"):
            mdi.mdi_icons(size=24, catalog=EmojiCatalog([]))


def test_pairs_cached_under_the_old_rule_are_rebuilt(package, tmp_path, monkeypatch):
    """A home that cached the mdi pairs before the alias rule holds a stale set: it is not read back."""
    from distilhash.data.openmoji import HeldOutEmoji
    from distilhash.teachers import pair_sources as ps

    # the registered source reads the installed catalogue; here a held-out half of one name stands in for it
    monkeypatch.setattr("distilhash.data.openmoji.held_out_emoji",
                        lambda catalog=None: HeldOutEmoji(frozenset(), frozenset({"horse"})))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "pairs-mdi-K.json").write_text(json.dumps({"ids": ["mdi-stale"], "texts": ["stale"], "meta": {},
                                                        "views": {}, "resample": "bilinear"}))
    np.save(cache / "pairs-mdi-K.npy", np.zeros((1, 24, 24, 3), np.uint8))
    [p] = ps.load_pairs(["mdi"], cache=cache, key="K", size=24, progress=False)
    assert p.ids == ["mdi-fire-hydrant", "mdi-teapot"]
    assert (cache / f"pairs-mdi-v{ps.RULE_VERSIONS['mdi']}-K.json").is_file()
