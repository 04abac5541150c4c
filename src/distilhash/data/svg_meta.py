"""Creative-Commons RDF metadata of an SVG drawing (title, description, keyword tags).

openclipart SVGs carry their metadata as::

    <metadata><rdf:RDF ...>
      <cc:Work rdf:about="">                      (namespace http://web.resource.org/cc/)
        <dc:title>gramastar</dc:title>
        <dc:description>...</dc:description>
        <dc:subject><rdf:Bag><rdf:li>stars</rdf:li>...</rdf:Bag></dc:subject>
        <dc:creator><cc:Agent><dc:title>author</dc:title></cc:Agent></dc:creator>
        ...

Only the ``dc:*`` children *directly* under ``cc:Work`` are read (an agent's ``dc:title`` is
the author, not the drawing). The stdlib XML parser is tried first; a file it rejects (e.g.
an undeclared entity such as ``&ns_svg;``) is read by a tolerant regex over the ``cc:Work``
block, and the fallback is recorded in :attr:`SvgMeta.parser`.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SvgMeta", "read_svg_meta", "parse_svg_meta", "CC_NS", "DC_NS"]

CC_NS = "http://web.resource.org/cc/"
#: Newer files use the creativecommons.org namespace for the same vocabulary.
CC_NAMESPACES = (CC_NS, "http://creativecommons.org/ns#")
DC_NS = "http://purl.org/dc/elements/1.1/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


@dataclass
class SvgMeta:
    """What the RDF block says about one drawing.

    Attributes:
        title, description: stripped strings ("" when absent).
        subjects: keyword tags in file order (stripped, empty ones dropped).
        parser: ``"xml"``, ``"regex"`` (the XML parser failed, see ``error``) or ``"none"``.
        found: a ``cc:Work`` element was found.
        error: why the XML parser failed, or why nothing could be read.
    """

    title: str = ""
    description: str = ""
    subjects: list[str] = field(default_factory=list)
    parser: str = "none"
    found: bool = False
    error: str = ""


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _from_tree(root: ET.Element) -> SvgMeta | None:
    for ns in CC_NAMESPACES:
        work = root.find(f".//{{{ns}}}Work")
        if work is not None:
            subjects = [
                _clean(li.text)
                for subject in work.findall(f"{{{DC_NS}}}subject")
                for li in subject.iter(f"{{{RDF_NS}}}li")
            ]
            return SvgMeta(
                title=_clean(work.findtext(f"{{{DC_NS}}}title")),
                description=_clean(work.findtext(f"{{{DC_NS}}}description")),
                subjects=[s for s in subjects if s],
                parser="xml",
                found=True,
            )
    return None


_WORK_RE = re.compile(r"<(\w+):Work\b[^>]*>(.*?)</\1:Work>", re.S)
_AGENT_RE = re.compile(r"<(\w+):Agent\b.*?(?:/>|</\1:Agent>)", re.S)
_TAG_RE = {k: re.compile(rf"<\w+:{k}\b[^>/]*>(.*?)</\w+:{k}>", re.S) for k in ("title", "description", "subject")}
_LI_RE = re.compile(r"<\w+:li\b[^>/]*>(.*?)</\w+:li>", re.S)
_MARKUP_RE = re.compile(r"<[^>]*>")


def _unescape(fragment: str) -> str:
    """Text of an XML fragment: CDATA kept, markup dropped, standard/numeric entities decoded."""
    fragment = re.sub(r"<!\[CDATA\[(.*?)\]\]>", r"\1", fragment, flags=re.S)
    return _clean(html.unescape(_MARKUP_RE.sub(" ", fragment)))


def _from_regex(text: str) -> SvgMeta | None:
    match = _WORK_RE.search(text)
    if match is None:
        return None
    body = _AGENT_RE.sub(" ", match.group(2))  # agents' titles are authors, not the drawing

    def first(key: str) -> str:
        m = _TAG_RE[key].search(body)
        return _unescape(m.group(1)) if m else ""

    subjects = [_unescape(li) for s in _TAG_RE["subject"].findall(body) for li in _LI_RE.findall(s)]
    return SvgMeta(title=first("title"), description=first("description"),
                   subjects=[s for s in subjects if s], parser="regex", found=True)


def parse_svg_meta(data: bytes) -> SvgMeta:
    """Metadata of an SVG given as bytes (never raises; failures are in ``error``)."""
    xml_error = ""
    try:
        meta = _from_tree(ET.fromstring(data))
        if meta is not None:
            return meta
        xml_error = "no cc:Work element in the RDF metadata"
    except ET.ParseError as exc:
        xml_error = f"XML parser: {exc}"
    meta = _from_regex(data.decode("utf-8", errors="replace"))
    if meta is not None:
        meta.error = xml_error
        return meta
    return SvgMeta(error=xml_error)


def read_svg_meta(path: str | Path) -> SvgMeta:
    """Metadata of the SVG file ``path`` (an unreadable file gives ``found=False`` and the reason)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return SvgMeta(error=f"cannot read {path}: {exc}")
    return parse_svg_meta(data)
