"""The everyday-query rankings judged by eye: an index answers as the service does, a float teacher by cosine."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.benchmark.everyday_rankings import everyday_rankings, parse_ranking
from distilhash.data import ArrayImageStore, CrossModalDataset
from distilhash.errors import ConfigError
from serve_fixtures import COLOURS, WORDS, ServeToySign, ServeToyTeacher

# each drawing is the colour of the one word it shows, so a word's query finds exactly its drawings
SHOWS = ["cat", "dog", "car", "cat", "tree", "boat", "car", "fish", "cat", "moon", "star", "dog"]
DATA = CrossModalDataset(name="everyday", ids=[f"d{i}" for i in range(len(SHOWS))], texts=list(SHOWS),
                         labels=np.zeros((len(SHOWS), 1), np.uint8), label_names=["thing"],
                         images=ArrayImageStore(np.stack([np.full((16, 16, 3), COLOURS[WORDS.index(w)], np.uint8)
                                                          for w in SHOWS])))
JUDGED = np.arange(2, len(SHOWS))  # the judged database: every drawing but the first two


def _index(tmp_path, rows: np.ndarray):
    """A binary index of ``rows``' drawings built with the toy model; its manifest records model and teacher."""
    from distilhash.index.create import create_index

    model = tmp_path / "model"
    model.mkdir()
    ServeToySign().save(model)
    ix = tmp_path / "ix"
    feats = ServeToyTeacher().encode_images([DATA.images.load(int(i)) for i in rows])
    with create_index(ix, "binary", n_bits=8, model_dir=model, teacher="serve-toy") as index:
        index.add([DATA.ids[i] for i in rows], ServeToySign().encode("image", feats))
    return ix


def test_index_ranking_answers_through_the_manifests_model_in_dataset_rows(tmp_path):
    ix = _index(tmp_path, JUDGED)
    got = everyday_rankings([f"index {ix}", "float serve-toy"], ["cat", "car"], DATA, JUDGED, k=3)
    # "cat" is drawn by rows 0, 3, 8; row 0 is outside the judged database, so 3 and 8 lead, as rows of DATA
    assert sorted(got[f"index {ix}"][0][:2]) == [3, 8] and sorted(got["float serve-toy"][0][:2]) == [3, 8]
    assert sorted(got[f"index {ix}"][1][:2]) == [2, 6]
    assert all(len(r) == 3 and set(r) <= set(JUDGED.tolist()) for rs in got.values() for r in rs)


def test_index_holding_items_outside_the_judged_database_is_refused(tmp_path):
    ix = _index(tmp_path, np.arange(len(SHOWS)))
    with pytest.raises(ConfigError, match="holds 2 item.* such as 'd0' that are not one of the 10 judged database items"):
        everyday_rankings([f"index {ix}"], ["cat"], DATA, JUDGED, k=3)
    # refused even when no outside item reaches the top k ("moon" is drawn once, by a judged row)
    with pytest.raises(ConfigError, match="not one of the 10 judged database items"):
        everyday_rankings([f"index {ix}"], ["moon"], DATA, JUDGED, k=1)


def test_index_lacking_judged_items_is_refused(tmp_path):
    ix = _index(tmp_path, JUDGED[:-3])
    with pytest.raises(ConfigError, match="lacks 3 of the 10 judged database items"):
        everyday_rankings([f"index {ix}"], ["cat"], DATA, JUDGED, k=3)


def test_ranking_names_are_checked_before_anything_loads():
    assert parse_ranking(" float lite0-prior:openclipart-224-short ") == ("float", "lite0-prior:openclipart-224-short")
    for bad in ("demo: DCMQ 64 index, static encoder", "float", "teacher x"):
        with pytest.raises(ConfigError, match="expected 'KIND ARG' with KIND one of float, index"):
            everyday_rankings(["float serve-toy", bad], ["cat"], DATA, JUDGED)
