"""EmojiScenes statistics and sample figures (``bench/emoji_scenes_stats.py``; the numbers quoted in docs/dataset.md).

Usage::

    out = stats(ds, split)                       # items, labels per item, label frequency, relevant shares, captions
    text = markdown(out, ds.name, "emoji_scenes_stats"); figures(ds, grid_png, samples_png, freq_png)
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from distilhash.benchmark.figures import captioned_samples, figure, label_frequency_bars

__all__ = ["stats", "figures", "markdown"]


def stats(ds, split, n_pairs: int = 200_000, seed: int = 0) -> dict:
    """Label, caption and noise statistics of a prepared EmojiScenes dataset."""
    from distilhash.data.emoji_scenes import EmojiScenesConfig, EmojiScenesGenerator

    y = ds.labels.astype(np.int64)
    freq = y.sum(0)
    per_item = y.sum(1)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(ds), n_pairs), rng.integers(0, len(ds), n_pairs)
    keep = a != b
    relevant = float(((y[a[keep]] * y[b[keep]]).sum(1) > 0).mean())
    q, r = split.query, split.retrieval
    rel_q = ((y[q] @ y[r].T) > 0).mean(1)
    words = [t.split() for t in ds.texts]
    vocab = Counter(w.lower().strip(",:") for ws in words for w in ws)
    # realised noise: re-derive scenes from the generator and compare with the captions
    cfg_dict = {k: v for k, v in ds.meta["config"].items()}
    cfg_dict["exclude_groups"] = tuple(cfg_dict["exclude_groups"])
    gen = EmojiScenesGenerator(EmojiScenesConfig(**cfg_dict))
    n_obj = n_named = 0
    objects = Counter()
    for i in range(min(2000, len(ds))):
        scene, caption, _, _ = gen.item(i)
        assert caption == ds.texts[i], "prepared dataset does not match its generator config"
        objects[len(scene.objects)] += 1
        for o in scene.objects:
            n_obj += 1
            n_named += gen.catalog.emojis[o.emoji].name in caption
    return {
        "dataset": ds.name,
        "n_items": len(ds),
        "n_labels": int(ds.num_labels),
        "label_level": ds.meta.get("label_level"),
        "catalogue_size": ds.meta.get("catalogue_size"),
        "render_size": int(ds.images.size),
        "split_hash": split.hash,
        "split_sizes": split.sizes(),
        "content_hash": ds.content_hash(),
        "labels_per_item": {
            "mean": round(float(per_item.mean()), 3),
            "hist": {int(k): int(v) for k, v in sorted(Counter(per_item.tolist()).items())},
        },
        "objects_per_scene_first_2000": {int(k): int(v) for k, v in sorted(objects.items())},
        "label_frequency": {
            "min": int(freq.min()),
            "median": float(np.median(freq)),
            "max": int(freq.max()),
            "rarest": ds.label_names[int(freq.argmin())],
            "most_common": ds.label_names[int(freq.argmax())],
        },
        "relevant_pair_rate": round(relevant, 4),
        "query_relevant_share": {
            "mean": round(float(rel_q.mean()), 4),
            "min": round(float(rel_q.min()), 4),
            "max": round(float(rel_q.max()), 4),
            "queries_without_relevant": int((rel_q == 0).sum()),
        },
        "caption_words": {
            "mean": round(float(np.mean([len(w) for w in words])), 2),
            "min": int(min(len(w) for w in words)),
            "max": int(max(len(w) for w in words)),
            "vocabulary": len(vocab),
        },
        "tags_per_item_mean": round(float(np.mean([len(t) for t in ds.tags])), 2) if ds.tags else None,
        "objects_named_in_caption_first_2000": round(n_named / max(n_obj, 1), 4),
        "examples": [{"id": ds.ids[i], "text": ds.texts[i], "tags": ds.tags[i] if ds.tags else None,
                      "labels": [ds.label_names[j] for j in np.flatnonzero(ds.labels[i])]} for i in range(1, 6)],
    }


def figures(ds, out_grid: Path, out_samples: Path, out_freq: Path) -> None:
    """The 6 x 8 grid of the first 48 scenes (pixels doubled), 12 captioned samples and the label-frequency plot."""
    from PIL import Image

    S = ds.images.size
    px = np.asarray(ds.images.pixels[:48])
    grid = px.reshape(6, 8, S, S, 3).transpose(0, 2, 1, 3, 4).reshape(6 * S, 8 * S, 3)
    Image.fromarray(grid).resize((16 * S, 12 * S), Image.NEAREST).save(out_grid, optimize=True)
    captioned_samples(out_samples, ds, range(1, 13), f"{ds.name}: {S}x{S} scenes (items 1-12), caption and [labels]",
                      interpolation="nearest")
    with figure(out_freq, figsize=(7, 3.2)) as (fig, ax):
        label_frequency_bars(ax, ds, f"label rank ({ds.labels.shape[1]} {ds.meta.get('label_level')}s)")


def markdown(out: dict, name: str, plot_name: str) -> str:
    """The statistics as a list (``plot_name``: the label-frequency plot beside it)."""
    lf, lpi, qr = out["label_frequency"], out["labels_per_item"], out["query_relevant_share"]
    return "\n".join([
        f"# {name} statistics",
        "",
        f"Content hash {out['content_hash']}, split {out['split_hash']}.",
        "",
        f"- items {out['n_items']}, render size {out['render_size']} px, catalogue {out['catalogue_size']} emojis, "
        f"{out['n_labels']} labels ({out['label_level']})",
        f"- labels per item: mean {lpi['mean']}, histogram {lpi['hist']}",
        f"- label frequency: min {lf['min']} ({lf['rarest']}), median {lf['median']}, max {lf['max']} ({lf['most_common']})",
        f"- random item pairs sharing a label: {out['relevant_pair_rate']:.1%}",
        f"- per query, share of the retrieval set that is relevant: mean {qr['mean']:.1%} (min {qr['min']:.1%}, "
        f"max {qr['max']:.1%}); queries with no relevant item: {qr['queries_without_relevant']}",
        f"- caption words: mean {out['caption_words']['mean']} (min {out['caption_words']['min']}, max "
        f"{out['caption_words']['max']}), vocabulary {out['caption_words']['vocabulary']}; tags per item {out['tags_per_item_mean']}",
        f"- objects called by their CLDR name in the caption (first 2000 items): {out['objects_named_in_caption_first_2000']:.1%}",
        "",
        f"![label frequencies]({plot_name}.png)",
        "",
    ])
