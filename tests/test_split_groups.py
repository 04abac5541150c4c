"""Grouped splits: a caption, a title stem or a drawing (dHash) never sits on both sides of a cut."""

from __future__ import annotations

import numpy as np
import pytest

from distilhash.data import ArrayImageStore, CrossModalDataset
from distilhash.data.split import Split, SplitSpec, make_split, preset
from distilhash.data.split_groups import dhash64, group_ids, item_keys, overlap_counts
from distilhash.errors import DataError


def _word(i: int) -> str:
    return chr(97 + i % 26) + chr(97 + i // 26 % 26)


def _collection(n: int = 300, seed: int = 0) -> CrossModalDataset:
    """Items in numbered series ("star 01", "star 02" ...), some captions repeated, some drawings filed twice."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    titles, tags = [], []
    for i in range(n):
        series = i % 97
        titles.append(f"series {_word(series)} no {i // 97}" if series < 30 else f"unique thing {_word(i)}")
        tags.append(["tag a"] if i % 2 else [])
    for i in range(0, 40, 2):  # the same drawing filed twice under another title
        pixels[200 + i] = pixels[i + 1]
    texts = [". ".join(p for p in (t, ", ".join(g)) if p) for t, g in zip(titles, tags)]
    texts[150] = texts[151] = "same caption"
    labels = np.ones((n, 1), np.uint8)
    return CrossModalDataset(name="c", ids=[f"i{i}" for i in range(n)], texts=texts, labels=labels,
                             label_names=["x"], images=ArrayImageStore(pixels), tags=tags)


def test_dhash_is_64_bits_and_sees_same_drawing():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert len(dhash64(a)) == 16 and dhash64(a) == dhash64(a.copy())
    ramp = np.tile(np.arange(32, dtype=np.uint8)[::-1] * 8, (32, 1))  # left brighter than right everywhere
    assert dhash64(ramp) == "f" * 16 and dhash64(ramp[:, ::-1]) == "0" * 16
    with pytest.raises(DataError, match="expected an image"):
        dhash64(np.zeros(5, np.uint8))


def test_groups_join_title_stem_text_and_drawing_transitively():
    ds = _collection()
    keys = item_keys(ds, ["title", "text", "dhash"])
    assert keys["title"][0] == keys["title"][97] == "series aa no"  # digits dropped: one collection
    g = group_ids(ds, "title+text+dhash", keys=keys)
    assert g[0] == g[97] == g[194]  # the series
    assert g[1] == g[200]  # same drawing, unrelated title
    assert g[150] == g[151]  # same caption
    assert g[31] != g[32] and g[2] != g[3]  # unique titles stay apart
    with pytest.raises(DataError, match="expected names from"):
        group_ids(ds, "title+colour")


def test_grouped_split_keeps_groups_on_one_side_with_exact_sizes():
    ds = _collection()
    spec = SplitSpec(n_query=40, n_train=200, n_retrieval=None, n_val=40, seed=3, group_by="title+text+dhash")
    g = group_ids(ds, spec.group_by)
    split = make_split(len(ds), spec, "h", g)
    assert split.sizes() == {"query": 40, "retrieval": 260, "train": 200, "val": 40, "fit": 160}
    assert not set(g[split.query]) & set(g[split.retrieval])
    assert not set(g[split.val]) & set(g[split.fit])
    assert overlap_counts(ds, split) == {"text": 0, "title": 0, "dhash": 0}
    # the item-level split of the same sizes leaves copies on both sides, which the count shows
    flat = make_split(len(ds), SplitSpec(40, 200, None, 40, seed=3), "h")
    assert sum(overlap_counts(ds, flat).values()) > 0
    # different seeds deal different groups; the same seed the same split
    assert make_split(len(ds), spec, "h", g).hash == split.hash
    assert make_split(len(ds), SplitSpec(40, 200, None, 40, seed=4, group_by=spec.group_by), "h", g).hash != split.hash


def test_grouped_split_is_versioned_and_round_trips(tmp_path):
    ds = _collection()
    spec = SplitSpec(n_query=40, n_train=200, n_retrieval=None, n_val=40, seed=0, group_by="title")
    split = make_split(len(ds), spec, "h", group_ids(ds, "title"))
    # an ungrouped split with the very same index arrays still has another hash
    same_arrays = Split(split.query, split.retrieval, split.train, split.val, SplitSpec(40, 200, None, 40, 0), "h")
    assert same_arrays.hash != split.hash
    split.save(tmp_path / "s.json")
    assert Split.load(tmp_path / "s.json").spec.group_by == "title"
    with pytest.raises(DataError, match="needs one group id per item"):
        make_split(len(ds), spec, "h")
    assert preset("openclipart", seed=2).group_by == "title+text+dhash" and preset("openclipart", 2).seed == 2


def test_grouped_split_says_when_groups_cannot_fill_a_part():
    g = np.repeat(np.arange(10), 10)  # ten groups of ten items
    with pytest.raises(DataError, match="cannot fill the queries"):
        make_split(100, SplitSpec(n_query=15, n_train=50, n_val=10, group_by="title"), "h", g)
