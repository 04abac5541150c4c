"""openclipart statistics: how often a tag label is named in the text, one option's summary, the report."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from distilhash.benchmark.openclipart_stats import label_words_in_text, markdown


def test_label_words_in_text_counts_tag_labels_named_as_phrases():
    ds = SimpleNamespace(texts=["A red Car, parked.", "blue sky", "carpet"],
                         label_names=["folder:vehicles", "tag:car", "tag:sky", "tag:red car"],
                         labels=np.array([[1, 1, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]], np.uint8))
    # tag pairs: (0, car) yes, (0, red car) yes, (1, sky) yes, (2, car) no ("carpet" is not the phrase): 3 of 4
    assert label_words_in_text(ds) == 0.75


def test_markdown_lists_the_waterfall_default_and_every_option():
    option = {"labels": "tags", "text": "title+tags", "collection_cap": 50, "n_items": 90, "n_labels": 12,
              "labels_per_item": {"mean": 2.5}, "text_words": {"mean": 7.1}, "tag_labels_named_in_text": 0.4,
              "split": {"error": "too few items"}}
    default = {**option, "n_folder_labels": 2, "n_tag_labels": 10, "split": {"hash": "S", "sizes": {"query": 10}},
               "relevant_share": {"mean": 0.2}, "chance_random_ranking": 0.08}
    out = {"content_hash": "C", "default": default, "rendered_from_svg": 3, "metadata_unreadable": 1, "metadata_regex_fallback": 0,
           "prepare_time": {"scan_and_render": {"wall_s": 10, "cpu_s": 9}, "assemble": {"wall_s": 1}},
           "waterfall": [("SVG files", 100), ("- blank (10)", 90)], "collection_cap_drops": {"icons": 5},
           "variants": [option], "label_frequency": {"tag:a": 30, "tag:b": 20}}
    text = markdown(out)
    assert "| - blank (10) | 90 |" in text and "chance (exact mAP@all of a random ranking) 0.08" in text
    assert "| tags | title+tags | 50 | 90 | 12 | 2.5 | 7.1 | 0.4 | too few items | - |" in text
    assert "Collection cap drops: icons 5." in text and "Most frequent labels: tag:a 30, tag:b 20." in text
