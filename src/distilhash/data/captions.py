"""Display captions: the text a person reads for an item, cleaned of metadata junk.

The training text of an item (``title+tags`` for openclipart) is left as it is: the teacher was
fitted on it and the feature caches are keyed by it. The *display caption* is stored next to it
(``display`` in ``items.jsonl``, ``display_caption`` in an index's metadata) and is what the page
and the CLI show. It is chosen by this rule:

1. **decode** HTML entities and UTF-8 read as Latin-1 (``L&Atilde;&copy;zard`` -> ``Lézard``);
   **strip** a credit prefix (``"Clipart by Nicu Buculei - pear"`` -> ``"pear"``) and a
   collection suffix after `` - `` that holds a collection word (``"tree - RPG map elements"`` ->
   ``"tree"``); **repair** a file-name-like title that is not hash-like: file extension dropped,
   ``_`` and ``-`` as spaces, digits glued to letters dropped (``"jigsaw_red_10"`` -> ``"jigsaw
   red"``, ``"Tigre01"`` -> ``"Tigre"``, ``"celtic-vine-corner"`` -> ``"celtic vine corner"``);
2. the stripped title is **junk** when one of :data:`JUNK_RULES` says so:

   * ``hash-like``: a ``0x``-hex number, ``hash(``, or a run of 12+ hex digits;
   * ``file-name-like``: an underscore, a file extension (``.svg``), or a word of letters glued to
     digits (``arrow08``, ``fc23``, ``R16``);
   * ``collection-name``: a word that names a collection or the file rather than the drawing
     (:data:`COLLECTION_WORDS`: ``icons``, ``theme``, ``clipart``, ``svg``, ``collection``, ...);
   * ``shared-title``: the same title is on ``shared_min`` (10) or more items and one of its
     words (3+ letters) is neither among the item's tags nor in its file name (``"Etiquette
     Icons"`` on an ant, ``"jigsaw red"`` on ``jigsaw_blue_01``);
   * ``contact-or-address``: an e-mail or web address;
   * ``no-words``: no word of three or more letters;

3. the display caption is the first of: the stripped title if not junk; the description's first
   sentence (at most 120 characters) if not junk by the same rules; up to four of the item's tags
   that are not junk and not creator tags (a tag whose first word sits, not first, in the file
   names of most of its items: ``"architetto francesco rollandin"`` on ``armadillo_architetto_fra_01``);
   the item's folder; ``"untitled"``.

:func:`junk_reasons` is the checker (used by the benchmark that counts junk among shown items);
:func:`display_captions` applies the rule to a dataset's items and counts what it did.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["shown_caption", "COLLECTION_WORDS", "JUNK_RULES", "CaptionContext", "junk_reasons", "unescape", "strip_credits", "repair_file_name",
           "title_candidate", "creator_tags", "display_caption",
           "display_captions", "DISPLAY_SOURCES"]

#: words that name a collection, an icon theme or the file format rather than what is drawn
COLLECTION_WORDS: frozenset[str] = frozenset(
    "icons icon iconset iconsets theme themes collection clipart clip-art svg png sibmission submission "
    "elements pack set series".split()
)

#: where a display caption came from, in the order they are tried
DISPLAY_SOURCES = ("title", "title-repaired", "description", "tags", "folder", "untitled")

_CREDIT = re.compile(r"^\s*(?:clip\s*art|clipart|drawing|image)\s+by\s+[^-]+?\s+-\s+", re.I)
_SUFFIX = re.compile(r"^(?P<head>.+?)\s+-\s+(?P<tail>.+)$")
_HASH = re.compile(r"0x[0-9a-f]{4,}|\bhash\(|[0-9a-f]{12,}", re.I)
_FILE_EXT = re.compile(r"\.(?:svg|png|jpe?g|gif|ai|eps|pdf|xcf|odg)\b", re.I)
_GLUED = re.compile(r"\b[a-z]+\d+[a-z\d]*\b", re.I)
_WORD = re.compile(r"[a-z]+")
_HYPHENATED = re.compile(r"\b[a-z]+-[a-z]+-[a-z]+", re.I)
_ADDRESS = re.compile(r"\S@\S|https?:|www\.|\.(?:com|org|net)\b", re.I)
_DIGITS_GLUED = re.compile(r"(?<=[a-z])\d+|\d+(?=[a-z])", re.I)


@dataclass
class CaptionContext:
    """What the ``shared-title`` rule compares an item with.

    Attributes:
        title_counts: normalised stripped title -> items that carry it (in the whole dataset).
        tags: the item's normalised tags.
        file_name: the item's file name (or id), whose words count as the item's own words.
        shared_min: titles on at least this many items may be collection names.
    """

    title_counts: Counter = field(default_factory=Counter)
    tags: Sequence[str] = ()
    file_name: str = ""
    shared_min: int = 10


def shown_caption(metadata: dict[str, Any]) -> str | None:
    """The caption a person reads for an index item: ``display_caption`` when the index stores one, else
    ``caption`` (the text the model was trained on)."""
    return metadata.get("display_caption") or metadata.get("caption")


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _shared(text: str, ctx: CaptionContext | None) -> bool:
    if ctx is None or ctx.title_counts.get(_norm(text), 0) < ctx.shared_min:
        return False
    own = set(_words(" ".join(ctx.tags))) | set(_words(ctx.file_name.replace("_", " ")))
    return not {w for w in _words(text) if len(w) >= 3} <= own


#: rule name -> (text, context or None) -> is the text junk by this rule
JUNK_RULES: dict[str, Callable[[str, CaptionContext | None], bool]] = {
    "hash-like": lambda t, c: bool(_HASH.search(t)),
    "file-name-like": lambda t, c: "_" in t or bool(_FILE_EXT.search(t) or _GLUED.search(t) or _HYPHENATED.search(t)),
    "collection-name": lambda t, c: any(w in COLLECTION_WORDS for w in _words(t.replace("-", " "))),
    "shared-title": _shared,
    "contact-or-address": lambda t, c: bool(_ADDRESS.search(t)),
    "no-words": lambda t, c: not any(len(w) >= 3 for w in _words(t)),
}


def junk_reasons(text: str, ctx: CaptionContext | None = None) -> list[str]:
    """Names of the :data:`JUNK_RULES` that ``text`` breaks ([] = a caption a person can read);
    also flags a credit prefix left in the text (``credit-prefix``)."""
    reasons = [name for name, rule in JUNK_RULES.items() if rule(text, ctx)]
    if _CREDIT.match(text):
        reasons.insert(0, "credit-prefix")
    return reasons


def unescape(text: str) -> str:
    """``text`` with HTML entities decoded (``d&#39;epoca`` -> ``d'epoca``) and UTF-8 read as Latin-1 repaired
    (``LÃ©zard`` -> ``Lézard``), as found in the drawings' metadata."""
    text = html.unescape(html.unescape(text))
    try:
        fixed = text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text
    return fixed


def strip_credits(title: str) -> str:
    """``title`` without a credit prefix and without a `` - collection`` suffix (module docstring, step 1)."""
    text = _CREDIT.sub("", unescape(title)).strip()
    m = _SUFFIX.match(text)
    if m and any(w in COLLECTION_WORDS for w in _words(m["tail"].replace("-", " "))):
        text = m["head"].strip()
    return text


def repair_file_name(text: str) -> str:
    """A file-name-like title as words: extension dropped, ``_``/``-`` as spaces, glued digits dropped."""
    text = _FILE_EXT.sub("", text)
    text = re.sub(r"[_]+|(?<=\w)-(?=\w)", " ", text)
    text = _DIGITS_GLUED.sub("", text)
    return " ".join(re.sub(r"\s\d+(?=\s|$)", " ", f" {text} ").split())


def creator_tags(tags: Sequence[Sequence[str]], file_names: Sequence[str], min_items: int = 5) -> set[str]:
    """Tags naming a creator: two or more words, on >= ``min_items`` items, and in most of them the tag's first word is in
    the file name but not as its first word (openclipart names files ``subject_author_NN``)."""
    carriers: dict[str, list[str]] = {}
    for tg, fname in zip(tags, file_names):
        for t in tg:
            carriers.setdefault(t, []).append(fname.lower())
    out = set()
    for t, names in carriers.items():
        first = (_words(t) or [""])[0]
        if len(names) < min_items or len(first) < 4 or len(_words(t)) < 2:
            continue
        inside = sum(1 for n in names if first in n and not n.startswith(first))
        if inside * 2 > len(names):
            out.add(t)
    return out


def _first_sentence(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    m = re.search(r"(?<=[.!?])\s", text)
    if m:
        text = text[: m.start()]
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + "…"
    return text.rstrip(".")


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def title_candidate(title: str) -> tuple[str, bool]:
    """``(text, repaired)``: the title after step 1 (credits stripped, a file-name-like title repaired)."""
    stripped = strip_credits(title)
    if stripped and JUNK_RULES["file-name-like"](stripped, None) and not JUNK_RULES["hash-like"](stripped, None):
        return repair_file_name(stripped), True
    return stripped, False


def display_caption(title: str, description: str, tags: Sequence[str], folder: str = "",
                    ctx: CaptionContext | None = None, skip_tags: frozenset[str] | set[str] = frozenset()) -> tuple[str, str, list[str]]:
    """``(caption, source, title's junk reasons)`` of one item (module docstring, steps 1-3);
    ``skip_tags``: tags never shown (creator tags)."""
    candidate, repaired = title_candidate(title)
    reasons = junk_reasons(candidate, ctx) if candidate else ["empty"]
    if not reasons:
        return candidate, "title-repaired" if repaired else "title", ["file-name-like"] if repaired else []
    sentence = _first_sentence(unescape(description)) if description else ""
    if sentence and not junk_reasons(sentence, ctx):
        return _capitalised(sentence), "description", reasons
    good = [unescape(t) for t in tags if t and t not in skip_tags and not junk_reasons(t)][:4]
    if good:
        return _capitalised(", ".join(good)), "tags", reasons
    parts = [p.replace("_", " ") for p in folder.split("/") if p and not junk_reasons(p.replace("_", " "))]
    if parts:
        return _capitalised(", ".join(reversed(parts))), "folder", reasons
    return "untitled", "untitled", reasons


def display_captions(titles: Sequence[str], descriptions: Sequence[str], tags: Sequence[Sequence[str]],
                     file_names: Sequence[str], folders: Sequence[str], shared_min: int = 10) -> tuple[list[str], dict[str, Any]]:
    """Display captions of N items and a summary for the dataset's provenance.

    Returns:
        (captions, ``{"items", "rule", "replaced", "repaired", "title_junk": {rule: items}, "source": {source: items},
        "examples": [{"title", "caption", "why"}, ...]}``).
    """
    counts = Counter(_norm(title_candidate(t)[0]) for t in titles if t)
    creators = creator_tags(tags, file_names)
    out: list[str] = []
    junk: Counter = Counter()
    source: Counter = Counter()
    examples: list[dict[str, Any]] = []
    seen_titles: set[str] = set()
    for title, desc, tg, fname, folder in zip(titles, descriptions, tags, file_names, folders):
        ctx = CaptionContext(counts, tg, fname, shared_min)
        caption, src, reasons = display_caption(title, desc, tg, folder, ctx, creators)
        out.append(caption)
        source[src] += 1
        junk.update(reasons)
        if src != "title" and title not in seen_titles and len(examples) < 20:
            seen_titles.add(title)
            examples.append({"title": title, "caption": caption, "why": reasons})
    summary = {"items": len(out), "creator_tags": sorted(creators), "rule": "distilhash.data.captions (strip credits; junk: " + ", ".join(JUNK_RULES) +
                       f"; shared_min={shared_min}; fallback: " + " > ".join(DISPLAY_SOURCES) + ")",
               "replaced": sum(v for k, v in source.items() if k not in ("title", "title-repaired")),
               "repaired": source.get("title-repaired", 0),
               "title_junk": dict(sorted(junk.items())), "source": {s: source.get(s, 0) for s in DISPLAY_SOURCES},
               "examples": examples}
    return out, summary
