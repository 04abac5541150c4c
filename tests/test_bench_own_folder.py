"""The own-folder journey's stored result as tables (distilhash.benchmark.own_folder.journey_markdown)."""

from __future__ import annotations

from distilhash.benchmark.own_folder import QUERIES, journey_markdown


def test_journey_markdown_counts_top5_per_ranking_and_lists_every_query():
    first = next(iter(QUERIES))
    ranks = {"lite0-prior": {q: 1 for q in QUERIES} | {first: 9}, "minilm-lit": {q: 7 for q in QUERIES}}
    result = {"default_teacher": "lite0-prior", "n_queries": len(QUERIES), "refused_bad_files": True,
              "float_top5": {"lite0-prior": 19, "minilm-lit": 0}, "dcmq64_index_top5": 12, "float_ranks": ranks,
              "dcmq64_index_hit": {q: q != first for q in QUERIES}}
    text = journey_markdown(result)
    assert "default teacher `lite0-prior` (fitted in this home)" in text  # older results: no copy recorded
    assert f"| float teacher `minilm-lit` | 0 of {len(QUERIES)} |" in text
    assert f"| DCMQ 64-bit index on `lite0-prior` (trained on the folder) | 12 of {len(QUERIES)} |" in text
    assert "| query | rank by `lite0-prior` | rank by `minilm-lit` | DCMQ top 5 |" in text
    assert f"| {first} | 9 | 7 | no |" in text and sum(line.startswith("| ") and line.endswith(" yes |") for line in text.splitlines()) == len(QUERIES) - 1
