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
