"""Image-caption pair sources a teacher may be fitted on, each a documented dataset with counts.

A source is registered by name in :data:`PAIR_SOURCES` and returns a :class:`PairSet`: uint8
images ``[n, S, S, 3]``, one caption per image, and ``meta`` saying what was read and what was
filtered, with counts. None of them holds a benchmark query item or a near-duplicate of one:

* ``openclipart-fit``: the prepared openclipart dataset's ``split.fit`` pairs (train minus val),
  caption = the dataset text (title + tags) -- what the first teacher was fitted on;
* ``openclipart-extra``: every other drawing of the Debian packages that survives the file-level
  filters (identical SVG, unrenderable, blank, identical pixels), *including* those the
  dataset dropped for the collection cap or for having no label (the teacher reads no label),
  except: items of ``split.query`` and ``split.val``, every drawing of a collection (normalised
  title, :func:`~distilhash.data.openclipart_labels.collection_key`) holding a query or val item,
  drawings whose caption is empty, and (later, in the fit) drawings whose frozen Lite0 features are
  within cosine ``near_duplicate_cosine`` of a query or val item's; caption = title + tags;
* ``emoji-fit``: Noto Color Emoji glyphs of the subgroups *not* held out for the
  open-vocabulary benchmark (:func:`~distilhash.data.emoji_glyphs.emoji_held_out`),
  caption = CLDR name + keywords;
* ``openmoji``: OpenMoji's flat coloured SVG emoji and extras (npm ``openmoji``, pinned and verified), drawn like the
  openclipart drawings, minus the benchmark's held-out emoji subgroups, their sequences and names, skin tones, flags,
  logos and interface icons (:mod:`distilhash.data.openmoji`); caption = annotation. keywords. Not in the default
  sources: a fit names it (``--set 'sources=[..., "openmoji"]'``);
* ``mdi``: Material Design Icons (npm ``@mdi/svg``, pinned and verified), monochrome, kept only when named by a thing:
  no variants, no interface, text, symbol, brand or emoji category, no held-out emoji's name as its name or alias
  (:mod:`distilhash.data.mdi_icons`); caption = name. aliases. Not in the default sources either.

Debian icon themes were looked at: only Adwaita (symbolic, monochrome) and hicolor (application
logos) are installed, whose freedesktop names describe actions or programs, not pictures; none is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distilhash.errors import DataError
from distilhash.registry import Registry

__all__ = ["PairSet", "PAIR_SOURCES", "load_pairs", "held_out_rows"]

PAIR_SOURCES: Registry = Registry("pair source")


@dataclass
class PairSet:
    """``images`` uint8 ``[n, S, S, 3]`` with one caption each; ``ids`` unique; ``meta`` counts and filters.

    ``views``: other captions of the same pictures by name (``"title"``: the title alone), for augmentation;
    ``resample``: the PIL filter that resizes these pictures to another side the way the benchmark's items of
    the same kind are resized (``"bilinear"`` for dataset drawings, ``"bicubic"`` for emoji glyphs).
    """

    name: str
    ids: list[str]
    texts: list[str]
    images: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    views: dict[str, list[str]] = field(default_factory=dict)
    resample: str = "bilinear"

    def resized(self, size: int) -> np.ndarray:
        """The pictures at ``size`` x ``size`` (uint8 ``[n, size, size, 3]``, resized with :attr:`resample`)."""
        from PIL import Image

        if self.images.shape[1] == size:
            return self.images
        f = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[self.resample]
        return np.stack([np.asarray(Image.fromarray(im).resize((size, size), f), dtype=np.uint8) for im in self.images])

    def caption_view(self, view: str) -> list[str]:
        """The captions of view ``view`` (``"text"``: the pair's own caption); an unknown view names the known ones."""
        if view == "text":
            return list(self.texts)
        if view not in self.views:
            raise DataError(f"pair source {self.name!r} has no caption view {view!r}; it has: text, {', '.join(self.views)}")
        return list(self.views[view])

    def __len__(self) -> int:
        return len(self.ids)


def held_out_rows(split) -> np.ndarray:
    """Rows no teacher may fit on: ``split.query`` and ``split.val`` (the latter selects)."""
    return np.union1d(np.asarray(split.query), np.asarray(split.val))


@PAIR_SOURCES.register("openclipart-fit")
def _openclipart_fit(dataset: str = "openclipart", size: int = 128, **_: Any) -> PairSet:
    from distilhash.data.store import open_prepared

    ds, split = open_prepared(dataset)
    rows = np.asarray(split.fit)
    titles = ds.display_texts or ds.texts
    return PairSet("openclipart-fit", [ds.ids[i] for i in rows], [ds.texts[i] for i in rows], ds.images.array(rows, size),
                   {"what": f"{dataset} split.fit (train minus val), caption = the dataset text", "n": int(len(rows)),
                    "split_hash": split.hash}, views={"title": [titles[i] for i in rows]})


@PAIR_SOURCES.register("openclipart-extra")
def _openclipart_extra(dataset: str = "openclipart", size: int = 128, progress: bool = True, **_: Any) -> PairSet:
    from distilhash.data.openclipart import OpenClipartConfig, scan_drawings
    from distilhash.data.openclipart_labels import STOP_TAGS, TEXT_VARIANTS, collection_key, normalise_tag
    from distilhash.data.store import open_prepared

    ds, split = open_prepared(dataset)
    cfg = OpenClipartConfig(**{k: v for k, v in ds.meta.get("config", {}).items()
                               if k in ("root", "size", "blank_std", "max_png_pixels")})
    cfg.size = size
    drawings = scan_drawings(cfg, progress=progress)
    prefix = ds.meta.get("config", {}).get("id_prefix", "oc")
    in_dataset = set(ds.ids)
    held = held_out_rows(split)
    held_ids = {ds.ids[i] for i in held}
    by_id = {f"{prefix}-{rel}": k for k, rel in enumerate(drawings.rels)}
    missing = sorted(held_ids - by_id.keys())
    if missing:
        raise DataError(f"openclipart-extra: {len(missing)} held-out items (e.g. {missing[0]}) not found among the scanned "
                        "drawings; the dataset was prepared from another package build")
    held_keys = {collection_key(drawings.metas[by_id[i]].title) for i in held_ids} - {""}
    fit_ids = {ds.ids[i] for i in np.asarray(split.fit)}
    counts = {"scanned_files": drawings.n_files, "after_file_filters": len(drawings.rels),
              "file_filters": {r: sum(1 for f in drawings.filtered if f["reason"] == r)
                               for r in sorted({f["reason"] for f in drawings.filtered})},
              "held_out_items": 0, "in_held_out_collection": 0, "already_in_openclipart_fit": 0, "empty_caption": 0,
              "kept_in_dataset_not_fit": 0, "kept_dropped_by_dataset": 0}
    keep, texts, titles = [], [], []
    for k, rel in enumerate(drawings.rels):
        item_id, meta = f"{prefix}-{rel}", drawings.metas[k]
        if item_id in held_ids:
            counts["held_out_items"] += 1
            continue
        if collection_key(meta.title) in held_keys:
            counts["in_held_out_collection"] += 1
            continue
        if item_id in fit_ids:
            counts["already_in_openclipart_fit"] += 1
            continue
        tags = list(dict.fromkeys(t for t in (normalise_tag(s) for s in meta.subjects) if t and t not in STOP_TAGS))
        text = TEXT_VARIANTS["title+tags"](meta.title, meta.description, tags)
        if not text.strip():
            counts["empty_caption"] += 1
            continue
        counts["kept_in_dataset_not_fit" if item_id in in_dataset else "kept_dropped_by_dataset"] += 1
        keep.append(k)
        texts.append(text)
        titles.append(meta.title.strip() or text)
    return PairSet("openclipart-extra", [f"{prefix}-{drawings.rels[k]}" for k in keep], texts, drawings.pixels[keep],
                   {"what": "openclipart drawings outside split.query/split.val and their collections, caption = title + tags",
                    "n": len(keep), "counts": counts, "held_out_collections": len(held_keys)}, views={"title": titles})


@PAIR_SOURCES.register("emoji-fit")
def _emoji_fit(size: int = 128, **_: Any) -> PairSet:
    from distilhash.data.emoji_glyphs import emoji_glyphs

    g = emoji_glyphs(held_out=False, size=size)
    texts = [f"{t}. {', '.join(k for k in kws if k != t)}".rstrip(". ,") for t, kws in zip(g.titles, g.meta["keywords"])]
    return PairSet("emoji-fit", g.ids, texts, g.images,
                   {"what": "Noto Color Emoji glyphs of the subgroups not held out for the open-vocabulary benchmark, "
                            "caption = CLDR name. keywords", "n": len(g), "subgroups": g.meta["subgroups"],
                    "catalog_filtered": g.meta["catalog_filtered"], "render_rejected": g.meta["render_rejected"]},
                   views={"title": list(g.titles)}, resample="bicubic")


def _package_pairs(g, what: str) -> PairSet:
    """Pictures of a pinned package (``g``: TitledImages whose meta holds captions, counts, package, licence) as pairs."""
    return PairSet(g.name, g.ids, g.meta["captions"], g.images,
                   {"what": f"{what} ({g.meta['package']}, {g.meta['licence']})", "n": len(g), "counts": g.meta["counts"],
                    "package": g.meta["package"], "integrity": g.meta["integrity"]}, views={"title": list(g.titles)})


@PAIR_SOURCES.register("openmoji")
def _openmoji(size: int = 128, progress: bool = True, **_: Any) -> PairSet:
    from distilhash.data.openmoji import openmoji_glyphs

    return _package_pairs(openmoji_glyphs(size=size, progress=progress),
                          "OpenMoji glyphs outside the open-vocabulary benchmark's held-out emoji subgroups, sequences and "
                          "names; no skin tones, flags, logos or interface icons; caption = annotation. keywords")


@PAIR_SOURCES.register("mdi")
def _mdi(size: int = 128, progress: bool = True, **_: Any) -> PairSet:
    from distilhash.data.mdi_icons import mdi_icons

    return _package_pairs(mdi_icons(size=size, progress=progress),
                          "Material Design Icons named by a thing: no variants, no interface, text, symbol, brand or "
                          "emoji category, no held-out emoji's name as its name or alias; caption = name. aliases")


#: sources whose filter rules changed after their pairs could have been cached: the version goes into the cache's file
#: name, so a home's older set is rebuilt rather than read (2: ``mdi`` leaves out an alias naming a held-out emoji)
RULE_VERSIONS: dict[str, int] = {"mdi": 2}


def _cached_pairs(name: str, cache, key: str, options: dict[str, Any]) -> PairSet:
    """:data:`PAIR_SOURCES` ``name`` built once and kept as ``pairs-<name>[-v<rules>]-<key>.{npy,json}`` under
    ``cache`` (``-v<rules>``: :data:`RULE_VERSIONS`)."""
    import json

    from distilhash.io_utils import atomic_save_npy, atomic_write_json

    version = f"-v{RULE_VERSIONS[name]}" if name in RULE_VERSIONS else ""
    stem = cache / f"pairs-{name}{version}-{key}"
    if stem.with_suffix(".json").is_file() and stem.with_suffix(".npy").is_file():
        rec = json.loads(stem.with_suffix(".json").read_text())
        return PairSet(name, rec["ids"], rec["texts"], np.load(stem.with_suffix(".npy")), rec["meta"], rec["views"],
                       rec["resample"])
    p = PAIR_SOURCES.create(name, **options)
    cache.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(stem.with_suffix(".npy"), p.images)
    atomic_write_json(stem.with_suffix(".json"), {"ids": p.ids, "texts": p.texts, "meta": p.meta, "views": p.views,
                                                  "resample": p.resample})
    return p


def load_pairs(names: list[str], cache=None, key: str = "", **options: Any) -> list[PairSet]:
    """The pair sets ``names`` (unknown names are answered with the valid ones).

    With a ``cache`` directory and a ``key`` naming everything the sets depend on (dataset content and split
    hashes, picture side), each set is built once (scanning 8,000 SVG files takes minutes) and re-read after.
    """
    if cache is None:
        return [PAIR_SOURCES.create(n, **options) for n in names]
    from pathlib import Path

    for n in names:
        PAIR_SOURCES.get(n)  # an unknown name fails here, before any cache file is read
    return [_cached_pairs(n, Path(cache), key, options) for n in names]
