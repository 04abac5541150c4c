"""A minimal reader of the WordNet 3.0 database files (Debian package ``wordnet-base``).

Only what the query rule of :mod:`.vocab` needs: for a lemma, its senses in WordNet's order
(most frequent first), the lexicographer file of each noun sense (``noun.animal``,
``noun.artifact``, ...), the synonyms of a sense, the tagged-sense counts per part of speech
(how often the word was seen in that part of speech in the semantic concordance) and the
irregular plurals (``noun.exc``). Files are read once per :class:`WordNet`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distilhash.errors import DataError

__all__ = ["WordNet", "IndexEntry", "DEFAULT_DIR", "LEXNAMES"]

DEFAULT_DIR = "/usr/share/wordnet"

#: lex_filenum -> lexicographer file name (WordNet 3.0 ``lexnames``), nouns only.
LEXNAMES: dict[int, str] = {
    3: "noun.Tops", 4: "noun.act", 5: "noun.animal", 6: "noun.artifact", 7: "noun.attribute", 8: "noun.body",
    9: "noun.cognition", 10: "noun.communication", 11: "noun.event", 12: "noun.feeling", 13: "noun.food",
    14: "noun.group", 15: "noun.location", 16: "noun.motive", 17: "noun.object", 18: "noun.person",
    19: "noun.phenomenon", 20: "noun.plant", 21: "noun.possession", 22: "noun.process", 23: "noun.quantity",
    24: "noun.relation", 25: "noun.shape", 26: "noun.state", 27: "noun.substance", 28: "noun.time",
}


@dataclass(frozen=True)
class IndexEntry:
    """One line of ``index.POS``: the lemma's synset offsets (most frequent sense first) and tagged-sense count."""

    lemma: str
    offsets: tuple[int, ...]
    tagsense_cnt: int


def _read_index(path: Path) -> dict[str, IndexEntry]:
    out: dict[str, IndexEntry] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line or line.startswith(" "):
            continue
        f = line.split()
        p_cnt = int(f[3])
        tagsense = int(f[5 + p_cnt])
        offsets = tuple(int(x) for x in f[6 + p_cnt:])
        out[f[0]] = IndexEntry(f[0], offsets, tagsense)
    return out


class WordNet:
    """WordNet 3.0 from ``directory`` (``index.noun``, ``data.noun``, ``index.verb``, ``index.adj``, ``noun.exc``).

    Raises:
        DataError: when a file is missing (install the Debian package ``wordnet-base``).
    """

    def __init__(self, directory: str | Path = DEFAULT_DIR) -> None:
        self.directory = Path(directory)
        needed = ("index.noun", "data.noun", "index.verb", "index.adj", "noun.exc")
        missing = [n for n in needed if not (self.directory / n).is_file()]
        if missing:
            raise DataError(f"WordNet files {missing} not found in {self.directory}; install the Debian package "
                            "wordnet-base (apt-get install wordnet-base) or pass the folder holding them")
        self.noun = _read_index(self.directory / "index.noun")
        self.verb = _read_index(self.directory / "index.verb")
        self.adj = _read_index(self.directory / "index.adj")
        self._data = (self.directory / "data.noun").read_bytes()
        self.irregular_plural: dict[str, str] = {}  # singular -> plural
        self.irregular_singular: dict[str, str] = {}  # plural -> singular
        for line in (self.directory / "noun.exc").read_text(encoding="latin-1").splitlines():
            f = line.split()
            if len(f) >= 2:
                self.irregular_singular.setdefault(f[0], f[1])
                self.irregular_plural.setdefault(f[1], f[0])

    def synset(self, offset: int) -> tuple[str, list[str]]:
        """``(lexicographer file, lemmas)`` of the noun synset at byte ``offset`` of ``data.noun``."""
        end = self._data.index(b"\n", offset)
        f = self._data[offset:end].decode("latin-1").split()
        lexname = LEXNAMES.get(int(f[1]), f"lexfile-{f[1]}")
        w_cnt = int(f[3], 16)
        lemmas = [f[4 + 2 * i] for i in range(w_cnt)]
        return lexname, lemmas

    def first_noun_sense(self, lemma: str) -> tuple[str, list[str]] | None:
        """The most frequent noun sense of ``lemma`` as ``(lexfile, synonyms as written)``, or None."""
        entry = self.noun.get(lemma)
        return None if entry is None else self.synset(entry.offsets[0])

    def tagged_counts(self, lemma: str) -> dict[str, int]:
        """Tagged-sense counts of ``lemma`` as a noun, verb and adjective (0 when absent)."""
        return {pos: (idx[lemma].tagsense_cnt if lemma in idx else 0)
                for pos, idx in (("noun", self.noun), ("verb", self.verb), ("adj", self.adj))}

    def singular(self, word: str) -> str:
        """The noun lemma of a (possibly plural) word form: ``noun.exc``, then ``-ies``/``-es``/``-s``
        stripped when the result is a WordNet noun; the word itself otherwise."""
        if word in self.irregular_singular:
            return self.irregular_singular[word]
        if word in self.noun and not word.endswith("s"):
            return word
        candidates = []
        if word.endswith("ies"):
            candidates.append(word[:-3] + "y")
        if word.endswith("es"):
            candidates.append(word[:-2])
        if word.endswith("s") and not word.endswith("ss"):
            candidates.append(word[:-1])
        for c in candidates:
            if c in self.noun:
                return c
        return word
