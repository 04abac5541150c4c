"""Blind judging by eye: the contact sheet's layout and the table joining the key with the judgments."""

from __future__ import annotations

import numpy as np

from distilhash.benchmark.blind_judging import contact_sheet, judged_table


def test_contact_sheet_has_one_row_per_query(tmp_path):
    from PIL import Image

    rows = [[np.full((16, 16, 3), 200, np.uint8)] * 10, [np.zeros((16, 16, 3), np.uint8)] * 4]
    contact_sheet(rows, ["a cat", "a dog"], tmp_path / "s.png", cell=40)
    im = np.asarray(Image.open(tmp_path / "s.png"))
    assert im.shape == (80, 130 + 400, 3)
    assert im[60, 130 + 40 * 2 + 20].tolist() == [0, 0, 0] and im[60, 130 + 40 * 6 + 20].tolist() == [255, 255, 255]


def test_judged_table_scores_only_judged_sheets_by_their_hidden_ranking():
    data = {"queries": ["a cat", "a car"], "key": {"sheet-1": "float T", "sheet-2": "demo", "sheet-3": "other"},
            "provenance": {"commit": "abcdef123", "load_before": [1], "load_after": [2]}}
    judged = {"sheet-1": {"a cat": [1, 2, 3], "a car": []}, "sheet-2": {"a cat": [1], "a car": [1, 2]}}
    text = judged_table(data, judged)
    assert "| query | float T | demo |" in text and "other |" not in text.split("Sheets:")[0]
    assert "| a cat | 0.3 | 0.1 |" in text and "| **mean P@10** | **0.15** | **0.15** |" in text
    assert "| queries with P@10 = 0 | 1 | 0 |" in text and "commit abcdef1" in text
    assert "A hit (bench/everyday_queries.json, written before any result): the drawing shows" in text
    data["judging"] = "a person typing the query would be glad to get it."
    assert "written before any result): a person typing the query would be glad" in judged_table(data, judged)


def test_near_misses_add_hits_once_and_pairs_count_query_wins():
    from distilhash.benchmark.blind_judging import judged_scores, paired_counts, with_near_misses

    data = {"queries": ["a cat", "a car", "a bed"], "key": {"sheet-1": "A", "sheet-2": "B"}}
    judged = {"judged": "by eye", "sheet-1": {"a cat": [1, 2], "a car": [], "a bed": []},
              "sheet-2": {"a cat": [1], "a car": [3], "a bed": []}}
    near = {"what": "x", "sheet-1": {"a cat": [2, 5], "a bed": [9]}}
    lenient = with_near_misses(judged, near)
    assert set(lenient) == {"sheet-1", "sheet-2"} and lenient["sheet-1"]["a cat"] == [1, 2, 5]
    assert judged_scores(data, lenient) == {"A": {"a cat": 0.3, "a car": 0.0, "a bed": 0.1},
                                            "B": {"a cat": 0.1, "a car": 0.1, "a bed": 0.0}}
    assert paired_counts(judged_scores(data, judged)) == [("A", "B", 1, 1, 1)]


def test_title_census_counts_words_and_plurals_not_substrings():
    from distilhash.benchmark.blind_judging import title_census

    titles = ["Red Car", "cars on a road", "Scarf", "a red bus", "Buses", "careful", "The Moon at night"]
    got = title_census(["a red car", "a bus", "the moon"], titles)
    assert got == {"a red car": {"head": 2, "all_words": 1, "titled": [0]}, "a bus": {"head": 2, "all_words": 2, "titled": [3, 4]},
                   "the moon": {"head": 1, "all_words": 1, "titled": [6]}}


def test_ranks_of_finds_each_wanted_row_in_a_full_ranking():
    from distilhash.benchmark.blind_judging import ranks_of

    assert ranks_of([40, 7, 12, 3], [3, 7]) == [2, 4]


def test_judgments_that_cannot_be_counted_are_named_not_scored():
    """A typo in judgments.json must not change P@10 silently: each broken shape is named with its sheet and query."""
    import pytest

    from distilhash.benchmark.blind_judging import check_judgments, judged_scores
    from distilhash.errors import DataError

    data = {"queries": ["a cat", "a car"], "key": {"sheet-1": "A", "sheet-2": "B"}}
    ok = {"criterion": "by eye", "sheet-1": {"a cat": [1, 10], "a car": []}}
    assert judged_scores(data, ok) == {"A": {"a cat": 0.2, "a car": 0.0}}
    for judged, expected in (({"sheet-1": {"a cat": [1]}}, "sheet-1 has no list for the query 'a car'"),
                             ({"sheet-1": {"a cat": [1, 1], "a car": []}}, r"sheet-1 'a cat': \[1, 1\]; expected distinct"),
                             ({"sheet-1": {"a cat": [11], "a car": []}}, r"\[11\]; expected distinct positions 1-10"),
                             ({"sheet-1": {"a cat": ["3"], "a car": []}}, "expected distinct positions 1-10"),
                             ({"sheet-1": {"a cat": [], "a car": [], "a cta": [2]}}, "judges 'a cta', which is not one"),
                             ({"sheet-9": {"a cat": [], "a car": []}}, "sheet-9 is not one of the key's sheets")):
        with pytest.raises(DataError, match=expected):
            judged_scores(data, judged)
    check_judgments(data, {"what": "x", "sheet-2": {"a car": [4]}}, "near_misses.json", complete=False)  # partial: fine
    with pytest.raises(DataError, match="near_misses.json: sheet-2 'a car': \\[0\\]"):
        check_judgments(data, {"sheet-2": {"a car": [0]}}, "near_misses.json", complete=False)


def test_the_table_names_the_sheets_left_unjudged():
    data = {"queries": ["a cat"], "key": {"sheet-1": "float T", "sheet-2": "index I"},
            "provenance": {"commit": "abcdef123", "load_before": [1], "load_after": [2]}}
    text = judged_table(data, {"sheet-1": {"a cat": [1]}})
    assert "| standard error over queries | n/a (1 query) |" in text
    assert "Not judged, so not in the table: sheet-2 (index I)." in text
    assert "Not judged" not in judged_table(data, {"sheet-1": {"a cat": [1]}, "sheet-2": {"a cat": []}})


def test_title_census_refuses_a_query_with_nothing_to_look_for():
    import pytest

    from distilhash.benchmark.blind_judging import title_census
    from distilhash.errors import DataError

    with pytest.raises(DataError, match="query 'the' has no word to look for"):
        title_census(["a cat", "the"], ["a cat"])
