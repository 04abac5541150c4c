"""EmojiScenes: an offline cross-modal benchmark generated from Debian's emoji assets.

An item is a small scene (``render_size`` x ``render_size`` RGB) of 2-5 Noto Color Emoji
glyphs of random size and position on a plain or gradient background with a few clutter
shapes; its caption is built from the CLDR English name (or a keyword synonym) of each emoji,
its tags are CLDR keywords, and its labels are the emoji-test subgroups (or groups) of the
emojis drawn. Two sources are registered:

* ``emoji-scenes`` — the labelled benchmark (20,015 items, MIRFlickr split sizes).
* ``emoji-pretrain`` — a disjoint image-caption corpus for the offline teacher: another seed
  *and* another random stream, ids prefixed ``ep-`` instead of ``es-``, no labels (``C = 0``),
  and any scene whose exact (emoji multiset, layout) occurs in the default benchmark is
  re-drawn (the number re-drawn is recorded in ``meta``).

Every scene ``i`` draws from its own generator ``default_rng([seed, stream, i])``: the same
config gives byte-identical images and texts, and any item can be regenerated alone.

The config and scene model are :mod:`distilhash.data.emoji_scenes_config`, the generator
:mod:`distilhash.data.emoji_scenes_generator`, the glyph sprites :mod:`distilhash.data.emoji_sprites`;
this module assembles the dataset (:func:`generate`) and registers the two sources.

Example:
    >>> from distilhash.data.emoji_scenes import EmojiScenesConfig, generate
    >>> ds = generate(EmojiScenesConfig(n_items=8), progress=False)   # doctest: +SKIP
    >>> ds.images.pixels.shape, ds.num_labels                          # doctest: +SKIP
    ((8, 64, 64, 3), 96)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from distilhash.data.dataset import CrossModalDataset
from distilhash.data.emoji_assets import asset_path
from distilhash.data.emoji_scenes_config import EmojiScenesConfig, config_from_options
from distilhash.data.emoji_scenes_generator import EmojiScenesGenerator
from distilhash.data.images import ArrayImageStore
from distilhash.data.sources import SOURCES
from distilhash.io_utils import sha256_file

__all__ = ["EmojiScenesConfig", "EmojiScenesGenerator", "generate", "PRETRAIN_DEFAULTS"]


def generate(
    config: EmojiScenesConfig, progress: bool = True, exclude: set | None = None, generator: EmojiScenesGenerator | None = None
) -> CrossModalDataset:
    """Generate the dataset of ``config`` (images held in memory, ``[N, S, S, 3]`` uint8).

    Args:
        config: the dataset config.
        progress: show a tqdm progress bar.
        exclude: scene signatures that must not occur (re-drawn when they do).
        generator: a prepared generator for ``config`` (saves the glyph rendering).
    """
    gen = generator or EmojiScenesGenerator(config, progress=progress)
    c = config
    N, S = c.n_items, c.render_size
    pixels = np.empty((N, S, S, 3), dtype=np.uint8)
    C = len(gen.label_names) if c.with_labels else 0
    labels = np.zeros((N, C), dtype=np.uint8)
    texts: list[str] = []
    tags: list[list[str]] = []
    n_objects = np.zeros(N, dtype=np.int64)
    redraws = 0
    rng_iter: Sequence[int] | Any = range(N)
    if progress:
        from tqdm import tqdm

        rng_iter = tqdm(rng_iter, desc=f"rendering {c.name}", unit="scene", mininterval=0.5)
    for i in rng_iter:
        scene, caption, item_tags, r = gen.item(i, exclude)
        redraws += r
        pixels[i] = gen.render(scene)
        texts.append(caption)
        tags.append(item_tags)
        n_objects[i] = len(scene.objects)
        if C:
            labels[i, gen.emoji_label[[o.emoji for o in scene.objects]]] = 1
    filtered = dict(gen.catalog.filtered)
    kept = len(gen.catalog)
    total = kept + sum(v for k, v in filtered.items() if not k.startswith("no CLDR"))
    notes = [
        f"emoji catalogue: kept {kept} of {total} emoji-test entries; "
        + "; ".join(f"{k}: {v}" for k, v in filtered.items()),
        f"glyphs the font cannot render (left out): {sum(gen.glyph_rejections.values())}"
        + (f" ({gen.glyph_rejections})" if gen.glyph_rejections else ""),
    ]
    if exclude is not None:
        notes.append(f"scenes re-drawn because the benchmark holds the same emojis and layout: {redraws}")
    meta = {
        "source": c.name,
        "generator": "distilhash.data.emoji_scenes",
        "config": c.to_dict(),
        "label_level": c.label_level if C else None,
        "emoji_version": gen.catalog.emoji_version,
        "assets": {**gen.catalog.sources, "emoji-font": str(asset_path("emoji-font"))},
        "emoji_font_sha256": sha256_file(asset_path("emoji-font")),
        "pillow": _pillow_version(),
        "catalogue_size": kept,
        "catalogue_filtered": filtered,
        "glyph_rejections": gen.glyph_rejections,
        "objects_per_scene_mean": float(n_objects.mean()),
        "redrawn_for_disjointness": redraws if exclude is not None else None,
        "filters": notes,
    }
    return CrossModalDataset(
        name=str(c.name),
        ids=[f"{c.id_prefix}-{i:06d}" for i in range(N)],
        texts=texts,
        labels=labels,
        label_names=list(gen.label_names) if C else [],
        images=ArrayImageStore(pixels),
        tags=tags,
        meta=meta,
    )


def _pillow_version() -> str:
    import PIL

    return str(PIL.__version__)


@SOURCES.register("emoji-scenes")
def emoji_scenes(progress: bool = True, **options: Any) -> CrossModalDataset:
    """The labelled EmojiScenes benchmark; ``options`` are :class:`EmojiScenesConfig` fields."""
    return generate(config_from_options({"stream": "benchmark"}, options), progress=progress)


#: Defaults of the pretraining corpus (fields not listed take the benchmark defaults).
PRETRAIN_DEFAULTS: dict[str, Any] = {"stream": "pretrain", "seed": 1, "n_items": 30000, "with_labels": False}


@SOURCES.register("emoji-pretrain")
def emoji_pretrain(
    progress: bool = True,
    exclude_benchmark: bool = True,
    benchmark_seed: int = 0,
    benchmark_n_items: int = 20015,
    **options: Any,
) -> CrossModalDataset:
    """The teacher's pretraining corpus: image-caption pairs disjoint from the benchmark.

    Disjointness: another stream and seed (independent random numbers), other ids (``ep-``),
    and — with ``exclude_benchmark`` — every scene whose exact emoji multiset and layout occurs
    among the first ``benchmark_n_items`` benchmark scenes of ``benchmark_seed`` (same render
    size and object settings) is re-drawn.
    """
    config = config_from_options(PRETRAIN_DEFAULTS, options)
    gen = EmojiScenesGenerator(config, progress=progress)
    exclude = None
    if exclude_benchmark:
        bench_cfg = replace(
            config, stream="benchmark", seed=benchmark_seed, n_items=benchmark_n_items, name=None, id_prefix=None,
            with_labels=True,
        )
        exclude = EmojiScenesGenerator(bench_cfg).signatures(benchmark_n_items)  # glyphs are cached
    ds = generate(config, progress=progress, exclude=exclude, generator=gen)
    ds.meta["disjoint_from"] = (
        {"source": "emoji-scenes", "seed": benchmark_seed, "n_items": benchmark_n_items} if exclude_benchmark else None
    )
    return ds
