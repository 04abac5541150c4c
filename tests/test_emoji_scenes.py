"""EmojiScenes: assets parsing, glyph rendering, scene generation, pretraining corpus, CLI."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from distilhash.data import load_dataset, save_dataset
from distilhash.data.emoji_assets import ASSETS, asset_path, load_catalog, parse_emoji_test, render_glyphs
from distilhash.data.emoji_scenes import generate
from distilhash.data.emoji_scenes_config import EmojiScenesConfig
from distilhash.data.emoji_scenes_generator import EmojiScenesGenerator
from distilhash.data.emoji_sprites import clear_sprite_caches
from distilhash.data.sources import create_source_dataset
from distilhash.errors import ConfigError, DataError

pytestmark = pytest.mark.skipif(
    not all(__import__("os").path.isfile(a.path) for a in ASSETS.values()),
    reason="Debian emoji assets (unicode-data, unicode-cldr-core, fonts-noto-color-emoji) not installed",
)

N = 48


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def gen():
    return EmojiScenesGenerator(EmojiScenesConfig(n_items=N))


@pytest.fixture(scope="module")
def ds(gen):
    return generate(gen.config, progress=False, generator=gen)


# ------------------------------------------------------------------------------------ assets
def test_catalog_keeps_fully_qualified_without_component_flags_or_skin_tones(catalog):
    entries, version = parse_emoji_test()
    fq = {e.chars for e in entries if e.status == "fully-qualified"}
    assert version and len(catalog) > 1000
    assert all(e.chars in fq for e in catalog.emojis)
    assert not {"Component", "Flags"} & set(catalog.groups())
    assert not any(0x1F3FB <= ord(ch) <= 0x1F3FF for e in catalog.emojis for ch in e.chars)
    assert 85 <= len(catalog.subgroups()) <= 105
    assert all(e.name and e.keywords for e in catalog.emojis)
    # every entry left out is accounted for
    dropped = sum(v for k, v in catalog.filtered.items() if not k.startswith("no CLDR"))
    assert len(catalog) + dropped == len(entries)
    assert catalog.filtered["skin-tone variant"] > 0 and catalog.filtered["group Flags"] > 0


def test_catalog_names_come_from_cldr(catalog):
    by_chars = {e.chars: e for e in catalog.emojis}
    cat = by_chars["\U0001f408"]  # U+1F408 CAT
    assert cat.name == "cat" and cat.subgroup == "animal-mammal" and cat.annotated
    assert "pet" in cat.keywords
    # a ZWJ sequence is named through annotationsDerived/en.xml (keys without U+FE0F)
    assert any(e.annotated and "\u200d" in e.chars for e in catalog.emojis)


def test_missing_asset_names_file_and_debian_package(tmp_path, monkeypatch):
    missing = tmp_path / "nope" / "emoji-test.txt"
    with pytest.raises(DataError, match=r"nope/emoji-test\.txt.*unicode-data"):
        asset_path("emoji-test", missing)
    monkeypatch.setenv("DISTILHASH_EMOJI_FONT", str(tmp_path / "font.ttf"))
    with pytest.raises(DataError, match="fonts-noto-color-emoji"):
        asset_path("emoji-font")


def test_malformed_emoji_test_line_is_reported_with_line_number(tmp_path):
    bad = tmp_path / "emoji-test.txt"
    bad.write_text("# group: X\n# subgroup: y\n1F600 ; fully-qualified # \U0001f600 E1.0 grinning face\nnot a line\n")
    with pytest.raises(DataError, match=r"emoji-test\.txt:4"):
        parse_emoji_test(bad)


def test_glyphs_the_font_cannot_render_are_rejected_and_counted():
    sprites, rejected = render_glyphs(["\U0001f600", "\U000e0067", "\U0001f600\u200d\U0001f355"])
    assert sprites[0] is not None and sprites[0].shape[2] == 4 and sprites[0][..., 3].any()
    assert sprites[1] is None and sprites[2] is None
    assert sum(rejected.values()) == 2 and rejected.get("several glyphs") == 1


# ----------------------------------------------------------------------------------- scenes
def test_dataset_shapes_ids_and_labels_match_the_drawn_emojis(gen, ds):
    S = gen.config.render_size
    assert ds.images.pixels.shape == (N, S, S, 3) and ds.images.pixels.dtype == np.uint8
    assert ds.ids[0] == "es-000000" and len(set(ds.ids)) == N
    assert ds.num_labels == len(gen.label_names) == len(set(gen.catalog.subgroups()))
    for i in range(N):
        scene, caption, tags, _ = gen.item(i)
        assert gen.config.min_objects <= len(scene.objects) <= gen.config.max_objects
        expected = {gen.catalog.emojis[o.emoji].subgroup for o in scene.objects}
        assert {ds.label_names[j] for j in np.flatnonzero(ds.labels[i])} == expected
        assert caption == ds.texts[i] and tags == ds.tags[i]
        for o in scene.objects:
            assert 0 <= o.x <= S - o.size and 0 <= o.y <= S - o.size
    assert ds.unlabelled().size == 0


def test_images_are_not_blank_and_differ(ds):
    px = ds.images.pixels.astype(np.int16)
    assert (px.reshape(N, -1).std(axis=1) > 10).all()
    assert len({bytes(p) for p in ds.images.pixels}) == N


def test_captions_and_tags_never_empty_even_when_every_object_is_dropped(gen):
    cfg = EmojiScenesConfig(n_items=30, p_drop=1.0, p_tag_drop=1.0)
    d = generate(cfg, progress=False)
    assert all(t.strip() for t in d.texts) and all(tags for tags in d.tags)
    assert not d.empty_texts()


def test_without_noise_every_object_name_is_in_the_caption():
    cfg = EmojiScenesConfig(n_items=20, p_drop=0.0, p_synonym=0.0, p_size_word=0.0)
    g = EmojiScenesGenerator(cfg)
    for i in range(cfg.n_items):
        scene, caption, _, _ = g.item(i)
        for o in scene.objects:
            assert g.catalog.emojis[o.emoji].name in caption


def test_noise_probabilities_change_captions(ds):
    cfg = EmojiScenesConfig(n_items=N, p_synonym=1.0, p_size_word=0.0)
    g = EmojiScenesGenerator(cfg)
    noisy = generate(cfg, progress=False, generator=g)
    assert noisy.texts != ds.texts
    # with p_synonym=1 an emoji that has a usable synonym is (almost) never called by its name
    named = total = 0
    for i in range(N):
        scene, caption, _, _ = g.item(i)
        for o in scene.objects:
            if g._synonyms[o.emoji]:
                total += 1
                named += g.catalog.emojis[o.emoji].name in caption
    assert total > 0 and named < 0.25 * total


def test_same_config_is_byte_identical_across_fresh_generators(ds):
    clear_sprite_caches()  # re-render every glyph from the font
    again = generate(EmojiScenesConfig(n_items=N), progress=False)
    assert again.images.pixels.tobytes() == ds.images.pixels.tobytes()
    assert again.texts == ds.texts and again.tags == ds.tags
    assert np.array_equal(again.labels, ds.labels) and again.content_hash() == ds.content_hash()


def test_items_do_not_depend_on_dataset_size_and_seed_changes_them(ds):
    small = generate(EmojiScenesConfig(n_items=10), progress=False)
    assert small.images.pixels.tobytes() == ds.images.pixels[:10].tobytes() and small.texts == ds.texts[:10]
    other = generate(EmojiScenesConfig(n_items=10, seed=7), progress=False)
    assert other.texts != small.texts


def test_group_label_level_and_render_size_option():
    d = generate(EmojiScenesConfig(n_items=12, label_level="group", render_size=32), progress=False)
    assert d.num_labels == 8 and "Animals & Nature" in d.label_names
    assert d.images.pixels.shape[1:] == (32, 32, 3)


@pytest.mark.parametrize(
    "bad",
    [{"label_level": "emoji"}, {"min_objects": 4, "max_objects": 2}, {"p_drop": 1.5}, {"stream": "x"}, {"seed": -1}],
)
def test_bad_config_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        EmojiScenesConfig(**bad)


def test_exclude_groups_from_the_command_line_and_unknown_groups():
    assert EmojiScenesConfig(exclude_groups="Component, Flags,Symbols").exclude_groups == (
        "Component", "Flags", "Symbols"
    )
    with pytest.raises(DataError, match="Animals & Nature"):
        load_catalog(exclude_groups=("Flagz",))


def test_unknown_source_option_lists_valid_ones():
    with pytest.raises(ConfigError, match="render_size"):
        create_source_dataset("emoji-scenes", n_items=5, colour="red")


# --------------------------------------------------------------------------------- pretrain
def test_pretrain_corpus_is_unlabelled_and_disjoint_from_benchmark(ds, tmp_path):
    pre = create_source_dataset("emoji-pretrain", n_items=N, benchmark_n_items=N, progress=False)
    assert pre.name == "emoji-pretrain" and pre.labels.shape == (N, 0) and pre.label_names == []
    assert all(i.startswith("ep-") for i in pre.ids) and not set(pre.ids) & set(ds.ids)
    assert pre.meta["config"]["seed"] != ds.meta["config"]["seed"]
    assert pre.meta["redrawn_for_disjointness"] == 0
    bench_images = {bytes(p) for p in ds.images.pixels}
    assert not any(bytes(p) in bench_images for p in pre.images.pixels)
    # even with the benchmark's seed, the pretrain stream draws other scenes
    g_pre = EmojiScenesGenerator(EmojiScenesConfig(n_items=N, stream="pretrain", seed=0))
    g_bench = EmojiScenesGenerator(EmojiScenesConfig(n_items=N))
    assert not g_pre.signatures(N) & g_bench.signatures(N)
    # C = 0 survives the prepared-dataset format
    loaded = load_dataset(save_dataset(pre, tmp_path / "pre"))
    assert loaded.labels.shape == (N, 0) and loaded.texts == pre.texts and loaded.unlabelled().size == 0


def test_pretrain_redraws_a_scene_that_the_benchmark_holds():
    cfg = EmojiScenesConfig(n_items=5, stream="pretrain", with_labels=False)
    g = EmojiScenesGenerator(cfg)
    clash = {g.sample_scene(g.rng(2)).signature()}
    d = generate(cfg, progress=False, exclude=clash, generator=g)
    assert d.meta["redrawn_for_disjointness"] == 1
    assert any("re-drawn" in note and note.endswith(": 1") for note in d.meta["filters"])


# -------------------------------------------------------------------------------------- CLI
def test_cli_prepare_and_info_emoji_pretrain():
    from distilhash.cli.main import app

    runner = CliRunner()
    res = runner.invoke(
        app, ["data", "prepare", "emoji-pretrain", "--opt", "n_items=40", "--opt", "benchmark_n_items=40"]
    )
    assert res.exit_code == 0, res.output
    assert "emoji-pretrain: 40 items" in res.output
    info = runner.invoke(app, ["data", "info", "emoji-pretrain"])
    assert info.exit_code == 0 and "labels: 0" in info.output


@pytest.mark.slow
def test_cli_prepare_emoji_scenes_full_size_with_preset_split():
    from distilhash.cli.main import app
    from distilhash.data.store import open_prepared

    runner = CliRunner()
    res = runner.invoke(app, ["data", "prepare", "emoji-scenes"])
    assert res.exit_code == 0, res.output
    d, split = open_prepared("emoji-scenes")
    assert len(d) == 20015 and split.sizes()["query"] == 2000 and split.sizes()["retrieval"] == 18015
    info = runner.invoke(app, ["data", "info", "emoji-scenes"])
    assert info.exit_code == 0 and split.hash in info.output
