"""Pair sources of the wide teacher: nothing held out (query, val, their collections, near-duplicates) is fitted on."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from distilhash.teachers.lite0_wide import WideFitConfig, _near_duplicates
from distilhash.teachers.pair_sources import PAIR_SOURCES, held_out_rows


def _drawing(root, rel: str, title: str, tags: list[str], k: int) -> None:
    lis = "".join(f"<rdf:li>{t}</rdf:li>" for t in tags)
    meta = ('<metadata><rdf:RDF xmlns:cc="http://web.resource.org/cc/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><cc:Work rdf:about="">'
            f"<dc:title>{title}</dc:title><dc:subject><rdf:Bag>{lis}</rdf:Bag></dc:subject></cc:Work></rdf:RDF></metadata>")
    svg = root / "svg" / f"{rel}.svg"
    svg.parent.mkdir(parents=True, exist_ok=True)
    svg.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">{meta}<rect width="{k + 2}" height="9"/></svg>')
    png = root / "png" / f"{rel}.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", (40, 40), (255, 255, 255))
    ImageDraw.Draw(im).rectangle((2, 2, 12 + k, 14 + (k * 7) % 24), fill=((k * 37) % 256, (k * 91) % 256, 120))
    im.save(png)


def test_openclipart_extra_leaves_out_held_out_items_and_their_collections(tmp_path):
    from distilhash.data import SplitSpec, make_split, save_dataset
    from distilhash.data.openclipart import OpenClipartConfig, build_openclipart
    from distilhash.paths import datasets_dir

    root = tmp_path / "oc"
    for k in range(16):
        _drawing(root, f"animals/item{k:02d}", f"thing {chr(97 + k // 2)}", ["animal", f"t{k % 3}"], k)  # collections of 2
    _drawing(root, "unsorted/nolabel", "an unlabelled drawing", [], 40)
    ds = build_openclipart(OpenClipartConfig(root=str(root), size=32, min_label_items=1, collection_cap=1), progress=False)
    save_dataset(ds, datasets_dir() / "openclipart")
    split = make_split(len(ds), SplitSpec(n_query=2, n_train=4, n_retrieval=None, n_val=2, seed=0), ds.content_hash())
    split.save(datasets_dir() / "openclipart" / "split.json")
    pairs = PAIR_SOURCES.create("openclipart-extra", size=32, progress=False)
    held = {ds.ids[i] for i in held_out_rows(split)}
    held_collections = {ds.texts[ds.ids.index(i)].split(".")[0] for i in held}
    assert not held & set(pairs.ids)
    assert not {t.split(".")[0] for t in pairs.texts} & held_collections
    assert not {ds.ids[i] for i in split.fit} & set(pairs.ids)
    c = pairs.meta["counts"]
    assert c["kept_dropped_by_dataset"] >= 1  # over-cap or unlabelled drawings are used: the teacher reads no label
    assert any(i.endswith("nolabel") for i in pairs.ids)
    assert pairs.images.shape == (len(pairs), 32, 32, 3) and len(pairs.texts) == len(pairs)
    fit = PAIR_SOURCES.create("openclipart-fit", size=32)
    assert fit.ids == [ds.ids[i] for i in split.fit]


def test_near_duplicates_by_centred_cosine_and_config_defaults():
    rng = np.random.default_rng(0)
    ref = rng.random((5, 8)).astype(np.float32)
    u = np.concatenate([ref[:2] + 1e-4, rng.random((3, 8)).astype(np.float32)])
    mu = np.concatenate([ref, u]).mean(0)
    assert _near_duplicates(u, ref, mu, 0.95).tolist() == [True, True, False, False, False]
    cfg = WideFitConfig()
    assert cfg.sources == ["openclipart-fit", "openclipart-extra", "emoji-fit"] and cfg.select == "val_map"
    assert set(cfg.sources) <= set(PAIR_SOURCES.names())


def test_retext_features_replaces_only_the_text_rows(tiny_prepared, tmp_path):
    import pytest

    from distilhash.errors import FeatureError
    from distilhash.teachers.cache import default_features_dir, load_features
    from distilhash.teachers.retext import retext_features

    teacher_spec, _ = tiny_prepared
    src = default_features_dir("tiny", teacher_spec)
    before = load_features(src)

    class Constant:  # a teacher whose every caption embeds to the same unit vector
        def encode_texts(self, texts, progress=False):
            out = np.zeros((len(texts), before.width), np.float32)
            out[:, 0] = 1.0
            return out

    out = retext_features(src, tmp_path / "retexted", [f"caption {i}" for i in range(len(before))], Constant(), "numbered")
    after = load_features(out)  # checksums verified
    assert np.array_equal(after.image, before.image) and np.array_equal(after.labels, before.labels)
    assert np.all(after.text[:, 0] == 1.0) and after.manifest["text_variant"] == "numbered"
    with pytest.raises(FeatureError, match="captions for a cache"):
        retext_features(src, tmp_path / "bad", ["one"], Constant(), "x")
    with pytest.raises(FeatureError, match="empty captions"):
        retext_features(src, tmp_path / "bad", [" "] * len(before), Constant(), "x")
