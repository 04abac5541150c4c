"""Short caption views: the content words and two-word phrases of a title, as extra captions of its picture.

People search with one or two words ("horse", "alarm clock"); a fit pair's caption is a title plus tags.
A *short view* of a pair is one of its title's content words or one of its phrases of two consecutive
content words, built mechanically from the title alone (no word list of any benchmark)::

    "Red Apple (2004)"            -> ["red", "apple", "red apple"]
    "Cani e gatti , Cat and dog"  -> ["cani", "gatti", "cat", "dog"]     ("e", "and" and "," break phrases)

A content word: a run of ASCII letters (lower-cased) of at least 3 letters that is not in
:data:`FUNCTION_WORDS` (English function words and words about the file or the drawing, a fixed list).
Words first, then phrases, each once, at most ``max_views`` per title.

In a fit (``caption_views=["title", "short"]`` of ``lite0-minilm-wide``) each step draws one caption per pair:
the pair's caption, its title or, for a pair with short views, one of them, i.e. 1/3 each (one short view
uniformly among the pair's), and 1/2 caption, 1/2 title for a pair without (:func:`view_table`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = ["FUNCTION_WORDS", "SHORT", "content_words", "short_views", "view_table"]

#: the view name in ``WideFitConfig.caption_views``
SHORT = "short"

#: English function words, and words about the file, the library or the drawing rather than what it shows
FUNCTION_WORDS: frozenset[str] = frozenset("""
the and for with from into onto over under out off this that these those are was were has have had not but nor
all any some you your his her its our their who whom what which when where why how than then very just
one two three four five six seven eight nine ten
clip art clipart svg png openclipart inkscape remix vector icon icons set collection version draft
drawing picture image illustration sketch outline silhouette cartoon clipart simple colour color
""".split())


def content_words(title: str) -> list[list[str]]:
    """The runs of consecutive content words of ``title``: a function word, a word under 3 letters, or anything but
    spaces between two words (a digit, punctuation, a non-ASCII letter) ends a run."""
    parts = re.split(r"([a-z]+)", title.lower().replace("_", " "))  # [sep, word, sep, word, ..., sep]
    runs: list[list[str]] = [[]]
    for i in range(1, len(parts), 2):
        word, before = parts[i], parts[i - 1]
        if runs[-1] and before.strip():
            runs.append([])
        if len(word) >= 3 and word not in FUNCTION_WORDS:
            runs[-1].append(word)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def short_views(title: str, max_views: int = 6) -> list[str]:
    """``title``'s content words, then its two-word phrases of consecutive content words; each once, at most ``max_views``."""
    runs = content_words(title)
    words = [w for r in runs for w in r]
    phrases = [f"{a} {b}" for r in runs for a, b in zip(r, r[1:])]
    return list(dict.fromkeys(words + phrases))[:max_views]


def view_table(n_fixed: int, short: Sequence[Sequence[str]]) -> tuple[list[list[str]], np.ndarray]:
    """Caption views of ``len(short)`` pairs with ``n_fixed`` whole-caption views each (the caption, the title).

    Returns ``(columns, weights)``: ``columns[k]`` the k-th short view of every pair (``""`` where a pair has fewer;
    weight 0 there), ``weights`` float32 ``[n_fixed + K, n]``, each column summing to 1: a pair with short views
    draws each fixed view with probability ``1 / (n_fixed + 1)`` and one of its short views uniformly with the rest;
    a pair without draws among the fixed views uniformly.
    """
    n = len(short)
    k = max((len(s) for s in short), default=0)
    columns = [[s[j] if j < len(s) else "" for s in short] for j in range(k)]
    weights = np.zeros((n_fixed + k, n), dtype=np.float64)
    for i, s in enumerate(short):
        groups = n_fixed + (1 if s else 0)
        weights[:n_fixed, i] = 1.0 / groups
        if s:
            weights[n_fixed:n_fixed + len(s), i] = 1.0 / groups / len(s)
    return columns, weights.astype(np.float32)
