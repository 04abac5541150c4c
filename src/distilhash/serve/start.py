"""What the page shows before any query: a sample of the index and example queries taken from it.

``GET /api/start`` answers (computed once per service, on the first request)::

    {"items": 3861, "modality": "image",
     "sample":   [{"id", "caption", "thumbnail"}, ...],            # a seeded random sample
     "examples": [{"query": "flower", "items": 41}, ...],        # words frequent in the captions
     "ways":     ["text", "image", "similar"]}                   # how this service can be searched

Example queries are not hand-picked: they are the words (and adjacent word pairs) found in the
most item captions (the display caption when the index stores one, see
:mod:`distilhash.data.captions`), among up to ``max_scan`` items in row order:

* a word is lower-case letters only, 3+ letters, not in :data:`STOP_WORDS` (function words and
  words that describe the file rather than the drawing: ``icon``, ``clipart``, ``svg``, ...);
* a plural is merged into its singular when both occur (``flowers`` -> ``flower``);
* a word is kept when it occurs in at least ``min_items`` captions and at most ``max_share`` of
  them (a word on half the collection singles nothing out);
* the ``n_pairs`` most frequent adjacent pairs of kept words come first (``red apple``), then the
  most frequent single words, skipping words already in a chosen pair and :data:`MODIFIERS`
  (colours and adjectives are no query on their own).

Ties are broken alphabetically, so the same index always gives the same examples.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

import numpy as np

from distilhash.serve.items import shown_caption, thumbnail_url

__all__ = ["StartPage", "example_queries", "STOP_WORDS", "MODIFIERS"]

#: words that never make an example query on their own or in a pair
STOP_WORDS: frozenset[str] = frozenset("""
a an and are as at be but by for from has have in into is it its of on or the this that to with without
over under off out up down not no all any some one two three four five six seven eight nine ten
icon icons iconset clipart clip art svg png image images picture drawing drawings vector vectors
set collection theme part parts version simple style stylized symbol symbols sign signs logo
button buttons graphic graphics illustration object objects element elements thing things
openclipart untitled new old""".split())

#: words that qualify a thing (colours, sizes, styles): examples only inside a pair
MODIFIERS: frozenset[str] = frozenset("""
red green blue yellow orange purple pink brown black white grey gray gold golden silver dark light
big small little large tiny tall short round square flat happy sad cute funny glossy shiny
left right top bottom front back open closed empty full""".split())

_WORD = re.compile(r"[a-z]+")


def _segments(caption: str) -> list[list[str]]:
    """Kept words of each punctuation-delimited part of ``caption`` (pairs never cross a comma)."""
    parts = re.split(r"[,.;:()\[\]/|!?]+", caption.lower())
    return [[w for w in _WORD.findall(p) if len(w) >= 3 and w not in STOP_WORDS] for p in parts]


def _singular(word: str, vocabulary: Counter) -> str:
    for cut, add in (("ies", "y"), ("es", ""), ("s", "")):
        if word.endswith(cut) and len(word) > len(cut) + 2:
            base = word[: -len(cut)] + add
            if vocabulary.get(base):
                return base
    return word


def example_queries(captions: list[str], n: int = 8, n_pairs: int = 2, min_items: int = 3,
                    max_share: float = 0.3) -> list[dict[str, Any]]:
    """Up to ``n`` example queries ``{"query", "items"}`` (items: captions holding them) from ``captions``."""
    docs = [_segments(c) for c in captions if c]
    raw = Counter(w for d in docs for w in {w for seg in d for w in seg})
    docs = [[[_singular(w, raw) for w in seg] for seg in d] for d in docs]
    df = Counter(w for d in docs for w in {w for seg in d for w in seg})
    limit = max(min_items, int(max_share * len(docs)))
    kept = {w for w, c in df.items() if min_items <= c <= limit}
    pairs = Counter(p for d in docs for p in {f"{a} {b}" for seg in d for a, b in zip(seg, seg[1:])
                                                if a in kept and b in kept and a != b})

    def ranked(counter: Counter) -> list[tuple[str, int]]:
        return sorted(((w, c) for w, c in counter.items() if c >= min_items), key=lambda wc: (-wc[1], wc[0]))

    out: list[dict[str, Any]] = []
    used: set[str] = set()
    for pair, c in ranked(pairs):
        if len(out) >= min(n_pairs, n):
            break
        words = pair.split()
        if used.isdisjoint(words):
            out.append({"query": pair, "items": c})
            used.update(words)
    for word, c in ranked(Counter({w: df[w] for w in kept})):
        if len(out) >= n:
            break
        if word not in used and word not in MODIFIERS:
            out.append({"query": word, "items": c})
            used.add(word)
    return out


class StartPage:
    """The start page's data for one service (see module docstring); computed once, thread-safe.

    Args:
        service: a :class:`~distilhash.serve.engine.SearchService`.
        sample: items shown as a sample of the index.
        max_scan: most items whose captions are read (row order) for the examples and the sample.
        seed: the sample's random draw.
    """

    def __init__(self, service: Any, sample: int = 12, max_scan: int = 20_000, seed: int = 0) -> None:
        self.service, self.n_sample, self.max_scan, self.seed = service, sample, max_scan, seed
        self._info: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        """The ``/api/start`` answer (module docstring)."""
        with self._lock:
            if self._info is None:
                self._info = self._compute()
            return self._info

    def _compute(self) -> dict[str, Any]:
        targets = self.service.targets
        target = targets.get("image") or targets[self.service.primary]  # pictures make the better sample
        ids: list[str] = []
        captions: list[str] = []
        with target.lock.read():
            for item_id, md in target.index.iter_metadata(chunk=min(self.max_scan, 20_000)):
                ids.append(item_id)
                captions.append(shown_caption(md) or "")
                if len(ids) >= self.max_scan:
                    break
        pick = np.sort(np.random.default_rng(self.seed).choice(len(ids), size=min(self.n_sample, len(ids)), replace=False))
        has_thumbs = target.thumbs.path.exists()
        sample = [{"id": ids[i], "caption": captions[i] or None,
                   "thumbnail": thumbnail_url(ids[i], target.modality) if has_thumbs else None} for i in pick.tolist()]
        ways = ["text", "image", "similar"] if len(targets) else []
        return {"items": len(target.index), "modality": target.modality, "sample": sample,
                "examples": example_queries(captions), "ways": ways}
