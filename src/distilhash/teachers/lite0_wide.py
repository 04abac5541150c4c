"""Fitting ``lite0-minilm`` heads on every legitimate pair (:mod:`.pair_sources`), not only split.fit.

Same heads, loss and selection as :mod:`.lite0_fit` (towers frozen; every head variant trained,
the (variant, epoch) with the highest validation mAP kept), but the fit pairs are the union of
the pair sources (by default the dataset's ``split.fit`` pairs, the other openclipart drawings and
the emoji glyphs outside the benchmark) and validation stays the dataset's ``split.val`` pairs,
which no source holds. A further near-duplicate filter runs on the frozen Lite0 features: a
non-``split.fit`` pair whose centred pooled features have cosine >= ``near_duplicate_cosine`` with
a ``split.query`` or ``split.val`` item is dropped (counted in ``fit_info["sources"]``).

Lite0 features of the sources are cached per source under ``$DISTILHASH_HOME/teachers/cache``
(``wide-<source>-<ids hash>-<weights>-s<size>.npy``), MiniLM embeddings in the text cache, so a refit
with other head settings costs only the head training.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.teachers.lite0_fit import Lite0FitConfig, _epochs, towers_record, train_and_select

__all__ = ["WideFitConfig", "fit_lite0_wide", "DEFAULT_SOURCES"]

DEFAULT_SOURCES: tuple[str, ...] = ("openclipart-fit", "openclipart-extra", "emoji-fit")


@dataclass
class WideFitConfig(Lite0FitConfig):
    """:class:`~.lite0_fit.Lite0FitConfig` plus the pair sources and the near-duplicate threshold."""

    sources: list[str] = field(default_factory=lambda: list(DEFAULT_SOURCES))
    near_duplicate_cosine: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _source_features(pairs, size: int, cache: Path, backbone, batch: int, progress: bool) -> np.ndarray:
    from distilhash.io_utils import atomic_save_npy
    from distilhash.teachers.efficientnet_lite0 import encode_pooled, weights_fingerprint

    key = hashlib.sha256("\n".join(pairs.ids).encode()).hexdigest()[:16]
    path = cache / f"wide-{pairs.name}-{key}-{weights_fingerprint()}-s{size}.npy"
    if path.is_file():
        return np.load(path)
    u = encode_pooled(backbone, pairs.images, batch, progress=progress, desc=f"Lite0 {pairs.name}")
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


def fit_lite0_wide(dataset: str, out_dir: str | Path, config: WideFitConfig | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Fit the heads on ``config.sources`` with ``dataset``'s ``split.val`` for selection; save under ``out_dir``."""
    import torch
    from tqdm.auto import tqdm

    from distilhash.data.store import open_prepared
    from distilhash.errors import DataError
    from distilhash.paths import teachers_dir
    from distilhash.teachers.efficientnet_lite0 import Lite0Backbone
    from distilhash.teachers.lite0_features import tower_features
    from distilhash.teachers.lite0_minilm import save_lite0_teacher
    from distilhash.teachers.minilm_text import MiniLMTextEncoder, cached_encode
    from distilhash.teachers.pair_sources import load_pairs

    config = config or WideFitConfig()
    if config.select != "val_map":
        raise DataError("the wide fit selects by val_map on the dataset's split.val (labels read there only)")
    t_start = time.time()
    prev = torch.get_num_threads()
    torch.set_num_threads(max(1, config.threads))
    try:
        ds, split = open_prepared(dataset)
        cache = teachers_dir() / "cache"
        backbone = Lite0Backbone().frozen()
        text_encoder = MiniLMTextEncoder()
        sets = load_pairs(list(config.sources), dataset=dataset, size=config.image_size, progress=progress)
        val = np.asarray(split.val)
        held = np.union1d(np.asarray(split.query), val)
        u_val, _ = tower_features(ds, val, config.image_size, cache, backbone=backbone, progress=progress)
        u_held, _ = tower_features(ds, held, config.image_size, cache, backbone=backbone, progress=progress)
        v_val = cached_encode([ds.texts[i] for i in val], text_encoder, cache, progress)
        us, vs, sources = [], [], []
        for p in sets:
            u = _source_features(p, config.image_size, cache, backbone, config.tower_batch, progress)
            v = cached_encode(list(p.texts), text_encoder, cache, progress)
            us.append(u)
            vs.append(v)
            sources.append({"name": p.name, **p.meta})
        mu_all = np.concatenate(us).mean(0)
        for i, p in enumerate(sets):
            if p.name == "openclipart-fit":
                continue
            dup = _near_duplicates(us[i], u_held, mu_all, config.near_duplicate_cosine)
            us[i], vs[i] = us[i][~dup], vs[i][~dup]
            sources[i]["near_duplicates_dropped"] = int(dup.sum())
            sources[i]["n_used"] = int((~dup).sum())
        for s, u in zip(sources, us):
            s.setdefault("n_used", int(len(u)))
        u_fit, v_fit = np.concatenate(us).astype(np.float32), np.concatenate(vs).astype(np.float32)
        mu = u_fit.mean(0).astype(np.float32)
        sigma = (u_fit.std(0) + 1e-4).astype(np.float32)
        y_val = ds.labels[val]
        steps = max(1, len(u_fit) // min(config.batch_size, len(u_fit)))
        bar = tqdm(total=steps * _epochs(config, len(u_fit)) * len(config.variants), desc="fit lite0-minilm wide heads",
                   unit="step", disable=not progress)
        t_train = time.time()
        heads, selection = train_and_select(config, u_fit, v_fit, u_val, v_val, y_val, mu, sigma, "val_map", bar)
        bar.close()
        names = " + ".join(s["name"] for s in sources)
        fit_info = {
            **selection,
            "dataset": {"name": names, "validation": f"{ds.name} split.val", "content_hash": ds.content_hash(),
                        "split_hash": split.hash},
            "sources": sources,
            "n_fit_pairs": int(len(u_fit)), "n_val_pairs": int(len(val)),
            "epochs_per_variant": _epochs(config, len(u_fit)),
            "pairs_used": f"{names}; never a {ds.name} split.query or split.val item, an item of their collections, or "
                          f"a near-duplicate of one (centred Lite0 cosine >= {config.near_duplicate_cosine}); labels only "
                          "of val items and only for val_map selection",
            **towers_record(config.image_size, text_encoder),
            "timing_s": {"train_heads": time.time() - t_train, "total": time.time() - t_start},
            "loadavg_end": list(os.getloadavg()),
            "threads": config.threads,
        }
        save_lite0_teacher(out_dir, heads, config.image_size, config.to_dict(), fit_info)
        return fit_info
    finally:
        torch.set_num_threads(prev)
