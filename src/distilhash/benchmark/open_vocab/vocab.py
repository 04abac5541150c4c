"""The rule that drew the open-vocabulary query list, and the committed list itself.

The rule (written before any model was scored on the list; docs/open-vocabulary.md):

1. **Source words**: the titles of the openclipart items in ``split.train`` (the 2,500 items the
   teacher and the methods may fit or select on; never the query items), tokenised by
   :func:`~.words.title_tokens` and each token mapped to its WordNet noun lemma
   (:meth:`~.wordnet.WordNet.singular`: ``horses`` -> ``horse``); a lemma counts once per title.
2. **Concrete nouns**: a lemma is kept when it has at least 3 letters, is not in
   :data:`STOP_WORDS`, is a WordNet noun whose *most frequent* noun sense lies in one of the
   lexicographer files of :data:`CONCRETE_LEXFILES` (animals, artefacts, body parts, foods,
   natural objects, people, plants), and is used at least as often as a noun as as a verb or
   an adjective (WordNet tagged-sense counts), and is not a proper noun (the lemma as written in
   that sense is all lower case: ``Europe``, ``LED``, ``White`` are left out).
3. **Frequency**: kept when it occurs in at least ``min_titles`` = 3 distinct training titles;
   if fewer than 150 lemmas pass, ``min_titles`` is lowered by one (not below 2) until they do.
4. **Forms**: each query has its noun (the text sent to the encoders), its plural (WordNet's
   irregular plural, else the regular one of :func:`~.words.plural`) and at most 3 synonyms: the
   other lower-case lemmas of the same most-frequent WordNet sense whose own most frequent noun
   sense is that same sense (``auto`` for ``car``, not ``machine``), in WordNet's order, with
   their plurals. An item is relevant to a query when its title contains one of these forms.

Queries are ordered by training-title frequency (then alphabetically).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from distilhash.benchmark.open_vocab.words import plural, title_tokens
from distilhash.errors import DataError

__all__ = ["Query", "QueryList", "CONCRETE_LEXFILES", "STOP_WORDS", "build_query_list", "load_query_list",
           "QUERIES_FILE", "RULE_VERSION"]

RULE_VERSION = 1
QUERIES_FILE = Path(__file__).with_name("queries.json")

#: WordNet lexicographer files whose nouns name things one can draw.
CONCRETE_LEXFILES: tuple[str, ...] = (
    "noun.animal", "noun.artifact", "noun.body", "noun.food", "noun.object", "noun.person", "noun.plant",
)

#: Words that describe the file, the library or the drawing style, and English function words.
STOP_WORDS: frozenset[str] = frozenset({
    "clip", "art", "clipart", "svg", "png", "openclipart", "inkscape", "remix", "vector", "icon", "icons", "set",
    "collection", "version", "drawing", "picture", "image", "illustration", "sketch", "cartoon", "symbol", "sign",
    "logo", "pattern", "design", "style", "background", "frame", "border", "line", "lines", "shape", "shapes",
    "the", "and", "for", "with", "from", "this", "that", "are", "was", "one", "two", "three", "four", "five",
    "not", "but", "all", "any", "you", "your", "his", "her", "its", "our", "who", "what", "which", "new", "old",
})


@dataclass(frozen=True)
class Query:
    """One query: ``noun`` (the text encoded), ``plural``, ``synonyms`` and every matching ``forms``."""

    noun: str
    plural: str
    synonyms: tuple[str, ...]
    lexfile: str
    train_titles: int

    @property
    def forms(self) -> tuple[str, ...]:
        """The noun, its plural, each synonym and its plural (a title containing one is relevant)."""
        out = [self.noun, self.plural]
        for s in self.synonyms:
            out += [s, plural(s)]
        return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class QueryList:
    """The committed queries with the rule parameters that drew them."""

    queries: tuple[Query, ...]
    rule: dict[str, Any]

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def nouns(self) -> list[str]:
        return [q.noun for q in self.queries]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "queries": [{**asdict(q), "synonyms": list(q.synonyms)} for q in self.queries]}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> QueryList:
        try:
            queries = tuple(Query(q["noun"], q["plural"], tuple(q["synonyms"]), q["lexfile"], int(q["train_titles"]))
                            for q in obj["queries"])
            return cls(queries, dict(obj["rule"]))
        except (KeyError, TypeError) as exc:
            raise DataError(f"open-vocabulary query list: bad format ({exc}); expected "
                            "{'rule': {...}, 'queries': [{'noun', 'plural', 'synonyms', 'lexfile', 'train_titles'}]}") from exc


def _synonyms(wordnet, noun: str, limit: int = 3) -> tuple[str, ...]:
    """Lower-case lemmas of ``noun``'s first sense whose own first noun sense is the same synset."""
    first = wordnet.noun[noun].offsets[0]
    _, lemmas = wordnet.synset(first)
    out = []
    for lemma in lemmas:
        key = re.sub(r"\(.*\)$", "", lemma).strip()
        s = key.replace("_", " ")
        if s == noun or s != s.lower() or not re.fullmatch(r"[a-z]+( [a-z]+)*", s) or s in out:
            continue
        entry = wordnet.noun.get(key.lower())
        if entry is not None and entry.offsets[0] == first:
            out.append(s)
    return tuple(out[:limit])


def _is_proper(lemmas: Sequence[str], noun: str) -> bool:
    """True when ``noun`` is written with a capital (or not at all) among its sense's lemmas."""
    written = [lem for lem in lemmas if re.sub(r"\(.*\)$", "", lem).lower() == noun]
    return not written or all(w != w.lower() for w in written)


def build_query_list(train_titles: Sequence[str], wordnet, min_titles: int = 3, min_queries: int = 150,
                     source: str = "") -> QueryList:
    """Apply the module's rule to the training titles with a :class:`~.wordnet.WordNet`."""
    counts: Counter[str] = Counter()
    for title in train_titles:
        counts.update({wordnet.singular(t) for t in title_tokens(title)})
    candidates: list[Query] = []
    for lemma, n in counts.items():
        if len(lemma) < 3 or lemma in STOP_WORDS:
            continue
        sense = wordnet.first_noun_sense(lemma)
        if sense is None or sense[0] not in CONCRETE_LEXFILES or _is_proper(sense[1], lemma):
            continue
        tagged = wordnet.tagged_counts(lemma)
        if tagged["noun"] < max(tagged["verb"], tagged["adj"]):
            continue
        plural_form = wordnet.irregular_plural.get(lemma, plural(lemma))
        candidates.append(Query(lemma, plural_form, _synonyms(wordnet, lemma), sense[0], n))
    threshold = min_titles
    while threshold > 2 and sum(q.train_titles >= threshold for q in candidates) < min_queries:
        threshold -= 1
    kept = sorted((q for q in candidates if q.train_titles >= threshold), key=lambda q: (-q.train_titles, q.noun))
    rule = {
        "version": RULE_VERSION,
        "source": source,
        "n_titles": len(train_titles),
        "min_titles_asked": min_titles,
        "min_titles_used": threshold,
        "min_queries": min_queries,
        "concrete_lexfiles": list(CONCRETE_LEXFILES),
        "stop_words": sorted(STOP_WORDS),
        "proper_nouns": "left out (lemma written with a capital in its first sense)",
        "synonyms": "other lower-case lemmas of the first sense whose own first sense is that sense, at most 3",
        "candidates_before_frequency": len(candidates),
    }
    return QueryList(tuple(kept), rule)


def load_query_list(path: str | Path | None = None) -> QueryList:
    """The committed query list (``queries.json`` beside this module) or the one at ``path``."""
    p = Path(path) if path is not None else QUERIES_FILE
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read the open-vocabulary query list {p}: {exc}") from exc
    return QueryList.from_json(obj)
