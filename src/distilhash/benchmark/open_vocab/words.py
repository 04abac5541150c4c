"""Words of titles and queries: tokens, regular plurals and the title-match relevance rule.

Pure functions on strings (no files), so each rule is testable alone.

Example:
    >>> title_tokens("Red Apples (2004)")
    ('red', 'apples')
    >>> plural("box"), plural("berry"), plural("toy"), plural("horse")
    ('boxes', 'berries', 'toys', 'horses')
    >>> matches(title_tokens("Two wild horses"), ("horse", "horses"))
    True
    >>> matches(title_tokens("alarm clock"), ("alarm clock",)), matches(title_tokens("clock alarm"), ("alarm clock",))
    (True, False)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["title_tokens", "plural", "matches", "phrase_tokens"]

_TOKEN = re.compile(r"[a-z]+")


def title_tokens(title: str) -> tuple[str, ...]:
    """Lower-case runs of ASCII letters of ``title`` (digits, punctuation and ``_`` split words)."""
    return tuple(_TOKEN.findall(title.lower().replace("_", " ")))


def plural(noun: str) -> str:
    """The regular English plural of the last word of ``noun`` (``-s``, ``-es``, ``-ies``)."""
    head, _, last = noun.rpartition(" ")
    if re.search(r"(s|x|z|ch|sh)$", last):
        last = last + "es"
    elif re.search(r"[^aeiou]y$", last):
        last = last[:-1] + "ies"
    else:
        last = last + "s"
    return f"{head} {last}" if head else last


def phrase_tokens(phrase: str) -> tuple[str, ...]:
    """A query form (``"alarm clock"``) as the token tuple a title must contain consecutively."""
    return title_tokens(phrase)


def matches(tokens: Sequence[str], forms: Iterable[str]) -> bool:
    """True if the title ``tokens`` contain one of ``forms`` as a whole word or consecutive words."""
    toks = tuple(tokens)
    for form in forms:
        want = phrase_tokens(form)
        if not want:
            continue
        n = len(want)
        if any(toks[i:i + n] == want for i in range(len(toks) - n + 1)):
            return True
    return False
