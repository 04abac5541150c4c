"""Fitting ``lite0-minilm`` heads on every legitimate pair (:mod:`.pair_sources`), not only split.fit.

Same heads, loss and selection as :mod:`.lite0_fit` (towers frozen; every head variant trained,
the (variant, epoch) with the highest validation mAP, or with ``select=val_mrr`` MRR, kept), but the fit pairs are the union of
the pair sources (by default the dataset's ``split.fit`` pairs, the other openclipart drawings and
the emoji glyphs outside the benchmark) and validation stays the dataset's ``split.val`` pairs,
which no source holds. A further near-duplicate filter runs on the frozen Lite0 features: a
non-``split.fit`` pair whose centred pooled features have cosine >= ``near_duplicate_cosine`` with
a ``split.query`` or ``split.val`` item is dropped (counted in ``fit_info["sources"]``).

Lite0 features of the sources are cached per source under ``$DISTILHASH_HOME/teachers/cache``
(``wide-<source>-<ids hash>-<weights>-s<size>[-r<drawn side>][-flip].npy``), MiniLM embeddings in the text
cache, so a refit with other head settings costs only the head training. Augmentation (``flip``,
``caption_views``) trains on views of the same pairs: the mirrored pictures' features and other captions
(the title alone; the title's content words and two-word phrases, :mod:`.short_views`); each step draws one
image view and one caption view per pair.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.teachers.lite0_fit import (SELECT_RULES, Lite0FitConfig, _epochs, labels_read, towers_record,
                                          train_and_select)
from distilhash.threads import fit_threads

__all__ = ["WideFitConfig", "WidePairs", "wide_pairs", "fit_lite0_wide", "DEFAULT_SOURCES"]

DEFAULT_SOURCES: tuple[str, ...] = ("openclipart-fit", "openclipart-extra", "emoji-fit")


@dataclass
class WideFitConfig(Lite0FitConfig):
    """:class:`~.lite0_fit.Lite0FitConfig` plus the pair sources and the near-duplicate threshold."""

    sources: list[str] = field(default_factory=lambda: list(DEFAULT_SOURCES))
    near_duplicate_cosine: float = 0.95
    #: side the sources' pictures are drawn at, then resized to ``image_size`` as the benchmark's items are
    #: (128: the openclipart dataset's stored side and the emoji databases' glyph side)
    render_size: int = 128
    #: augmentation: also the Lite0 features of each picture mirrored left-right (one of the two per pair and step)
    flip: bool = False
    #: augmentation: other caption views trained on beside each pair's caption (``"title"``; ``"short"``: the title's
    #: content words and two-word phrases, :mod:`.short_views`; one view per pair and step)
    caption_views: list[str] = field(default_factory=list)
    #: the sources whose pairs get ``"short"`` views (the others draw among their whole-caption views)
    short_view_sources: list[str] = field(default_factory=lambda: ["openclipart-fit"])

    def __post_init__(self) -> None:
        from distilhash.errors import ConfigError
        from distilhash.teachers.short_views import SHORT

        if SHORT not in self.caption_views:
            return
        # a misspelt source, or a comma string (whose substrings `in` would match), would silently train no short views
        if isinstance(self.short_view_sources, str) or not set(self.short_view_sources) <= set(self.sources):
            raise ConfigError(f"short_view_sources={self.short_view_sources!r}: expected a list of pair sources of this "
                              f"fit ({', '.join(self.sources)}), e.g. [\"openclipart-fit\"]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _source_features(pairs, size: int, cache: Path, backbone, batch: int, progress: bool, flip: bool = False) -> np.ndarray:
    """Lite0 pooled features ``[n, 1280]`` of ``pairs``' pictures resized to ``size`` (mirrored when ``flip``), cached."""
    from distilhash.io_utils import atomic_save_npy
    from distilhash.teachers.efficientnet_lite0 import encode_pooled, weights_fingerprint

    key = hashlib.sha256("\n".join(pairs.ids).encode()).hexdigest()[:16]
    drawn = pairs.images.shape[1]
    tail = ("" if drawn == size else f"-r{drawn}") + ("-flip" if flip else "")
    path = cache / f"wide-{pairs.name}-{key}-{weights_fingerprint()}-s{size}{tail}.npy"
    if path.is_file():
        return np.load(path)
    pixels = pairs.resized(size)
    if flip:
        pixels = np.ascontiguousarray(pixels[:, :, ::-1])
    u = encode_pooled(backbone, pixels, batch, progress=progress, desc=f"Lite0 {pairs.name}{' mirrored' if flip else ''}")
    cache.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(path, u.astype(np.float32))
    return u


def _near_duplicates(u: np.ndarray, ref: np.ndarray, mu: np.ndarray, threshold: float) -> np.ndarray:
    """bool ``[len(u)]``: max cosine of centred ``u`` rows with centred ``ref`` rows >= threshold."""
    a = u - mu
    b = ref - mu
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-9
    b /= np.linalg.norm(b, axis=1, keepdims=True) + 1e-9
    out = np.zeros(len(a), dtype=bool)
    for s in range(0, len(a), 1024):
        out[s:s + 1024] = (a[s:s + 1024] @ b.T).max(axis=1) >= threshold
    return out


@dataclass
class WidePairs:
    """The fit and val pairs of a wide fit, features computed (towers frozen).

    ``u_fit`` ``[k, n, 1280]`` Lite0 features of the n fit pictures (k image views: as drawn, mirrored);
    ``v_fit`` ``[m, n, 384]`` MiniLM embeddings of their m caption views; ``fit_texts`` the n captions
    (view ``text``); ``u_val`` / ``v_val`` / ``val_texts`` the dataset's ``split.val`` pairs; ``sources``
    one record per source with its counts; ``v_weights`` ``[m, n]`` the probability of each caption view per pair
    (None: uniform), set when short views are trained on (:func:`.short_views.view_table`).
    """

    u_fit: np.ndarray
    v_fit: np.ndarray
    fit_texts: list[str]
    u_val: np.ndarray
    v_val: np.ndarray
    val_texts: list[str]
    sources: list[dict[str, Any]]
    views: list[str]
    ds: Any
    split: Any
    text_encoder: Any
    v_weights: np.ndarray | None = None


def wide_pairs(dataset: str, config: WideFitConfig, progress: bool = True) -> WidePairs:
    """Load ``config.sources`` (cached), drop near-duplicates of held-out items, compute (cached) tower features."""
    from distilhash.data.store import open_prepared
    from distilhash.paths import teachers_dir
    from distilhash.teachers.efficientnet_lite0 import Lite0Backbone
    from distilhash.teachers.lite0_features import tower_features
    from distilhash.teachers.minilm_text import MiniLMTextEncoder, cached_encode
    from distilhash.teachers.pair_sources import load_pairs
    from distilhash.teachers.short_views import SHORT, short_views

    ds, split = open_prepared(dataset)
    cache = teachers_dir() / "cache"
    backbone = Lite0Backbone().frozen()
    text_encoder = MiniLMTextEncoder()
    sets = load_pairs(list(config.sources), cache=cache, key=f"{ds.content_hash()[:16]}-{split.hash}-s{config.render_size}",
                      dataset=dataset, size=config.render_size, progress=progress)
    val = np.asarray(split.val)
    held = np.union1d(np.asarray(split.query), val)
    u_val, _ = tower_features(ds, val, config.image_size, cache, backbone=backbone, progress=progress)
    u_held, _ = tower_features(ds, held, config.image_size, cache, backbone=backbone, progress=progress)
    val_texts = [ds.texts[i] for i in val]
    v_val = cached_encode(val_texts, text_encoder, cache, progress)
    us, vs, texts, sources, shorts = [], [], [], [], []
    views = ["text", *(v for v in config.caption_views if v != SHORT)]
    for p in sets:
        with_short = SHORT in config.caption_views and p.name in config.short_view_sources
        shorts.append([short_views(t) for t in p.caption_view("title")] if with_short else [[] for _ in range(len(p))])
        u = [_source_features(p, config.image_size, cache, backbone, config.tower_batch, progress, flip)
             for flip in ((False, True) if config.flip else (False,))]
        us.append(np.stack(u))
        vs.append(np.stack([cached_encode(p.caption_view(view), text_encoder, cache, progress) for view in views]))
        texts.append(np.asarray(p.texts, dtype=object))
        sources.append({"name": p.name, **p.meta})
    mu_all = np.concatenate([u[0] for u in us]).mean(0)  # the pictures as drawn (view 0), not the mirrored ones
    for i, p in enumerate(sets):
        if p.name == "openclipart-fit":
            continue
        dup = _near_duplicates(us[i][0], u_held, mu_all, config.near_duplicate_cosine)
        us[i], vs[i], texts[i] = us[i][:, ~dup], vs[i][:, ~dup], texts[i][~dup]
        shorts[i] = [x for x, d in zip(shorts[i], dup) if not d]
        sources[i]["near_duplicates_dropped"] = int(dup.sum())
        sources[i]["n_used"] = int((~dup).sum())
    for s, u, sh in zip(sources, us, shorts):
        s.setdefault("n_used", int(u.shape[1]))
        if SHORT in config.caption_views:
            s["short_views"] = {"pairs_with": int(sum(1 for x in sh if x)), "views": int(sum(len(x) for x in sh))}
    v_fit, weights = np.concatenate(vs, 1).astype(np.float32), None
    if SHORT in config.caption_views:
        v_fit, weights = _with_short_views(v_fit, [x for sh in shorts for x in sh], text_encoder, cache, progress)
        views = [*views, SHORT]
    return WidePairs(np.concatenate(us, 1).astype(np.float32), v_fit, [str(t) for t in np.concatenate(texts)], u_val, v_val,
                     val_texts, sources, views, ds, split, text_encoder, weights)


def _with_short_views(v_fit: np.ndarray, shorts: list[list[str]], text_encoder, cache: Path, progress: bool):
    """``v_fit`` ``[m, n, 384]`` + the n pairs' short views -> (``[m + K, n, 384]``, view weights ``[m + K, n]``)."""
    from distilhash.teachers.minilm_text import cached_encode
    from distilhash.teachers.short_views import view_table

    columns, weights = view_table(len(v_fit), shorts)
    unique = sorted({t for col in columns for t in col if t})
    emb = cached_encode(unique, text_encoder, cache, progress) if unique else np.zeros((0, v_fit.shape[-1]), np.float32)
    row = {t: k for k, t in enumerate(unique)}
    extra = np.zeros((len(columns), v_fit.shape[1], v_fit.shape[2]), dtype=np.float32)  # weight 0 where a pair has none
    for j, col in enumerate(columns):
        hit = [i for i, t in enumerate(col) if t]
        extra[j, hit] = emb[[row[col[i]] for i in hit]]
    return np.concatenate([v_fit, extra]), weights


def fit_lite0_wide(dataset: str, out_dir: str | Path, config: WideFitConfig | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Fit the heads on ``config.sources`` with ``dataset``'s ``split.val`` for selection; save under ``out_dir``."""
    import torch
    from tqdm.auto import tqdm

    from distilhash.errors import DataError
    from distilhash.teachers.lite0_minilm import save_lite0_teacher

    config = config or WideFitConfig()
    if config.select not in SELECT_RULES:
        raise DataError(f"select={config.select!r}: the wide fit selects on the dataset's split.val by one of "
                        f"{', '.join(SELECT_RULES)}")
    t_start = time.time()
    prev = torch.get_num_threads()
    threads = fit_threads(config.threads)
    torch.set_num_threads(threads)
    try:
        w = wide_pairs(dataset, config, progress)
        ds, split, sources, views = w.ds, w.split, w.sources, w.views
        val = np.asarray(split.val)
        u_fit, v_fit = w.u_fit, w.v_fit  # [views, n, d]
        n_fit = u_fit.shape[1]
        mu = u_fit[0].mean(0).astype(np.float32)
        sigma = (u_fit[0].std(0) + 1e-4).astype(np.float32)
        y_val = ds.labels[val] if config.select == "val_map" else None
        steps = max(1, n_fit // min(config.batch_size, n_fit))
        bar = tqdm(total=steps * _epochs(config, n_fit) * len(config.variants), desc="fit lite0-minilm wide heads",
                   unit="step", disable=not progress)
        t_train = time.time()
        heads, selection = train_and_select(config, u_fit, v_fit, w.u_val, w.v_val, y_val, mu, sigma, config.select, bar,
                                            w.v_weights)
        bar.close()
        names = " + ".join(s["name"] for s in sources)
        fit_info = {
            **selection,
            "dataset": {"name": names, "validation": f"{ds.name} split.val", "content_hash": ds.content_hash(),
                        "split_hash": split.hash},
            "sources": sources,
            "n_fit_pairs": int(n_fit), "n_val_pairs": int(len(val)),
            "epochs_per_variant": _epochs(config, n_fit),
            "augmentation": {"image_views": ["as drawn", *(["mirrored left-right"] if config.flip else [])],
                             "caption_views": views, "drawn_at": config.render_size, "image_size": config.image_size},
            "pairs_used": f"{names}; none is a {ds.name} split.query or split.val item, an item of their collections, "
                          f"or a near-duplicate of one (centred Lite0 cosine >= {config.near_duplicate_cosine}); "
                          f"{labels_read(config.select)}",
            **towers_record(config.image_size, w.text_encoder),
            "timing_s": {"train_heads": time.time() - t_train, "total": time.time() - t_start},
            "loadavg_end": list(os.getloadavg()),
            "threads": threads,
        }
        save_lite0_teacher(out_dir, heads, config.image_size, config.to_dict(), fit_info)
        return fit_info
    finally:
        torch.set_num_threads(prev)
