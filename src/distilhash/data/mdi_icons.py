"""Material Design Icons (npm ``@mdi/svg``, Apache-2.0) named by nouns, as titled pictures.

The package holds one monochrome 24 x 24 SVG per icon and ``meta.json``: ``name`` (dash-separated words,
``"fire-hydrant"``), ``aliases``, ``tags`` (categories, ``"Food / Drink"``), ``styles`` (the modifiers a variant adds:
``outline``, ``off``, ``plus``, ...) and ``deprecated``. Most icons are interface symbols or variants of another icon;
:func:`mdi_icons` keeps an icon unless (counted per reason, in this order):

1. it is deprecated, or has no name;
2. it is a variant: its ``styles`` are set, or its name holds one of the package's own style words (the union of every
   icon's ``styles``: ``outline``, ``variant``, ``off``, ``box``, ``circle``, ``plus``, ``arrow``, ...);
3. it has no category, or one of :data:`DROPPED_CATEGORIES` (interface, text, symbols, brands, emoji);
4. its name or one of its aliases (words joined by spaces) is the name of a held-out emoji of the open-vocabulary
   benchmark (:func:`~distilhash.data.openmoji.held_out_emoji`): an alias is another name of the same drawing
   (``tortoise`` is also ``turtle``), and the caption carries it;
5. its SVG is missing or unrenderable, its picture blank or pixel-identical to a kept one
   (:func:`~distilhash.data.svg_pictures.draw_members`).

Caption, as ``emoji-fit``'s: ``"name. alias, alias"`` (dashes read as spaces); the title view is the name.
"""

from __future__ import annotations

from typing import Any

from distilhash.data.emoji_glyphs import TitledImages
from distilhash.data.npm_tarball import NpmTarball
from distilhash.errors import DataError

__all__ = ["MDI", "DROPPED_CATEGORIES", "mdi_rule", "mdi_caption", "mdi_icons"]

#: the pinned package: ``npm view @mdi/svg@7.4.47 dist.integrity``
MDI = NpmTarball("@mdi/svg", "7.4.47",
                 "sha512-WQ2gDll12T9WD34fdRFgQVgO8bag3gavrAgJ0frN4phlwdJARpE6gO1YvLEMJR0KKgoc+/Ea/A0Pp11I00xBvw==",
                 "DISTILHASH_MDI_SVG")

#: categories of icons that show an interface action, text, a symbol, a brand or an emoji face rather than a thing
DROPPED_CATEGORIES: frozenset[str] = frozenset({
    "Brand / Logo", "Alpha / Numeric", "Arrow", "Text / Content / Format", "Alert / Error", "Settings", "Lock", "Math",
    "Navigation", "Edit / Modify", "Files / Folders", "Account / User", "Developer / Languages", "Database",
    "Geographic Information System", "Shape", "Vector", "Form", "View", "Arrange", "Notification", "Tooltip", "Color",
    "Emoji", "Battery", "Cloud"})


def _words(name: str) -> str:
    return " ".join(w for w in str(name).split("-") if w)


def mdi_rule(record: dict[str, Any], style_words: frozenset[str], held_names: frozenset[str]) -> str:
    """Why the icon ``record`` (one entry of ``meta.json``) is left out (reasons 1-4), or ``""`` to keep it."""
    tags = list(record.get("tags") or [])
    if record.get("deprecated"):
        return "deprecated"
    if not _words(record.get("name") or ""):
        return "no name"
    if record.get("styles") or style_words & set(str(record.get("name", "")).split("-")):
        return "style variant"
    if not tags:
        return "no category"
    dropped = sorted(t for t in tags if t in DROPPED_CATEGORIES)
    if dropped:
        return f"category {dropped[0]}"
    if _words(record.get("name", "")).lower() in held_names:
        return "name of a held-out emoji"
    if any(_words(a).lower() in held_names for a in record.get("aliases") or []):
        return "alias is the name of a held-out emoji"
    return ""


def mdi_caption(record: dict[str, Any]) -> str:
    """``"name. alias, alias"`` with dashes read as spaces, each alias once and not the name again."""
    name = _words(record.get("name", ""))
    seen = {name}
    aliases = [a for a in (_words(x) for x in record.get("aliases") or []) if a and not (a in seen or seen.add(a))]
    return f"{name}. {', '.join(aliases)}".rstrip(". ,") if name else ""


def mdi_icons(size: int = 128, catalog=None, blank_std: float = 2.0, progress: bool = False,
              fetch: bool = True) -> TitledImages:
    """The icons kept by rules 1-5, drawn at ``size`` (uint8 ``[n, size, size, 3]``), titled by their name's words.

    ``meta``: ``captions``, ``categories`` per icon, ``counts`` (read, kept, each reason), the package and its integrity.
    """
    from distilhash.data.npm_tarball import member_records
    from distilhash.data.openmoji import held_out_emoji
    from distilhash.data.svg_pictures import draw_kept

    held = held_out_emoji(catalog).names
    with MDI.open(fetch) as tar:
        records = member_records(tar, "package/meta.json", MDI.spec)
        style_words = frozenset(s for r in records for s in r.get("styles") or [])
        kept, pixels, counts = draw_kept(tar, records, [mdi_rule(r, style_words, held) for r in records],
                                         lambda r: f"package/svg/{r['name']}.svg", size, blank_std, progress, "MDI icons")
    if not kept:
        raise DataError(f"{MDI.spec}: no icon left after the filters ({counts})")
    return TitledImages(
        "mdi", ids=[f"mdi-{r['name']}" for r in kept], titles=[_words(r["name"]) for r in kept], images=pixels,
        meta={"captions": [mdi_caption(r) for r in kept], "categories": [list(r.get("tags") or []) for r in kept],
              "counts": counts, "package": MDI.spec,
              "integrity": MDI.integrity, "licence": "Apache-2.0", "style_words": sorted(style_words)})
