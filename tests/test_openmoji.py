"""The OpenMoji pair source: pinned and verified, and nothing near the emoji benchmark's held-out half is fitted on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from distilhash.data import openmoji as om
from distilhash.data.emoji_assets import Emoji, EmojiCatalog
from distilhash.data.emoji_glyphs import emoji_held_out
from distilhash.data.npm_tarball import NpmTarball, integrity_of
from distilhash.errors import DataError
from npm_fixtures import write_tarball

HELD, FREE = "animal-mammal", "food-fruit"  # one subgroup the benchmark holds out, one it does not


def _svg(k: int) -> bytes:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 72 72"><rect x="{10 + k}" y="12" width="30" '
            f'height="{20 + 2 * k}" fill="#{(40 * k) % 256:02x}8040" stroke="#000" stroke-width="2"/></svg>').encode()


def _glyph(hexcode: str, name: str, group: str, sub: str, k: int, tags: str = "", skintone: str = "") -> dict:
    chars = "".join(chr(int(c, 16)) for c in hexcode.split("-"))
    return {"emoji": chars, "hexcode": hexcode, "group": group, "subgroups": sub, "annotation": name, "tags": tags,
            "openmoji_tags": "fresh, apple", "skintone": skintone, "k": k}


GLYPHS = [
    _glyph("1F34E", "red apple", "food-drink", FREE, 0, tags="apple, fruit, red"),  # kept
    _glyph("1F40E", "horse", "animals-nature", HELD, 1),  # held-out subgroup
    _glyph("1F34F", "green apple", "food-drink", "food-fruit-old", 2),  # held-out sequence under another subgroup name
    _glyph("E001", "donkey", "extras-openmoji", "animals-nature", 3),  # an extra named as a held-out emoji
    _glyph("E002", "espresso machine", "extras-openmoji", "objects", 4),  # kept
    _glyph("E003", "instagram", "extras-openmoji", "brand", 5),  # a logo
    _glyph("1F44B-1F3FB", "waving hand: light skin tone", "people-body", "hand-fingers-open", 6, skintone="1F3FB"),
    _glyph("1F1EB-1F1F7", "flag: France", "flags", "country-flag", 7),
    _glyph("E004", "espresso machine copy", "extras-openmoji", "objects", 4),  # the same picture as E002
    _glyph("E005", "", "extras-openmoji", "objects", 8),  # no caption
    _glyph("E006", "ghost drawing", "extras-openmoji", "objects", 9),  # no SVG in the package
]

CATALOG = EmojiCatalog([Emoji("\U0001F40E", "horse", ("horse",), "Animals & Nature", HELD),
                        Emoji("\U0001F34F", "green apple", ("apple",), "Food & Drink", "food-vegetable"),
                        Emoji("\U0001FACF", "donkey", ("donkey",), "Animals & Nature", HELD),
                        Emoji("\U0001F34E", "red apple", ("apple",), "Food & Drink", FREE)])


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A tiny openmoji tarball (the same layout as the real one), pinned as OPENMOJI and pointed at by its variable."""
    assert emoji_held_out(HELD) and not emoji_held_out(FREE) and emoji_held_out("food-vegetable")
    files = {"data/openmoji.json": json.dumps([{k: v for k, v in g.items() if k != "k"} for g in GLYPHS]).encode(),
             **{f"color/svg/{g['hexcode']}.svg": _svg(g["k"]) for g in GLYPHS[:-1]}}
    path = write_tarball(tmp_path / "openmoji-tiny.tgz", files)
    monkeypatch.setattr(om, "OPENMOJI", NpmTarball("openmoji", "0.0.1", integrity_of(path), "DISTILHASH_OPENMOJI"))
    monkeypatch.setenv("DISTILHASH_OPENMOJI", str(path))
    return path


def test_keeps_only_glyphs_away_from_the_held_out_emojis_and_counts_why(package):
    g = om.openmoji_glyphs(size=32, catalog=CATALOG)
    assert g.ids == ["openmoji-1f34e", "openmoji-e002"]
    assert g.images.shape == (2, 32, 32, 3) and g.images.dtype == np.uint8 and g.images.std() > 10
    assert g.titles == ["red apple", "espresso machine"]
    assert g.meta["captions"] == ["red apple. apple, fruit, red, fresh", "espresso machine. fresh, apple"]
    c = g.meta["counts"]
    assert c == {"read": 11, "kept": 2, "held-out emoji subgroup": 1, "held-out emoji sequence (in another subgroup here)": 1,
                 "name of a held-out emoji": 1, "extras subgroup brand": 1, "skin-tone variant": 1, "group flags": 1,
                 "identical pixels": 1, "empty caption": 1, "SVG missing": 1}
    assert sum(v for k, v in c.items() if k != "read") == c["read"]


def test_the_pair_source_reads_the_installed_catalogue_rule(package, tmp_path, monkeypatch):
    """Registered as `openmoji`: the held-out half comes from the emoji catalogue the benchmark reads."""
    from distilhash.teachers.pair_sources import PAIR_SOURCES

    test = tmp_path / "emoji-test.txt"
    test.write_text("# Version: 15.0\n# group: Animals & Nature\n# subgroup: animal-mammal\n"
                    "1F40E ; fully-qualified # \U0001F40E E0.6 horse\n"
                    "# group: Food & Drink\n# subgroup: food-vegetable\n"
                    "1F34F ; fully-qualified # \U0001F34F E0.6 green apple\n"
                    "# group: Component\n# subgroup: skin-tone\n1F3FB ; component # \U0001F3FB E1.0 light skin tone\n"
                    "# group: Flags\n# subgroup: country-flag\n1F1EB 1F1F7 ; fully-qualified # x E0.6 flag: France\n",
                    encoding="utf-8")
    cldr = tmp_path / "en.xml"
    cldr.write_text('<ldml><annotations><annotation cp="\U0001F40E" type="tts">horse</annotation>'
                    '<annotation cp="\U0001F40E">horse | racing</annotation></annotations></ldml>', encoding="utf-8")
    monkeypatch.setenv("DISTILHASH_EMOJI_TEST", str(test))
    monkeypatch.setenv("DISTILHASH_CLDR_ANNOTATIONS", str(cldr))
    monkeypatch.setenv("DISTILHASH_CLDR_DERIVED", str(cldr))
    p = PAIR_SOURCES.create("openmoji", size=24, progress=False)
    assert p.name == "openmoji" and p.images.shape == (len(p), 24, 24, 3)
    assert "openmoji-1f40e" not in p.ids and "openmoji-1f34f" not in p.ids  # held-out subgroup, held-out sequence
    assert "openmoji-e001" in p.ids  # this catalogue holds no donkey, so the extra of that name is legitimate here
    assert p.caption_view("title")[p.ids.index("openmoji-1f34e")] == "red apple"
    assert p.meta["counts"]["kept"] == len(p) and p.meta["package"] == "openmoji@0.0.1"


def test_the_tarball_is_verified_and_a_missing_one_says_how_to_get_it(package, tmp_path, monkeypatch):
    pinned = om.OPENMOJI
    assert pinned.path() == package
    wrong = NpmTarball(pinned.name, pinned.version, "sha512-" + "A" * 86 + "==", pinned.env)
    with pytest.raises(DataError, match=r"integrity .* is not the pinned .*; point \$DISTILHASH_OPENMOJI at the .tgz"):
        wrong.path()  # the file is the user's copy: repoint the variable, do not delete it
    monkeypatch.setenv("DISTILHASH_OPENMOJI", str(tmp_path / "absent.tgz"))
    with pytest.raises(DataError, match="DISTILHASH_OPENMOJI=.*absent.tgz: no such file"):
        pinned.path()
    monkeypatch.delenv("DISTILHASH_OPENMOJI")
    monkeypatch.setattr("shutil.which", lambda _: None)
    with pytest.raises(DataError, match=r"openmoji@0.0.1 is needed at .*sources/npm/openmoji-0.0.1.tgz \(`npm` is not "
                                        r"installed here\); with a network, run `npm pack openmoji@0.0.1"):
        pinned.path()
    with pytest.raises(DataError, match="fetching is off"):
        pinned.path(fetch=False)


def test_the_pinned_release_and_scoped_names():
    assert om.OPENMOJI.spec == "openmoji@17.0.0" and om.OPENMOJI.integrity.startswith("sha512-EBnYrNGd")
    assert NpmTarball("@mdi/svg", "7.4.47", "sha512-x", "X").filename == "mdi-svg-7.4.47.tgz"


def test_a_corrupt_copy_in_the_home_is_named_with_how_to_replace_it(package, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DISTILHASH_HOME", str(home))
    monkeypatch.delenv("DISTILHASH_OPENMOJI")
    pinned = om.OPENMOJI
    pinned.default_path().parent.mkdir(parents=True)
    pinned.default_path().write_bytes(b"truncated download")
    with pytest.raises(DataError, match=r"openmoji-0.0.1.tgz: integrity .* delete it and fetch again \(`npm pack openmoji@0.0.1`\)"):
        pinned.path(fetch=False)


def test_a_failed_npm_pack_is_reported_with_its_last_line(tmp_path, monkeypatch):
    """The fetch runs `npm pack`; its failure (offline) or a run that writes no tarball are named, not a traceback."""
    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DISTILHASH_OPENMOJI", raising=False)
    pinned = NpmTarball("openmoji", "0.0.1", "sha512-x", "DISTILHASH_OPENMOJI")
    for name, script, expected in (
            ("npm-offline", "echo 'npm ERR! code ENOTFOUND' >&2; echo 'npm ERR! network request failed' >&2; exit 1",
             r"`npm pack` failed, offline\?: npm ERR! network request failed\)"),
            ("npm-silent", "exit 0", r"`npm pack` wrote no such file")):
        npm = tmp_path / name
        npm.write_text(f"#!/bin/sh\n{script}\n")
        npm.chmod(0o755)
        monkeypatch.setattr("shutil.which", lambda _, npm=npm: str(npm))
        with pytest.raises(DataError, match=r"openmoji@0.0.1 is needed at .*openmoji-0.0.1.tgz \(" + expected):
            pinned.path()
