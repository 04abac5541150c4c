"""OpenMoji drawings (npm ``openmoji``, CC-BY-SA-4.0) as titled pictures, minus everything near the emoji benchmark.

OpenMoji is a set of flat coloured SVG emoji with black outlines (clip-art style), each described in
``data/openmoji.json``: ``annotation`` (the CLDR name, or OpenMoji's own for its non-Unicode "extras"), ``tags``
(CLDR keywords), ``openmoji_tags``, ``group``, ``subgroups`` (the Unicode subgroup; extras have their own),
``skintone``. The tarball is pinned and verified (:data:`OPENMOJI`, :mod:`.npm_tarball`).

:func:`openmoji_glyphs` keeps a glyph unless (counted per reason, in this order):

1. it is a skin-tone variant (``skintone`` set, or a U+1F3FB-1F3FF modifier), as ``emoji-fit`` has none;
2. its group is ``flags`` or ``component`` (``emoji-fit``'s catalogue leaves out Flags and Component);
3. it is an extra of a subgroup in :data:`DROPPED_EXTRA_SUBGROUPS` (flags and their letters; brand logos, user-interface
   and gesture icons, whose names say an action or a program, not what is drawn);
4. it is a Unicode emoji of a subgroup the open-vocabulary benchmark holds out
   (:func:`~distilhash.data.emoji_glyphs.emoji_held_out`, the rule ``emoji-fit`` applies);
5. its sequence (without U+FE0F) is a held-out emoji of the installed catalogue (a subgroup renamed between versions);
6. its annotation is the name of a held-out emoji (an extra drawing the same thing under another code);
7. its caption is empty, its SVG is missing or unrenderable, its picture blank, or pixel-identical to a kept one.

Caption, as ``emoji-fit``'s: ``"annotation. keyword, keyword"`` (``tags`` then ``openmoji_tags``, each once, the
annotation not repeated); the title view is the annotation. Pictures are drawn like the openclipart drawings
(:func:`~distilhash.data.openclipart_render.render_svg`: white background, margins trimmed, centred square).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distilhash.data.emoji_glyphs import TitledImages, emoji_held_out
from distilhash.data.npm_tarball import NpmTarball
from distilhash.errors import DataError

__all__ = ["OPENMOJI", "DROPPED_GROUPS", "DROPPED_EXTRA_SUBGROUPS", "HeldOutEmoji", "held_out_emoji", "openmoji_rule",
           "openmoji_caption", "openmoji_glyphs"]

#: the pinned package: ``npm view openmoji@17.0.0 dist.integrity``
OPENMOJI = NpmTarball("openmoji", "17.0.0",
                      "sha512-EBnYrNGdcdw+OSXmENeNE1yBNRu6tOraTmoOyUbJkTmvT/+XETp8RZLSJFzD3lrPc5N9CzsyPnRTk0Vp4UaI9w==",
                      "DISTILHASH_OPENMOJI")

#: groups left out entirely (``emoji-fit``'s catalogue leaves out Flags and Component)
DROPPED_GROUPS: frozenset[str] = frozenset({"flags", "component"})

#: subgroups of the extras left out: flags and their letters; logos, interface and gesture icons (named by what they do)
DROPPED_EXTRA_SUBGROUPS: frozenset[str] = frozenset({"flags", "subdivision-flag", "regional-indicator", "brand",
                                                     "ui-element", "interaction"})

_SKIN_TONES = range(0x1F3FB, 0x1F400)


@dataclass(frozen=True)
class HeldOutEmoji:
    """The benchmark's held-out emojis: sequences without U+FE0F, and lower-case names."""

    sequences: frozenset[str]
    names: frozenset[str]


def held_out_emoji(catalog=None) -> HeldOutEmoji:
    """The held-out emojis of ``catalog`` (default: the installed catalogue, as ``emoji_glyphs`` reads it, before
    rendering, so a glyph the font cannot draw is held out too)."""
    from distilhash.data.emoji_assets import load_catalog

    catalog = catalog if catalog is not None else load_catalog(("Component", "Flags"))
    held = [e for e in catalog.emojis if emoji_held_out(e.subgroup)]
    return HeldOutEmoji(frozenset(e.chars.replace("\ufe0f", "") for e in held), frozenset(e.name.lower() for e in held))


def openmoji_rule(record: dict[str, Any], held: HeldOutEmoji) -> str:
    """Why the glyph ``record`` (one entry of ``openmoji.json``) is left out (reasons 1-6), or ``""`` to keep it."""
    chars, group, sub = str(record.get("emoji", "")), str(record.get("group", "")), str(record.get("subgroups", ""))
    extra = group.startswith("extras-")
    if record.get("skintone") or any(ord(c) in _SKIN_TONES for c in chars):
        return "skin-tone variant"
    if group in DROPPED_GROUPS:
        return f"group {group}"
    if extra and sub in DROPPED_EXTRA_SUBGROUPS:
        return f"extras subgroup {sub}"
    if not extra and emoji_held_out(sub):
        return "held-out emoji subgroup"
    if chars.replace("\ufe0f", "") in held.sequences:
        return "held-out emoji sequence (in another subgroup here)"
    if str(record.get("annotation", "")).strip().lower() in held.names:
        return "name of a held-out emoji"
    return ""


def openmoji_caption(record: dict[str, Any]) -> str:
    """``"annotation. keyword, ..."``: ``tags`` then ``openmoji_tags``, each once, without the annotation."""
    name = str(record.get("annotation", "")).strip()
    words = [w.strip() for field in ("tags", "openmoji_tags") for w in str(record.get(field, "")).split(",")]
    seen = {name.lower()}
    kws = [w for w in words if w and not (w.lower() in seen or seen.add(w.lower()))]
    return f"{name}. {', '.join(kws)}".rstrip(". ,") if name else ""


def openmoji_glyphs(size: int = 128, catalog=None, blank_std: float = 2.0, progress: bool = False,
                    fetch: bool = True) -> TitledImages:
    """The OpenMoji glyphs kept by rules 1-7, drawn at ``size`` (uint8 ``[n, size, size, 3]``), titled by annotation.

    ``meta``: ``captions`` (annotation + keywords), ``subgroup`` per glyph, ``counts`` (read, kept, each reason),
    the package, its version, integrity and licence. ``catalog``: the emoji catalogue whose held-out part is avoided
    (default: the installed one).
    """
    from distilhash.data.npm_tarball import member_records
    from distilhash.data.svg_pictures import draw_kept

    held = held_out_emoji(catalog)
    with OPENMOJI.open(fetch) as tar:
        records = member_records(tar, "package/data/openmoji.json", OPENMOJI.spec)
        reasons = [openmoji_rule(r, held) or ("empty caption" if not openmoji_caption(r) else "") for r in records]
        kept, pixels, counts = draw_kept(tar, records, reasons, lambda r: f"package/color/svg/{r.get('hexcode', '')}.svg",
                                         size, blank_std, progress, "OpenMoji glyphs")
    if not kept:
        raise DataError(f"{OPENMOJI.spec}: no glyph left after the filters ({counts})")
    return TitledImages(
        "openmoji", ids=[f"openmoji-{str(r['hexcode']).lower()}" for r in kept],
        titles=[str(r["annotation"]).strip() for r in kept], images=pixels,
        meta={"captions": [openmoji_caption(r) for r in kept], "subgroup": [str(r.get("subgroups", "")) for r in kept],
              "counts": counts, "package": OPENMOJI.spec,
              "integrity": OPENMOJI.integrity, "licence": "CC-BY-SA-4.0", "held_out_emojis": len(held.sequences)})
