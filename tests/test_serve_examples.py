"""The page's example queries are concrete things the captions name, found by a written rule (serve/start.py)."""

from __future__ import annotations

from distilhash.serve.start import example_queries, things

#: photos described in sentences, as an own collection would be: "close" (in "close up") and the bare
#: tag "abstract" are frequent but no thing to search for; flower, leaf and folder are
PHOTOS = [
    "a water drop splashing into water, close up", "a close up of a green leaf with its veins",
    "an orange flower in close up", "a red and orange flower in a garden", "a yellow flower in close up",
    "rain drops on a green leaf", "two dandelion seeds on an orange flower", "an abstract blue and white pattern",
    "a pink and blue ribbon swirl on cyan, abstract", "pink and blue flowing ribbons, abstract",
    "rolled green and red paper shapes, abstract", "colourful swirling strings, abstract",
    "a blue folder with a music note", "a blue folder with a house on it", "a computer keyboard",
    "a white computer mouse", "a computer monitor with a blue screen",
]

#: drawing titles and tag lists, as openclipart's: few articles, numbers at the end
TITLES = ["Desktop, computer", "Green computer", "Computer", "Hardware, computer", "computer keyboard",
          "international maritime signal flag 1", "international maritime signal flag 2",
          "international maritime signal flag alpha", "arrow left blue", "arrow right red", "green arrow",
          "red arrow", "jigsaw red 01", "jigsaw red 02", "jigsaw red 03", "close icon", "close icon 2", "close button"]


def _queries(captions: list[str], **kw) -> list[str]:
    return [e["query"] for e in example_queries(captions, **kw)]


def test_frequent_adverbs_and_bare_tags_are_no_examples_but_the_things_are():
    found = _queries(PHOTOS)
    assert "close" not in found and "abstract" not in found
    assert found[0] == "orange flower"  # the most frequent adjective + noun pair comes first
    assert {"leaf", "folder"} <= set(found) | {w for q in found for w in q.split()}
    nouns = things(PHOTOS)
    assert {"flower", "leaf", "folder", "drop", "ribbon"} <= nouns
    assert not {"close", "abstract", "blue", "computer"} & nouns  # "computer" only ever modifies here


def test_titles_give_nouns_and_noun_pairs_never_a_modifier_or_two_adjectives():
    found = _queries(TITLES)
    assert "signal flag" in found and "computer" in found and "arrow" in found
    assert "international maritime" not in found  # two adjectives: the pair's second word heads nothing
    assert not any(q.endswith(" red") or q == "red" for q in found)  # "jigsaw red 01": red is a modifier
    assert "close" not in found  # "close icon": icon is the head, close only qualifies it


def test_examples_are_deterministic_counted_and_small_collections_need_two_captions():
    a, b = example_queries(PHOTOS), example_queries(list(PHOTOS))
    assert a == b
    for e in a:
        words = e["query"].split()
        holding = sum(all(w in c.lower() for w in words) for c in PHOTOS)
        assert e["items"] >= 2 and holding >= e["items"]
    assert _queries(PHOTOS, min_items=3) == ["orange flower"]  # 17 captions: only one pair in three of them


def test_a_hyphenated_compound_is_one_token_not_a_boundary_and_a_noun():
    # a new user's 26 pictures offered "ear" as an example: "over-ear headphones" was cut at "over" (a
    # preposition), leaving "ear" the head of a phrase, and "big ears" made it frequent enough
    captions = ["over-ear headphones for listening to music", "a cartoon mouse face with big ears on black",
                "wireless headphones on a desk", "a computer mouse with two buttons", "a daisy-like flower",
                "a yellow flower on a dark background"]
    found = _queries(captions)
    assert "ear" not in found and not any("-" in q for q in found)
    assert {"headphones", "mouse", "flower"} <= set(found) | {w for q in found for w in q.split()}
    assert "ear" not in things(captions) and "headphones" in things(captions)
