"""Display captions (distilhash.data.captions): junk titles recognised by the documented rule and
replaced by the best human text; the training text and the content hash are left alone."""

from __future__ import annotations

import numpy as np

from distilhash.data import ArrayImageStore, CrossModalDataset
from distilhash.data.captions import CaptionContext, creator_tags, display_caption, display_captions, junk_reasons, repair_file_name
from distilhash.data.dataset import load_dataset, save_dataset


def test_junk_rules_name_what_is_wrong():
    assert "hash-like" in junk_reasons("hash(0x8a09834, hash(0x8a3eca4")
    assert "credit-prefix" in junk_reasons("Clipart by Nicu Buculei - baloon1_04")
    assert "file-name-like" in junk_reasons("baloon1_04")
    assert "file-name-like" in junk_reasons("arrow-down-seagreen")
    assert "collection-name" in junk_reasons("Etiquette Icons")
    assert "contact-or-address" in junk_reasons("EPS converted from http://aiga.org")
    assert "no-words" in junk_reasons("A4")
    for fine in ("Two Red Dice", "Flying Spaghetti Monster", "Germany - Bavaria", "Baby-Tux", "bee"):
        assert junk_reasons(fine) == [], fine


def test_shared_title_is_junk_only_when_it_is_not_the_items_own_word():
    counts = {"etiquette icons": 50, "card": 50}
    from collections import Counter

    ant = CaptionContext(Counter(counts), tags=["insect", "animal"], file_name="ant")
    card = CaptionContext(Counter(counts), tags=["card", "bordered"], file_name="bordered_c_6")
    assert "shared-title" in junk_reasons("Etiquette Icons", ant)
    assert junk_reasons("card", card) == []
    assert junk_reasons("card", CaptionContext(Counter(counts), tags=["bordered"], file_name="x")) == ["shared-title"]
    red = CaptionContext(Counter({"jigsaw red": 48}), tags=["jigsaw"], file_name="jigsaw_blue_01")
    assert junk_reasons("jigsaw red", red) == ["shared-title"]  # a collection title that names another item


def test_display_caption_falls_back_title_description_tags_folder():
    assert display_caption("Clipart by Nicu Buculei - pear", "", ["fruit"]) == ("pear", "title", [])
    assert display_caption("tree - RPG map elements", "", ["mapsym"])[0] == "tree"
    assert display_caption("Clipart by Nicu Buculei - jigsaw_red_10", "", [])[:2] == ("jigsaw red", "title-repaired")
    assert display_caption("Tigre01", "", [])[0] == "Tigre"
    assert display_caption("Etiquette Icons", "An ant. Drawn in 2005.", ["insect"])[:2] == ("An ant", "description")
    cap, src, why = display_caption("Etiquette Icons", "Part of the etiquette icon set", ["hash(0x8a3ecd4", "insect", "animal"])
    assert (cap, src) == ("Insect, animal", "tags") and "collection-name" in why
    assert display_caption("", "", [], "animals/bugs")[:2] == ("Bugs, animals", "folder")
    assert display_caption("", "", [])[:2] == ("untitled", "untitled")
    assert repair_file_name("smiley111.svg") == "smiley"
    assert display_caption("L&Atilde;&copy;zard", "", [])[0] == "Lézard"
    assert display_caption("Cassa d&#39;epoca", "", [])[0] == "Cassa d'epoca"


def test_creator_tags_are_names_inside_file_names_not_subjects():
    names = [f"{s}_architetto_fra_01" for s in ("armadillo", "gufo", "rana", "orso", "lupo")] + ["bee_1", "bee_2", "bee_3", "bee_4", "bee_5"]
    tags = [["architetto francesco rollandin", "animal"]] * 5 + [["bee", "insect"]] * 5
    assert creator_tags(tags, names) == {"architetto francesco rollandin"}


def test_display_captions_are_saved_apart_from_the_training_text(tmp_path):
    titles = ["Etiquette Icons"] * 12 + ["Red apple"]
    tags = [["insect", "animal"]] * 12 + [["fruit"]]
    display, summary = display_captions(titles, [""] * 13, tags, [f"ant{i}" for i in range(12)] + ["apple"], [""] * 13)
    assert display[0] == "Insect, animal" and display[-1] == "Red apple"
    assert summary["replaced"] == 12 and summary["title_junk"]["shared-title"] == 12 and summary["source"]["tags"] == 12
    texts = [f"{t}. {', '.join(g)}" for t, g in zip(titles, tags)]
    ds = CrossModalDataset("cap", [f"i{i}" for i in range(13)], texts, np.ones((13, 1), np.uint8), ["x"],
                           ArrayImageStore(np.zeros((13, 4, 4, 3), np.uint8)), display_texts=display)
    plain = CrossModalDataset("cap", ds.ids, texts, ds.labels, ["x"], ds.images)
    assert ds.content_hash() == plain.content_hash()  # features, splits and models made before stay valid
    back = load_dataset(save_dataset(ds, tmp_path / "cap"))
    assert back.display_texts == display and back.texts == texts
    assert back.subset(np.array([12, 0])).display_texts == ["Red apple", "Insect, animal"]
    assert load_dataset(save_dataset(plain, tmp_path / "plain")).display_texts is None


def test_index_metadata_carries_the_display_caption_and_the_page_shows_it():
    from distilhash.data.captions import shown_caption
    from distilhash.paths import datasets_dir
    from distilhash.pipeline.index import dataset_metadata

    texts = ["Etiquette Icons. insect, animal", "Red apple. fruit"]
    ds = CrossModalDataset("capidx", ["a", "b"], texts, np.ones((2, 1), np.uint8), ["x"],
                           ArrayImageStore(np.zeros((2, 4, 4, 3), np.uint8)), display_texts=["Insect, animal", "Red apple"])
    from distilhash.data import SplitSpec, make_split

    where = save_dataset(ds, datasets_dir() / "capidx")
    make_split(2, SplitSpec(n_query=1, n_train=1, n_val=0), ds.content_hash()).save(where / "split.json")
    md = dataset_metadata("capidx", [0, 1])
    assert md[0]["caption"] == texts[0] and md[0]["display_caption"] == "Insect, animal"  # raw text kept next to it
    assert [shown_caption(m) for m in md] == ["Insect, animal", "Red apple"]
    assert shown_caption({"caption": "older index"}) == "older index"
