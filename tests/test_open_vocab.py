"""The open-vocabulary benchmark: title words, the query rule, relevance and scoring, the suite option."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.benchmark.open_vocab.domains import emoji_held_out, glyph_on_white
from distilhash.benchmark.open_vocab.scoring import (DomainData, OpenVocabOptions, random_ranking, relevance,
                                                     score_method)
from distilhash.benchmark.open_vocab.vocab import Query, QueryList, build_query_list, load_query_list
from distilhash.benchmark.open_vocab.wordnet import WordNet
from distilhash.benchmark.open_vocab.words import matches, plural, title_tokens
from distilhash.errors import ConfigError, DataError, FeatureError


def test_title_words_and_plurals():
    assert title_tokens("Red_Apple-2 (v3)") == ("red", "apple", "v")
    assert [plural(w) for w in ("fox", "lady", "toy", "alarm clock")] == ["foxes", "ladies", "toys", "alarm clocks"]
    assert matches(("a", "big", "alarm", "clock"), ("alarm clock",))
    assert not matches(("clock", "alarm"), ("alarm clock",))
    assert not matches(("horseshoe",), ("horse", "horses"))  # whole words only


def _write_wordnet(root, senses):
    """A tiny WordNet: ``senses`` = [(lexfile number, [lemmas as written])]; returns {lemma: [offsets]}."""
    data = "  header line\n"
    index: dict[str, list[int]] = {}
    for lexnum, lemmas in senses:
        off = len(data.encode("latin-1"))
        words = " ".join(f"{w} 0" for w in lemmas)
        data += f"{off:08d} {lexnum:02d} n {len(lemmas):02x} {words} 000 | gloss\n"
        for w in lemmas:
            index.setdefault(w.lower(), []).append(off)
    (root / "data.noun").write_text(data, encoding="latin-1")
    lines = [f"{lem} n {len(offs)} 0 {len(offs)} 0 " + " ".join(f"{o:08d}" for o in offs) for lem, offs in sorted(index.items())]
    (root / "index.noun").write_text("  header\n" + "\n".join(lines) + "\n")
    (root / "index.verb").write_text("run v 1 0 1 5 00000001\n")
    (root / "index.adj").write_text("")
    (root / "noun.exc").write_text("mice mouse\n")
    return index


def test_query_rule_keeps_frequent_concrete_common_nouns(tmp_path):
    _write_wordnet(tmp_path, [
        (5, ["horse", "Equus_caballus"]),   # animal, with a proper-name synonym (not kept)
        (6, ["machine"]),                   # machine's own first sense ...
        (6, ["car", "auto", "machine"]),    # ... is not car's (artifact)
        (9, ["idea"]),                      # cognition: abstract
        (17, ["Europe"]),                   # proper noun
        (5, ["mouse"]),
        (4, ["run"]),                       # an act, and mostly a verb
    ])
    titles = ["Horses in a field", "a horse", "old car", "cars and auto parts", "an idea", "europe map", "Europe",
              "mice", "a mouse", "run", "run", "horse shoe"]
    qlist = build_query_list(titles, WordNet(tmp_path), min_titles=2, min_queries=1)
    nouns = {q.noun: q for q in qlist.queries}
    assert set(nouns) == {"horse", "car", "mouse"}
    assert nouns["car"].synonyms == ("auto",)
    assert nouns["mouse"].plural == "mice"
    assert "machine" not in nouns["car"].forms and "autos" in nouns["car"].forms
    # the frequency threshold is lowered only as far as needed to reach min_queries
    assert build_query_list(titles, WordNet(tmp_path), min_titles=3, min_queries=3).rule["min_titles_used"] == 2
    only_horse = build_query_list(titles, WordNet(tmp_path), min_titles=3, min_queries=1)
    assert only_horse.rule["min_titles_used"] == 3 and only_horse.nouns == ["horse"]


def test_missing_wordnet_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="wordnet-base"):
        WordNet(tmp_path)


def test_committed_query_list_follows_its_rule():
    qlist = load_query_list()
    assert len(qlist) >= 150
    nouns = qlist.nouns
    assert len(set(nouns)) == len(nouns)
    for q in qlist.queries:
        assert q.noun == q.noun.lower() and q.plural and len(q.synonyms) <= 3
        assert q.lexfile in qlist.rule["concrete_lexfiles"]
        assert q.train_titles >= qlist.rule["min_titles_used"]
    assert qlist.rule["source"].startswith("titles of openclipart split.train")


def test_emoji_held_out_rule_is_a_fixed_half():
    groups = [f"subgroup-{i}" for i in range(400)]
    first = [emoji_held_out(g) for g in groups]
    assert first == [emoji_held_out(g) for g in groups]
    assert 0.4 < np.mean(first) < 0.6
    sprite = np.zeros((20, 10, 4), np.uint8)
    sprite[..., 0] = 255
    sprite[..., 3] = 255
    img = glyph_on_white(sprite, 32)
    assert img.shape == (32, 32, 3) and img[0, 0].tolist() == [255, 255, 255] and img[16, 16].tolist() == [255, 0, 0]


def _domain(rel: np.ndarray, width: int = 8, seed: int = 0) -> DomainData:
    """Features in which each query sits on its relevant items (plus noise)."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((rel.shape[0], width)).astype(np.float32)
    img = 0.3 * rng.standard_normal((rel.shape[1], width)).astype(np.float32)
    for i, row in enumerate(rel):
        img[row] += q[i]
    return DomainData("toy", rel, q, img, [f"noun{i}" for i in range(len(rel))], np.zeros((rel.shape[1], 4, 4, 3), np.uint8),
                      rel.shape[1])


def test_scoring_separates_a_good_ranking_from_chance():
    from distilhash.methods.base import create_method
    from distilhash.teachers.features import FeatureSet

    rel = np.zeros((6, 120), dtype=bool)
    for i in range(5):
        rel[i, i * 10:i * 10 + 4] = True  # query 5 has no relevant item
    dom = _domain(rel)
    opts = OpenVocabOptions(precision_at=4, recall_at=8)
    fs = FeatureSet(image=dom.image_features, text=dom.image_features, labels=np.zeros((120, 1), np.uint8),
                    ids=[str(i) for i in range(120)])
    from distilhash.data import SplitSpec, make_split

    split = make_split(120, SplitSpec(n_query=20, n_train=80, n_retrieval=None, n_val=20, seed=0))
    method = create_method("float-teacher").fit(fs, split)
    good = score_method(method, dom, opts)
    chance = random_ranking(dom, opts)
    assert good["n_queries"] == 5 and good["n_queries_without_relevant"] == 1
    assert good["p_at"] > 0.9 and good["r_at"] > 0.9 and good["map_all"] > 0.9
    assert chance["map_all"] < 0.2 and chance["p_at"] < 0.2


def test_relevance_uses_titles_and_forms():
    qlist = QueryList((Query("horse", "horses", ("nag",), "noun.animal", 3),), {})
    rel = relevance(qlist, ["Two horses", "a nag", "horseshoe", "Horse"])
    assert rel.tolist() == [[True, True, False, True]]


def test_suite_open_vocab_option_is_validated_and_kept_out_of_old_hashes():
    import hashlib
    import json

    from distilhash.benchmark.suite import parse_suite

    base = {"name": "s", "datasets": [{"name": "d", "source": "synthetic"}], "methods": ["lsh"], "bits": [16], "seeds": [0]}
    spec = parse_suite(base).runs()[0]
    d = spec.to_dict()
    d.pop("threads")
    d.pop("open_vocab")
    assert spec.spec_hash == hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
    with_ov = parse_suite({**base, "open_vocab": {"domains": ["emoji"]}}).runs()[0]
    assert with_ov.open_vocab == {"domains": ["emoji"]} and with_ov.spec_hash != spec.spec_hash
    with pytest.raises(ConfigError, match="unknown domains"):
        parse_suite({**base, "open_vocab": {"domains": ["mars"]}})
    with pytest.raises(ConfigError, match="unknown keys"):
        parse_suite({**base, "open_vocab": {"k": 3}})


def test_cached_teacher_features_are_per_copy_of_the_teacher(tmp_path, monkeypatch):
    """One spec answered by two copies (a home's fit after the shipped one: other fingerprints in the suite's
    feature cache) does not reuse the other copy's cached query and emoji features."""
    from distilhash.benchmark.open_vocab import scoring
    from distilhash.data.emoji_glyphs import TitledImages
    from distilhash.teachers import registry
    from distilhash.teachers.features import FeatureSet

    monkeypatch.setenv("DISTILHASH_HOME", str(tmp_path))
    made: list[float] = []

    class Fake:
        def __init__(self, value: float, fingerprint: str = ""):
            self.value, self.fingerprint = value, fingerprint

        def encode_texts(self, texts):
            made.append(self.value)
            return np.full((len(texts), 4), self.value, np.float32)

        def encode_images(self, images, progress=False):
            made.append(self.value)
            return np.full((len(images), 4), self.value, np.float32)

    dom = TitledImages("emoji", ["a", "b"], ["a horse", "a cup"], np.zeros((2, 4, 4, 3), np.uint8), {})
    monkeypatch.setitem(scoring.DOMAINS, "emoji", lambda size=128: dom)
    opts = OpenVocabOptions(domains=("emoji",))

    def features(fp: str) -> FeatureSet:
        return FeatureSet(image=np.eye(2, 4, dtype=np.float32), text=np.eye(2, 4, dtype=np.float32),
                          labels=np.zeros((2, 1), np.uint8), ids=["x", "y"], manifest={"teacher_fingerprint": fp})

    for fp, value in (("shipped", 1.0), ("fitted-here", 2.0), ("shipped", 3.0)):
        monkeypatch.setattr(registry, "create_teacher", lambda spec, v=value: Fake(v))
        (d,) = scoring.prepare_domains(opts, "lite0-prior:x", features(fp))
        assert d.query_features[0, 0] == (2.0 if fp == "fitted-here" else 1.0)  # the third run reads the first's cache
    assert made == [1.0, 1.0, 2.0, 2.0]
    # the spec now answered by another copy than the cache's (a home's fit appeared after extraction): refused by name,
    # rather than scoring its query features against the other copy's item features (and caching them under its key)
    monkeypatch.setattr(registry, "create_teacher", lambda spec: Fake(9.0, "fitted-here"))
    with pytest.raises(FeatureError, match="now loads weights of fingerprint fitted-here.*extracted with shipped-v2"):
        scoring.prepare_domains(opts, "lite0-prior:x", features("shipped-v2"))
    monkeypatch.setattr(registry, "create_teacher", lambda spec: Fake(5.0, "shipped-v2"))
    (d,) = scoring.prepare_domains(opts, "lite0-prior:x", features("shipped-v2"))  # the same copy: encoded and cached
    assert d.query_features[0, 0] == 5.0
