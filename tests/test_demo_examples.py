"""The demo's example queries: label resolution and precision@10 by label."""

from __future__ import annotations

import pytest

from distilhash.demo.examples import EXAMPLE_QUERIES, ExampleResult, resolve_label
from distilhash.errors import ConfigError


def test_labels_resolve_by_exact_name_or_last_path_part():
    names = ["folder1:food", "folder2:food/fruit", "folder2:animals/birds", "tag:bird", "tag:fruit", "fruit-bowl"]
    assert resolve_label("folder1:food", names) == 0
    assert resolve_label("fruit", names) == 1  # the category wins over the tag of the same word
    assert resolve_label("birds", names) == 2
    assert resolve_label("bird", names) == 3
    assert resolve_label("fruit-bowl", names) == 5


@pytest.mark.parametrize("key, names, message", [
    ("fish", ["animals/birds"], "matches none"),
    ("fish", ["a/fish", "b/fish", "tag:fish"], "matches 2"),
])
def test_unknown_or_ambiguous_labels_are_refused(key, names, message):
    with pytest.raises(ConfigError, match=message):
        resolve_label(key, names)


def test_ten_distinct_example_queries_and_precision():
    assert len(EXAMPLE_QUERIES) == 10 and len({q.text for q in EXAMPLE_QUERIES}) == 10
    r = ExampleResult("a tree", "trees", "plants/trees", ["a", "b", "c", "d"], [""] * 4, [True, False, True, True], "light")
    assert r.precision == 0.75


def test_title_column_judges_hits_by_the_nouns_of_their_titles():
    from distilhash.demo.examples import _names, item_titles

    assert all(q.nouns for q in EXAMPLE_QUERIES)
    assert _names("Two red apples", ("apple",)) and not _names("pineapple", ("apple",))
    assert _names("an old alarm clock", ("alarm clock",)) and not _names("clock alarm", ("alarm clock",))
    r = ExampleResult("a red apple", "fruit", "food/fruit", ["a", "b"], ["", ""], [True, True], "teacher",
                      ["apple", "pear"], [True, False])
    assert r.precision == 1.0 and r.title_precision == 0.5

    class _Ds:  # not openclipart: the title is the text before its first ". "
        meta = {"source": "folder"}
        ids = ["x", "y"]
        texts = ["A horse. brown, animal", "cat"]

    assert item_titles(_Ds(), [0, 1]) == ["A horse", "cat"]


def test_the_example_table_shows_the_caption_a_person_reads():
    """The table printed the training text ("Clipart by Nicu Buculei - pear.") where a display caption exists: it now
    reads each hit's index metadata through shown_caption, as the service does."""
    from distilhash.data.captions import shown_caption

    rows = [{"caption": "Clipart by Nicu Buculei - pear. fruit, food", "display_caption": "pear. fruit, food"},
            {"caption": "A tree. plant", "display_caption": ""}]
    assert [shown_caption(m) or "" for m in rows] == ["pear. fruit, food", "A tree. plant"]  # no display caption: the text
    assert [shown_caption(m) or "" for m in [{"caption": "cat"}]] == ["cat"]
