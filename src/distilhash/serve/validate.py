"""One validation path for what the service stores and the key that guards it.

* :func:`check_item_id`: ids are NFC-normalised text of 1-200 characters, ``/`` included, with
  no surrounding whitespace and none of the characters that make two ids look alike or make an
  id look like something else (controls, format characters such as zero-width spaces and bidi
  controls, tag characters, private-use, unassigned, surrogates, line/paragraph separators,
  ``U+FFFD``), and no ``.`` / ``..`` path segment.
* :func:`check_caption`: a caption is text (not a number, list, object, null or boolean: 422),
  stripped, 1 to ``max_chars`` characters, without control characters other than tab and
  newline; the same rules for the ``caption`` form field and a ``caption`` key inside metadata.
* :func:`key_matches` / :func:`check_key_setting`: the write key. RFC 9110 (5.5) says a field
  value does not include leading or trailing whitespace (SP / HTAB, "OWS"); HTTP parsers differ in
  whether they strip it before the application sees the value, so the key sent is compared after
  stripping SP/HTAB, whatever the parser did. A configured key therefore may not itself start or
  end with whitespace (it could never be sent), and must be visible ASCII (a header value a
  client can send unchanged).

Every refusal is a :class:`~distilhash.serve.config.ServiceError` whose message names the field
and what was expected, and never carries a Python repr of the value.
"""

from __future__ import annotations

import hmac
import unicodedata
from typing import Any

from distilhash.serve.refusal import ServiceError

__all__ = ["check_item_id", "normalise_id", "check_caption", "key_matches", "check_key_setting", "MAX_ID_CHARS",
           "REFUSED_ID_CATEGORIES", "shown"]

MAX_ID_CHARS = 200

#: Unicode general categories refused anywhere in an id, with what they are (for the message)
REFUSED_ID_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character (zero-width, bidi control, tag, soft hyphen, ...)",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}

#: caption control characters allowed (everything else of category Cc is refused)
_CAPTION_CONTROLS_OK = frozenset("\t\n")

#: optional whitespace around a header field value (RFC 9110 5.6.3)
_OWS = b" \t"


def _escaped(c: str) -> str:
    if c in "\"\\":
        return "\\" + c
    if c.isprintable():
        return c
    return f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"


def shown(value: str, limit: int = 60) -> str:
    """``value`` quoted for a message: JSON-style escapes for anything not printable, cut at ``limit``."""
    return '"' + "".join(_escaped(c) for c in value[:limit]) + ('..."' if len(value) > limit else '"')


def normalise_id(item_id: str) -> str:
    """The NFC form of an id (what is stored and looked up)."""
    return unicodedata.normalize("NFC", item_id)


def check_item_id(item_id: Any) -> str:
    """The NFC-normalised ``item_id`` if it can be stored, fetched and deleted, else ServiceError 400."""
    if not isinstance(item_id, str) or not item_id.strip():
        raise ServiceError(400, "id: expected a non-empty text id")
    if "\ufffd" in item_id:
        raise ServiceError(400, "id: contains U+FFFD, the mark of bytes that were not valid UTF-8; send the id as UTF-8 text")
    for c in item_id:
        what = REFUSED_ID_CATEGORIES.get(unicodedata.category(c))
        if what is not None:
            raise ServiceError(400, f"id: contains U+{ord(c):04X}, {what}; ids must be visible text")
    if item_id != item_id.strip():
        raise ServiceError(400, "id: starts or ends with whitespace; ids must not (two ids would look the same)")
    item_id = normalise_id(item_id)
    if len(item_id) > MAX_ID_CHARS:
        raise ServiceError(400, f"id: {len(item_id)} characters; the limit is {MAX_ID_CHARS}")
    if any(seg in (".", "..") for seg in item_id.split("/")):
        raise ServiceError(400, "id: the path segments '.' and '..' are not allowed in ids (browsers rewrite such URLs)")
    return item_id


def check_caption(caption: Any, max_chars: int, field: str = "caption") -> str:
    """The stripped caption, or ServiceError: 422 when it is not text, 400 empty / too long / control characters."""
    if not isinstance(caption, str):
        kind = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object",
                type(None): "null"}.get(type(caption), "not text")
        raise ServiceError(422, f"{field}: expected text, got {kind}")
    text = caption.strip()
    if not text:
        raise ServiceError(400, f"{field}: the caption is empty; expected a few words")
    if len(text) > max_chars:
        raise ServiceError(400, f"{field}: the caption has {len(text):,} characters; the limit is {max_chars}")
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cs") and c not in _CAPTION_CONTROLS_OK), None)
    if bad is not None:
        raise ServiceError(400, f"{field}: contains the control character U+{ord(bad):04X}; expected plain text")
    return text


def check_key_setting(key: str | None) -> str | None:
    """The configured write key (None: read-only), or ServiceError 400 when no client could send it."""
    if key is None:
        return None
    if not isinstance(key, str) or not key:
        raise ServiceError(400, "api key: expected a non-empty text key")
    if key != key.strip(" \t"):
        raise ServiceError(400, "api key: starts or ends with whitespace, which HTTP removes from header values "
                         "(RFC 9110 5.5); choose a key without it")
    if not all(" " <= c <= "~" for c in key):
        raise ServiceError(400, "api key: expected visible ASCII characters (letters, digits, punctuation)")
    if len(key) > 4096:
        raise ServiceError(400, "api key: longer than 4,096 characters")
    return key


def key_matches(sent: bytes | str | None, expected: str) -> bool:
    """Whether a header value carries ``expected``, compared after removing SP/HTAB around it (RFC 9110 5.5).

    Constant-time in the key's content; ``sent`` as raw header bytes (or text, read as Latin-1 like ASGI does).
    """
    if sent is None:
        return False
    raw = sent if isinstance(sent, bytes) else sent.encode("latin-1", "replace")
    return hmac.compare_digest(raw.strip(_OWS), expected.encode("ascii"))
