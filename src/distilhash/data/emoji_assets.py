"""The three Debian assets behind EmojiScenes: emoji list, English annotations, colour font.

* ``emoji-test.txt`` (package ``unicode-data``): every emoji with its status
  (fully-qualified, ...), its group and subgroup, and its Unicode name.
* CLDR English annotations (package ``unicode-cldr-core``): ``annotations/en.xml`` holds the
  spoken name ("tts") and keywords of single code points; ``annotationsDerived/en.xml`` those
  of sequences (ZWJ families, professions, keycaps). CLDR keys drop U+FE0F.
* ``NotoColorEmoji.ttf`` (package ``fonts-noto-color-emoji``): a CBDT bitmap colour font,
  loaded by Pillow at its native strike (109 px) with ``embedded_color=True``.

This module parses those files into :class:`Emoji` records and renders each glyph once into a
tight RGBA sprite. It imports Pillow only inside the rendering functions.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from distilhash.errors import DataError

__all__ = [
    "Asset",
    "ASSETS",
    "asset_path",
    "Emoji",
    "EmojiCatalog",
    "parse_emoji_test",
    "load_annotations",
    "load_catalog",
    "render_glyphs",
    "GLYPH_PX",
]

#: Native bitmap strike of Noto Color Emoji: the only size the CBDT font renders at.
GLYPH_PX = 109


@dataclass(frozen=True)
class Asset:
    """A file shipped by a Debian package; ``env`` names the variable that may override its path."""

    path: str
    package: str
    env: str


#: Asset key -> default location, Debian package, override variable.
ASSETS: dict[str, Asset] = {
    "emoji-test": Asset("/usr/share/unicode/emoji/emoji-test.txt", "unicode-data", "DISTILHASH_EMOJI_TEST"),
    "cldr-annotations": Asset(
        "/usr/share/unicode/cldr/common/annotations/en.xml", "unicode-cldr-core", "DISTILHASH_CLDR_ANNOTATIONS"
    ),
    "cldr-derived": Asset(
        "/usr/share/unicode/cldr/common/annotationsDerived/en.xml", "unicode-cldr-core", "DISTILHASH_CLDR_DERIVED"
    ),
    "emoji-font": Asset(
        "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", "fonts-noto-color-emoji", "DISTILHASH_EMOJI_FONT"
    ),
}


def asset_path(key: str, override: str | Path | None = None) -> Path:
    """Path of asset ``key`` (explicit ``override``, else ``$ENV``, else the Debian location).

    Raises:
        DataError: naming the missing file and the Debian package that provides it.
    """
    if key not in ASSETS:
        raise DataError(f"unknown emoji asset {key!r}; valid: {', '.join(ASSETS)}")
    asset = ASSETS[key]
    path = Path(override or os.environ.get(asset.env) or asset.path)
    if not path.is_file():
        raise DataError(
            f"EmojiScenes needs {path} ({key}), which is missing; it comes with the Debian package "
            f"{asset.package!r}: run `sudo apt-get install {asset.package}` (or `make setup`), "
            f"or point ${asset.env} at a copy"
        )
    return path


@dataclass(frozen=True)
class Emoji:
    """One emoji of the catalogue.

    Attributes:
        chars: the fully-qualified character sequence.
        name: the spoken English name (CLDR tts, else the emoji-test name).
        keywords: CLDR keywords (may include the name); never empty.
        group: emoji-test group (e.g. ``"Animals & Nature"``).
        subgroup: emoji-test subgroup (e.g. ``"animal-bird"``).
        version: the Emoji version that introduced it (e.g. ``"E13.0"``).
        annotated: False when CLDR has no entry and name/keywords come from emoji-test.
    """

    chars: str
    name: str
    keywords: tuple[str, ...]
    group: str
    subgroup: str
    version: str = ""
    annotated: bool = True

    @property
    def synonyms(self) -> tuple[str, ...]:
        """Keywords other than the name itself (candidates to replace it in a caption)."""
        return tuple(k for k in self.keywords if k != self.name)


@dataclass
class EmojiCatalog:
    """The emojis kept for scenes, with a report of everything left out and why.

    Attributes:
        emojis: kept emojis, in emoji-test (CLDR) order.
        filtered: reason -> number of emoji-test entries left out for it.
        sources: asset key -> path read.
        emoji_version: the ``# Version:`` of emoji-test.txt.
    """

    emojis: list[Emoji]
    filtered: dict[str, int] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    emoji_version: str = ""

    def __len__(self) -> int:
        return len(self.emojis)

    def subgroups(self) -> list[str]:
        """Subgroup names in first-appearance order."""
        return list(dict.fromkeys(e.subgroup for e in self.emojis))

    def groups(self) -> list[str]:
        return list(dict.fromkeys(e.group for e in self.emojis))

    def subset(self, keep: Sequence[bool], reason: str) -> EmojiCatalog:
        """A catalogue with the emojis where ``keep`` is true; the rest counted under ``reason``."""
        kept = [e for e, k in zip(self.emojis, keep) if k]
        filtered = dict(self.filtered)
        if len(kept) != len(self.emojis):
            filtered[reason] = filtered.get(reason, 0) + len(self.emojis) - len(kept)
        return EmojiCatalog(kept, filtered, dict(self.sources), self.emoji_version)


_LINE = re.compile(r"^(?P<cps>[0-9A-Fa-f ]+?)\s*;\s*(?P<status>[\w-]+)\s*#\s*\S+\s+(?P<ver>E\d+\.\d+)\s+(?P<name>.+)$")
_SKIN_TONES = set(range(0x1F3FB, 0x1F400))


@dataclass(frozen=True)
class _TestEntry:
    chars: str
    status: str
    group: str
    subgroup: str
    version: str
    name: str


def parse_emoji_test(path: str | Path | None = None) -> tuple[list[_TestEntry], str]:
    """Parse ``emoji-test.txt`` into entries (all statuses) and its ``Version:`` string.

    Raises:
        DataError: for a data line that does not match ``code points ; status # emoji Ever name``.
    """
    path = asset_path("emoji-test", path)
    entries: list[_TestEntry] = []
    group = subgroup = ""
    version = ""
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            body = line[1:].strip()
            if body.startswith("group:"):
                group = body.split(":", 1)[1].strip()
            elif body.startswith("subgroup:"):
                subgroup = body.split(":", 1)[1].strip()
            elif body.startswith("Version:"):
                version = body.split(":", 1)[1].strip()
            continue
        m = _LINE.match(line)
        if m is None:
            raise DataError(
                f"{path}:{lineno}: cannot parse {raw!r}; expected 'CODEPOINTS ; status # EMOJI E<version> name'"
            )
        if not subgroup:
            raise DataError(f"{path}:{lineno}: emoji line before any '# subgroup:' header")
        chars = "".join(chr(int(cp, 16)) for cp in m["cps"].split())
        entries.append(_TestEntry(chars, m["status"], group, subgroup, m["ver"], m["name"].strip()))
    if not entries:
        raise DataError(f"{path}: no emoji lines found; expected the Unicode emoji-test.txt format")
    return entries, version


def load_annotations(*paths: str | Path) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """CLDR annotations: key (chars without U+FE0F) -> (tts name or None, keywords).

    Earlier files win when a key appears in several (pass ``en.xml`` before the derived file).
    """
    out: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    for p in paths:
        p = Path(p)
        try:
            root = ET.parse(p).getroot()
        except (ET.ParseError, OSError) as exc:
            raise DataError(f"cannot parse CLDR annotations {p}: {exc}") from exc
        names: dict[str, str] = {}
        keywords: dict[str, tuple[str, ...]] = {}
        for el in root.iter("annotation"):
            cp, text = el.get("cp"), (el.text or "").strip()
            if not cp or not text:
                continue
            if el.get("type") == "tts":
                names.setdefault(cp, text)
            else:
                keywords.setdefault(cp, tuple(k.strip() for k in text.split("|") if k.strip()))
        for cp in names.keys() | keywords.keys():
            if cp not in out:
                out[cp] = (names.get(cp), keywords.get(cp, ()))
    return out


def _fallback_keywords(name: str) -> tuple[str, ...]:
    words = [w for w in re.split(r"[^\w'-]+", name.lower()) if len(w) > 2]
    return tuple(dict.fromkeys([name, *words]))


def load_catalog(
    exclude_groups: Sequence[str] = ("Component", "Flags"),
    skin_tones: bool = False,
    emoji_test: str | Path | None = None,
    annotations: Sequence[str | Path] | None = None,
) -> EmojiCatalog:
    """Fully-qualified emojis of emoji-test.txt with CLDR names and keywords.

    Left out (and counted in ``catalog.filtered``): non-fully-qualified entries, the groups in
    ``exclude_groups``, sequences with a skin-tone modifier (unless ``skin_tones``). Emojis newer
    than the CLDR release (no annotation) keep their emoji-test name, with its words as keywords;
    their number is in ``filtered["no CLDR annotation (name from emoji-test used)"]`` — counted
    but kept.
    """
    entries, version = parse_emoji_test(emoji_test)
    paths = (
        [Path(p) for p in annotations]
        if annotations is not None
        else [asset_path("cldr-annotations"), asset_path("cldr-derived")]
    )
    ann = load_annotations(*paths)
    counts: Counter[str] = Counter()
    emojis: list[Emoji] = []
    excluded = set(exclude_groups)
    known = dict.fromkeys(e.group for e in entries)
    if excluded - known.keys():
        raise DataError(
            f"unknown emoji group(s) {sorted(excluded - known.keys())} to exclude; groups of "
            f"{asset_path('emoji-test', emoji_test)}: {', '.join(known)}"
        )
    for e in entries:
        if e.status != "fully-qualified":
            counts[f"status {e.status}"] += 1
            continue
        if e.group in excluded:
            counts[f"group {e.group}"] += 1
            continue
        if not skin_tones and any(ord(c) in _SKIN_TONES for c in e.chars):
            counts["skin-tone variant"] += 1
            continue
        name, kws = ann.get(e.chars.replace("\ufe0f", ""), (None, ()))
        annotated = name is not None
        name = name or e.name
        if not annotated:
            counts["no CLDR annotation (name from emoji-test used)"] += 1
        kws = tuple(dict.fromkeys(kws)) or _fallback_keywords(name)
        emojis.append(Emoji(e.chars, name, kws, e.group, e.subgroup, e.version, annotated))
    sources = {"emoji-test": str(asset_path("emoji-test", emoji_test))}
    sources.update({f"annotations[{i}]": str(p) for i, p in enumerate(paths)})
    return EmojiCatalog(emojis, dict(sorted(counts.items())), sources, version)


def render_glyphs(
    chars: Sequence[str], font_path: str | Path | None = None, progress: bool = False
) -> tuple[list[np.ndarray | None], dict[str, int]]:
    """Render each character sequence once at the font's native 109 px strike.

    Returns:
        sprites: per sequence, a tight-cropped uint8 RGBA array ``[h, w, 4]`` (alpha-bbox crop),
            or None when the font cannot render it as one glyph;
        rejected: reason -> count (``blank render``, ``notdef glyph``, ``several glyphs``).

    A sequence is rejected when its render is fully transparent, equals the font's
    ``.notdef`` render, or is wider than 1.5 glyph cells (a ZWJ sequence the font does not
    ligate is drawn as several glyphs side by side).
    """
    from PIL import Image, ImageDraw, ImageFont, features

    path = asset_path("emoji-font", font_path)
    layout = ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC
    try:
        font = ImageFont.truetype(str(path), GLYPH_PX, layout_engine=layout)
    except OSError as exc:
        raise DataError(f"cannot load the emoji font {path}: {exc} (expected Noto Color Emoji, CBDT)") from exc

    def draw(s: str) -> np.ndarray:
        left, top, right, bottom = font.getbbox(s)
        w, h = max(right, 1) + 4, max(bottom, 1) + 4
        im = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        ImageDraw.Draw(im).text((0, 0), s, font=font, embedded_color=True)
        return np.asarray(im)

    cell = draw("\U0001f600").shape[1]  # width of one ordinary glyph cell
    notdef = draw("\U0010fffd")
    notdef_crop = _crop(notdef) if notdef[..., 3].any() else None
    sprites: list[np.ndarray | None] = []
    rejected: Counter[str] = Counter()
    it = chars
    if progress:
        from tqdm import tqdm

        it = tqdm(chars, desc="emoji glyphs", unit="glyph", leave=False)
    for s in it:
        arr = draw(s)
        if not arr[..., 3].any():
            rejected["blank render"] += 1
            sprites.append(None)
            continue
        crop = _crop(arr)
        if notdef_crop is not None and crop.shape == notdef_crop.shape and np.array_equal(crop, notdef_crop):
            rejected["notdef glyph"] += 1
            sprites.append(None)
            continue
        if crop.shape[1] > 1.5 * cell:
            rejected["several glyphs"] += 1
            sprites.append(None)
            continue
        sprites.append(crop)
    return sprites, dict(rejected)


def _crop(rgba: np.ndarray) -> np.ndarray:
    """Crop an RGBA array to the bounding box of its non-transparent pixels."""
    ys, xs = np.nonzero(rgba[..., 3])
    return np.ascontiguousarray(rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
