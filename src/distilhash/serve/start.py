"""What the page shows before any query: a sample of the index and example queries taken from it.

``GET /api/start`` answers (computed once per service, on the first request)::

    {"items": 3861, "modality": "image",
     "sample":   [{"id", "caption", "thumbnail"}, ...],            # a seeded random sample
     "examples": [{"query": "flower", "items": 41}, ...],        # words frequent in the captions
     "ways":     ["text", "image", "similar"]}                   # how this service can be searched

Example queries are not hand-picked: they are the concrete things (nouns) and adjective + noun pairs
found in the most item captions (the display caption when the index stores one, see
:mod:`distilhash.data.captions`), among up to ``max_scan`` items in row order:

* a word is lower-case letters only, 3+ letters, not in :data:`STOP_WORDS` (function words and
  words that describe the file rather than the drawing: ``icon``, ``clipart``, ``svg``, ...); a
  hyphenated compound (``over-ear``, ``daisy-like``) is one token of its phrase and no example;
* a plural is merged into its singular when both occur (``flowers`` -> ``flower``);
* a word is kept when it occurs in at least ``min_items`` captions (3; 2 in a collection of fewer
  than 200) and at most ``max_share`` of them (a word on half the collection singles nothing out);
* a kept word is a *thing* when the captions use it as a noun. Each caption is cut into phrases at
  punctuation and at the words of :data:`PHRASE_BOUNDARIES` (prepositions, conjunctions, verbs); a
  phrase's *head* is its last word (trailing numbers aside), as in English noun phrases
  (``a yellow flower``, ``close up``, ``signal flag 3``). A thing heads a phrase in at least half of
  the captions holding it, and in at least one of them its phrase has a word before it (an article,
  a number or a modifier: ``a microphone``, ``green leaf``). So ``close`` (``in close up``) and a
  bare tag such as ``, abstract`` are no examples; ``flower`` is;
* the ``n_pairs`` most frequent adjacent pairs of kept words whose second word is a thing (not a
  modifier) come
  first (``orange flower``, ``signal flag``), then the most frequent things, skipping words
  already in a chosen pair and :data:`MODIFIERS` (colours and adjectives are no query on their own).

Ties are broken alphabetically, so the same index always gives the same examples.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

import numpy as np

from distilhash.serve.items import shown_caption, thumbnail_url

__all__ = ["StartPage", "example_queries", "things", "STOP_WORDS", "MODIFIERS", "PHRASE_BOUNDARIES"]

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

#: function words that end a noun phrase (English grammar, not a list of examples): prepositions,
#: conjunctions and verbs. Articles, numbers and particles (``up``, ``out``) stay inside a phrase.
PHRASE_BOUNDARIES: frozenset[str] = frozenset("""
and or but nor with without of in on at by for from into onto over under above below behind near like
about across after against along among around before beside between beyond during inside outside
through toward towards upon via within while than
is are was were be been being has have had does do can will showing""".split())

#: below this many captions a word in 2 of them is an example (else 3)
SMALL_COLLECTION = 200

#: a hyphenated compound is one token ("over-ear": not the boundary "over" and a head "ear"), never an example
_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)+|[a-z]+|[0-9]+")


def _kept(word: str) -> bool:
    return len(word) >= 3 and word.isalpha() and word not in STOP_WORDS


def _phrases(caption: str) -> list[list[str]]:
    """``caption``'s noun phrases: token runs between punctuation and :data:`PHRASE_BOUNDARIES` words."""
    out: list[list[str]] = []
    for part in re.split(r"[,.;:()\[\]/|!?]+", caption.lower()):
        phrase: list[str] = []
        for tok in _TOKEN.findall(part):
            if tok in PHRASE_BOUNDARIES:
                out.append(phrase)
                phrase = []
            else:
                phrase.append(tok)
        out.append(phrase)
    return [p for p in out if p]


def _head(phrase: list[str]) -> tuple[str | None, bool]:
    """The phrase's head (its last word, trailing numbers aside) and whether a token comes before it."""
    end = len(phrase)
    while end and phrase[end - 1].isdigit():
        end -= 1
    return (phrase[end - 1], end > 1) if end else (None, False)


def _singular(word: str, vocabulary: Counter) -> str:
    for cut, add in (("ies", "y"), ("es", ""), ("s", "")):
        if word.endswith(cut) and len(word) > len(cut) + 2:
            base = word[: -len(cut)] + add
            if vocabulary.get(base):
                return base
    return word


def _parse(captions: list[str]) -> tuple[list[list[list[str]]], Counter]:
    """Each caption's phrases with plurals merged into singulars that occur, and each kept word's caption count."""
    raw_phrases = [_phrases(c) for c in captions if c]
    raw = Counter(t for d in raw_phrases for t in {t for ph in d for t in ph if _kept(t)})
    docs = [[[_singular(t, raw) if _kept(t) else t for t in ph] for ph in d] for d in raw_phrases]
    return docs, Counter(t for d in docs for t in {t for ph in d for t in ph if _kept(t)})


def _things(docs: list[list[list[str]]], df: Counter, words: set[str]) -> set[str]:
    headed: Counter = Counter()
    determined: Counter = Counter()
    for phrases in docs:
        heads = [_head(ph) for ph in phrases]
        headed.update({h for h, _ in heads if h is not None})
        determined.update({h for h, before in heads if h is not None and before})
    return {w for w in words if 2 * headed[w] >= df[w] and determined[w]}


def things(captions: list[str]) -> set[str]:
    """The kept words ``captions`` use as nouns (module docstring): the head of a phrase in at least half
    of the captions holding them, and at least once the head of a phrase with a word before it."""
    docs, df = _parse(captions)
    return _things(docs, df, set(df))


def example_queries(captions: list[str], n: int = 8, n_pairs: int = 2, min_items: int | None = None,
                    max_share: float = 0.3) -> list[dict[str, Any]]:
    """Up to ``n`` example queries ``{"query", "items"}`` (items: captions holding them) from ``captions``.

    ``min_items`` defaults to 3, or 2 below :data:`SMALL_COLLECTION` captions (a collection of 40 photos
    has few words in three captions)."""
    docs, df = _parse(captions)
    if min_items is None:
        min_items = 2 if len(docs) < SMALL_COLLECTION else 3
    limit = max(min_items, int(max_share * len(docs)))
    kept = {w for w, c in df.items() if min_items <= c <= limit}
    nouns = _things(docs, df, kept)
    pairs = Counter(p for d in docs for p in {f"{a} {b}" for ph in d for a, b in zip(ph, ph[1:])
                                               if a in kept and b in nouns - MODIFIERS and a != b})

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
    for word, c in ranked(Counter({w: df[w] for w in nouns})):
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
