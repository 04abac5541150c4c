"""The own-folder journey's stored result as tables (distilhash.benchmark.own_folder.journey_markdown)."""

from __future__ import annotations

from pathlib import Path

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


def test_held_out_ranks_drop_the_left_out_pictures_and_the_queries_meaning_them():
    import numpy as np

    from distilhash.benchmark.own_folder import query_ranks

    targets = [Path(f).stem for f in QUERIES.values()]
    ids = list(dict.fromkeys(targets)) + ["distractor"]
    image = np.eye(len(ids), dtype=np.float32)
    text = np.stack([image[ids.index(t)] * 0.5 + image[-1] for t in targets])  # the distractor ranks above every target
    assert set(query_ranks(image, ids, text).values()) == {2}
    first = targets[0]
    held = query_ranks(image, ids, text, frozenset({first, "distractor"}))
    assert first not in held and len(held) == len(QUERIES) - sum(t == first for t in targets)
    assert set(held.values()) == {1}  # the left-out distractor no longer counts


def test_journey_markdown_adds_the_held_out_table_when_the_result_has_one():
    ranks = {q: 1 for q in QUERIES}
    result = {"default_teacher": "t", "n_queries": len(QUERIES), "refused_bad_files": True, "float_top5": {"t": 20},
              "dcmq64_index_top5": 0, "float_ranks": {"t": ranks}, "dcmq64_index_hit": {q: False for q in QUERIES},
              "held_out": {"left_out": ["drawing10"], "n_pictures": 46, "float_ranks": {"t": dict(list(ranks.items())[:3])},
                           "float_top5": {"t": 3}}}
    text = journey_markdown(result)
    assert "## Held out: 46 pictures no teacher was fitted on, the 3 queries meaning one" in text
    assert "| `t` | 3 of 3 |" in text and "drawing10" in text


def test_the_folder_glyphs_left_out_are_those_of_the_subgroups_teachers_may_fit_on():
    """IN_WIDE_PAIRS' glyphs follow the emoji-fit rule (a subgroup not held out for the benchmark), by the catalogue."""
    from distilhash.benchmark.own_folder import EMOJI, IN_WIDE_PAIRS
    from distilhash.data.emoji_assets import load_catalog
    from distilhash.data.emoji_glyphs import emoji_held_out

    subgroup = {e.chars.replace("\ufe0f", ""): e.subgroup for e in load_catalog().emojis}
    fitted = {f"emoji-{cp.lower()}" for cp in EMOJI if not emoji_held_out(subgroup[chr(int(cp, 16))])}
    assert fitted == {i for i in IN_WIDE_PAIRS if i.startswith("emoji-")} and len(fitted) == 6
