"""Junk captions among the shown items: counts per query origin and the report."""

from __future__ import annotations

from distilhash.benchmark.caption_junk import markdown, summarise


def _row(origin, query, rank, before, after):
    return {"queries": origin, "query": query, "rank": rank, "id": f"x/{rank}", "shown": "a | cat", "before": "IMG_1.png",
            "junk_before": before, "junk_after": after}


def test_summarise_and_markdown():
    rows = [_row("demo", "a cat", 1, ["file-name-like"], []), _row("demo", "a cat", 2, [], []),
            _row("demo", "a dog", 1, ["empty", "file-name-like"], ["empty"]), _row("start page", "sea", 1, [], [])]
    s = summarise(rows)
    assert s["demo"] == {"queries": 2, "items": 3, "junk_before": 2, "junk_after": 1,
                         "reasons_before": {"file-name-like": 2, "empty": 1}, "reasons_after": {"empty": 1}}
    assert s["start page"]["junk_before"] == 0 and s["start page"]["reasons_after"] == {}
    text = markdown({"k": 10, "summary": s, "items": rows})
    assert "| demo | 2 | 3 | 2 | 1 | file-name-like 2, empty 1 | empty 1 |" in text and "| start page | 1 | 1 | 0 | 0 | - | - |" in text
    assert "| a cat | 1 | x/1 | a \\| cat | IMG_1.png | file-name-like |" in text  # pipes escaped in the item table
