"""Query-side prompt templates: a short query put into words before the text tower reads it.

People type one to three words ("horse", "an alarm clock"); CLIP-style teachers read such a query better inside a
sentence ("a drawing of horse"), and better still as the mean over several sentences. A template set is data, a name in
:data:`QUERY_TEMPLATES`; a ``lite0-prior`` teacher whose ``prior.json`` holds ``query_templates`` (written by
``distilhash teacher fit --kind lite0-prior --set query_templates=NAME``) encodes every *short* text ``s`` as::

    e(s) = normalize(mean_k  text_side(templates[k].format(s)))      [D]

and every other text as before. Short (:meth:`QueryTemplates.applies`): at most ``max_words`` words and none of
``. , ; : ! ?`` -- what people type in a search box; a title + tags caption has a ``.`` or ``,`` once it has tags.

    >>> QUERY_TEMPLATES["drawing"].prompts("an alarm clock")
    ['a drawing of an alarm clock']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["QueryTemplates", "QUERY_TEMPLATES", "query_templates", "encode_with_templates"]

_PUNCT = re.compile(r"[.,;:!?]")


@dataclass(frozen=True)
class QueryTemplates:
    """A named set of templates (each with exactly one ``{}``) applied to texts of at most ``max_words`` words."""

    name: str
    templates: tuple[str, ...]
    max_words: int = 4

    def __post_init__(self) -> None:
        bad = [t for t in self.templates if t.count("{}") != 1]
        if bad or self.max_words < 1:
            raise ValueError(f"query templates {self.name!r}: every template needs exactly one '{{}}' and max_words >= 1 "
                             f"(got templates {list(self.templates)}, max_words {self.max_words})")

    def applies(self, text: str) -> bool:
        """Whether ``text`` is a short query: 1..max_words words, no sentence or list punctuation."""
        words = text.split()
        return bool(self.templates) and 0 < len(words) <= self.max_words and not _PUNCT.search(text)

    def prompts(self, text: str) -> list[str]:
        """The sentences ``text`` becomes (whitespace collapsed)."""
        q = " ".join(text.split())
        return [t.format(q) for t in self.templates]

    @property
    def tag(self) -> str:
        """``NAME-<8 hex of the templates and max_words>``: part of a teacher's fingerprint."""
        digest = hashlib.sha256(repr((self.templates, self.max_words)).encode()).hexdigest()[:8]
        return f"{self.name}-{digest}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "templates": list(self.templates), "max_words": self.max_words}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QueryTemplates:
        """From a ``prior.json`` field (the templates themselves are stored, not only the name)."""
        return cls(str(d["name"]), tuple(str(t) for t in d["templates"]), int(d.get("max_words", 4)))


#: the registered template sets (docs/teachers.md, "query-side prompt templates"); ``none`` changes nothing
QUERY_TEMPLATES: dict[str, QueryTemplates] = {q.name: q for q in (
    QueryTemplates("none", ()),
    QueryTemplates("drawing", ("a drawing of {}",)),
    QueryTemplates("bare+drawing", ("{}", "a drawing of {}")),
    QueryTemplates("clip5", ("{}", "a drawing of {}", "a picture of {}", "an illustration of {}", "{} clip art")),
)}


def query_templates(name: str) -> QueryTemplates:
    """The set registered as ``name``; a ConfigError lists the known ones."""
    from distilhash.errors import ConfigError

    if name not in QUERY_TEMPLATES:
        raise ConfigError(f"no query templates named {name!r}; known: {', '.join(QUERY_TEMPLATES)}")
    return QUERY_TEMPLATES[name]


def encode_with_templates(encode: Callable[[list[str]], np.ndarray], texts: Sequence[str],
                          qt: QueryTemplates | None) -> np.ndarray:
    """``texts`` -> float32 ``[n, D]`` unit rows: short ones as the normalised mean over ``qt``'s templates, the others
    (and all of them when ``qt`` is None or empty) as ``encode`` gives them. ``encode(list[str]) -> [m, D]`` unit rows;
    it is called at most twice (the plain texts, then every prompt of every short text in one batch)."""
    from distilhash.teachers.common import l2_normalize

    texts = list(texts)
    short = [i for i, t in enumerate(texts) if qt is not None and qt.applies(t)]
    if not short:
        return np.asarray(encode(texts), dtype=np.float32)
    keep = set(short)
    plain = [i for i in range(len(texts)) if i not in keep]
    k = len(qt.templates)
    prompted = np.asarray(encode([p for i in short for p in qt.prompts(texts[i])]), dtype=np.float32)
    mean = l2_normalize(prompted.reshape(len(short), k, -1).mean(axis=1))
    out = np.empty((len(texts), prompted.shape[1]), dtype=np.float32)
    out[short] = mean
    if plain:
        out[plain] = np.asarray(encode([texts[i] for i in plain]), dtype=np.float32)
    return out
