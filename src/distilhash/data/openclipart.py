"""Source ``openclipart``: the public-domain drawings of Debian's openclipart packages.

``openclipart-svg`` and ``openclipart-png`` install the same 8,121 drawings under
``/usr/share/openclipart/{svg,png}/CATEGORY[/SUBFOLDER]/NAME.{svg,png}``. An item is one drawing:

* **text** from the SVG's RDF metadata (:mod:`distilhash.data.svg_meta`): ``title+tags``
  (default) or ``title+description`` (see :data:`~distilhash.data.openclipart_labels.TEXT_VARIANTS`);
* **pixels** from the pre-rendered PNG on white, or the SVG rendered by cairosvg where the PNG is
  missing, broken or huge (:mod:`distilhash.data.openclipart_render`), ``size`` x ``size`` RGB;
* **display caption** (what people read, not what the models learn from): the title cleaned of
  collection names, credits, file-name-like and hash-like titles (:mod:`distilhash.data.captions`);
* **labels**, multi-label: the category folder and the frequent keyword tags
  (:data:`~distilhash.data.openclipart_labels.LABEL_SOURCES`).

Filters, applied in this order, each recorded per file in ``meta["filtered_items"]`` (saved as
``filtered.jsonl`` too) and counted in ``meta["filter_counts"]``:

1. ``duplicate-svg`` — byte-identical SVG of a file earlier in path order;
2. ``unrenderable`` — neither the PNG nor the SVG gives an image;
3. ``blank`` — near-uniform image (grey-level std < ``blank_std``);
4. ``duplicate-pixels`` — the same rendered pixels as an earlier file;
5. ``collection-cap`` — beyond ``collection_cap`` items of one collection key (normalised title),
   the kept ones drawn with ``seed``;
6. ``no-label`` — no label left once rare labels are dropped;
7. ``empty-text`` — the chosen text variant is empty.

Files whose metadata cannot be read are listed in ``meta["metadata_unreadable"]`` (they keep an
empty title and no tags, so usually end in ``no-label``/``empty-text`` unless the folder labels them).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.data.captions import display_captions
from distilhash.data.dataset import CrossModalDataset
from distilhash.data.images import ArrayImageStore
from distilhash.data.openclipart_labels import (
    LABEL_SOURCES,
    STOP_TAGS,
    TEXT_VARIANTS,
    collection_key,
    label_matrix,
    normalise_tag,
    plural_map,
)
from distilhash.data.openclipart_render import is_blank, render_drawing
from distilhash.data.sources import SOURCES
from distilhash.data.svg_meta import SvgMeta, parse_svg_meta
from distilhash.errors import ConfigError, DataError

__all__ = ["OpenClipartConfig", "Drawings", "scan_drawings", "assemble_openclipart", "build_openclipart", "FILTER_REASONS", "DEFAULT_ROOT"]

DEFAULT_ROOT = "/usr/share/openclipart"

#: Filter reasons in the order they are applied.
FILTER_REASONS: tuple[str, ...] = (
    "duplicate-svg", "unrenderable", "blank", "duplicate-pixels", "collection-cap", "no-label", "empty-text",
)


@dataclass
class OpenClipartConfig:
    """Everything that decides an openclipart dataset (same config + same package -> same bytes).

    Attributes:
        root: the folder holding ``svg/`` and ``png/`` (Debian: ``/usr/share/openclipart``).
        name: dataset name.
        size: side of the square RGB image (pixels); 128 keeps 3,861 items at 190 MB and is the
            size the EfficientNet-Lite0 image tower is run at on CPU.
        seed: seed of the collection cap's choice.
        collection_cap: at most this many items per collection key (0 = no cap).
        labels: ``+``-joined label sources among ``folder1``, ``folder2``, ``tags``.
        min_label_items: a label (folder or tag) is kept when at least this many items carry it.
        text: text variant, ``title+tags`` or ``title+description``.
        ignore_folders: top-level folders that give no folder label (``unsorted`` says nothing).
        blank_std: images whose grey-level std is below this are blank.
        max_png_pixels: larger PNGs are passed over for their SVG (decoding them takes seconds).
        id_prefix: item ids are ``f"{id_prefix}-{relative path without suffix}"``.
    """

    root: str = DEFAULT_ROOT
    name: str = "openclipart"
    size: int = 128
    seed: int = 0
    collection_cap: int = 50
    labels: str = "folder2+tags"
    min_label_items: int = 20
    text: str = "title+tags"
    ignore_folders: tuple[str, ...] = ("unsorted",)
    blank_std: float = 2.0
    max_png_pixels: int = 4_000_000
    id_prefix: str = "oc"

    def __post_init__(self) -> None:
        if isinstance(self.ignore_folders, str):
            self.ignore_folders = tuple(f.strip() for f in self.ignore_folders.split(",") if f.strip())
        self.ignore_folders = tuple(self.ignore_folders)
        self.root = str(self.root)
        bad = [s for s in self.label_sources if s not in LABEL_SOURCES]
        if bad or not self.label_sources:
            raise ConfigError(f"openclipart labels={self.labels!r}; expected '+'-joined names among {', '.join(LABEL_SOURCES)}")
        if self.text not in TEXT_VARIANTS:
            raise ConfigError(f"openclipart text={self.text!r}; valid: {', '.join(TEXT_VARIANTS)}")
        if self.size < 16:
            raise ConfigError(f"openclipart size={self.size}; expected >= 16 pixels")
        if self.collection_cap < 0 or self.min_label_items < 1:
            raise ConfigError("openclipart: collection_cap must be >= 0 and min_label_items >= 1")

    @property
    def label_sources(self) -> list[str]:
        return [s.strip() for s in self.labels.split("+") if s.strip()]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ignore_folders"] = list(self.ignore_folders)
        return d


def _drawing_paths(root: Path) -> list[str]:
    """Relative paths (POSIX, without ``.svg``) of every SVG under ``root/svg``, sorted."""
    svg_root = root / "svg"
    if not svg_root.is_dir():
        raise DataError(
            f"openclipart: {svg_root} is not a folder; install the Debian packages openclipart-svg and "
            f"openclipart-png (scripts/setup.sh does) or pass root=DIR holding svg/ and png/"
        )
    paths = sorted(p.relative_to(svg_root).with_suffix("").as_posix() for p in svg_root.rglob("*.svg"))
    if not paths:
        raise DataError(f"openclipart: no .svg files under {svg_root}")
    return paths


class _Filtered:
    """The per-file filter record: ``{"file", "reason", "detail"}`` in application order."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, rel: str, reason: str, detail: str = "") -> None:
        self.items.append({"file": rel, "reason": reason, "detail": detail})

    def counts(self) -> dict[str, int]:
        c = Counter(r["reason"] for r in self.items)
        return {r: c.get(r, 0) for r in FILTER_REASONS}


def _cap(keys: list[str], cap: int, seed: int) -> set[int]:
    """Positions to drop so that no non-empty key keeps more than ``cap`` (seeded choice)."""
    if cap <= 0:
        return set()
    groups: dict[str, list[int]] = defaultdict(list)
    for pos, key in enumerate(keys):
        if key:
            groups[key].append(pos)
    drop: set[int] = set()
    for key in sorted(groups):
        members = groups[key]
        if len(members) > cap:
            h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")
            keep = set(np.random.default_rng([seed, h]).choice(members, size=cap, replace=False).tolist())
            drop.update(m for m in members if m not in keep)
    return drop


@dataclass
class Drawings:
    """The drawings left after the file-level filters 1-4 (the slow part: reading and rendering).

    Attributes:
        rels: relative paths (without suffix) of the kept drawings, in path order.
        metas: their metadata.
        pixels: uint8 ``[len(rels), size, size, 3]``.
        n_files: SVG files found.
        filtered: per-file records of filters 1-4 (``{"file", "reason", "detail"}``).
        rendered_from_svg: ``{"file", "why"}`` of kept drawings whose PNG was passed over.
        metadata_unreadable: ``{"file", "error"}`` of kept drawings without readable metadata.
        render_options: the config fields this stage depends on (checked by :func:`assemble_openclipart`).
        seconds: wall time of the stage.
    """

    rels: list[str]
    metas: list[SvgMeta]
    pixels: np.ndarray
    n_files: int
    filtered: list[dict[str, str]]
    rendered_from_svg: list[dict[str, str]]
    metadata_unreadable: list[dict[str, str]]
    render_options: dict[str, Any]
    seconds: float


#: Config fields that decide :class:`Drawings`; the others only decide the assembly.
RENDER_OPTIONS: tuple[str, ...] = ("root", "size", "blank_std", "max_png_pixels")


def scan_drawings(config: OpenClipartConfig, progress: bool = True) -> Drawings:
    """Filters 1-4: read every SVG, drop byte duplicates, render (PNG or SVG), drop unrenderable,
    blank and pixel-duplicate drawings — the first file in path order is the one kept."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    root = Path(config.root)
    paths = _drawing_paths(root)
    filtered = _Filtered()
    unreadable_meta: list[dict[str, str]] = []
    via_svg: list[dict[str, str]] = []
    seen_svg: dict[str, str] = {}
    seen_px: dict[str, str] = {}
    kept: list[str] = []
    metas: list[SvgMeta] = []
    pixels = np.zeros((len(paths), config.size, config.size, 3), dtype=np.uint8)
    for rel in tqdm(paths, desc="openclipart drawings", unit="file", disable=not progress):
        svg = root / "svg" / f"{rel}.svg"
        data = svg.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen_svg:
            filtered.add(rel, "duplicate-svg", f"same SVG bytes as {seen_svg[digest]}")
            continue
        seen_svg[digest] = rel
        try:
            rendered = render_drawing(svg, root / "png" / f"{rel}.png", config.size, config.max_png_pixels)
        except DataError as exc:
            filtered.add(rel, "unrenderable", str(exc))
            continue
        if is_blank(rendered.pixels, config.blank_std):
            filtered.add(rel, "blank", f"grey-level std below {config.blank_std} (via {rendered.via})")
            continue
        px_digest = hashlib.sha256(rendered.pixels.tobytes()).hexdigest()
        if px_digest in seen_px:
            filtered.add(rel, "duplicate-pixels", f"same {config.size} px image as {seen_px[px_digest]}")
            continue
        seen_px[px_digest] = rel
        if rendered.via == "svg":
            via_svg.append({"file": rel, "why": rendered.png_problem})
        meta = parse_svg_meta(data)
        if not meta.found:
            unreadable_meta.append({"file": rel, "error": meta.error})
        pixels[len(kept)] = rendered.pixels
        metas.append(meta)
        kept.append(rel)
    return Drawings(
        rels=kept, metas=metas, pixels=pixels[: len(kept)], n_files=len(paths), filtered=filtered.items,
        rendered_from_svg=via_svg, metadata_unreadable=unreadable_meta,
        render_options={k: getattr(config, k) for k in RENDER_OPTIONS}, seconds=time.perf_counter() - t0,
    )


def assemble_openclipart(drawings: Drawings, config: OpenClipartConfig) -> CrossModalDataset:
    """Filters 5-7, tags, labels and texts on top of :func:`scan_drawings` (fast: no file is read).

    Raises:
        ConfigError: when ``drawings`` were scanned with other render options than ``config``.
    """
    t0 = time.perf_counter()
    mismatch = {k: (v, getattr(config, k)) for k, v in drawings.render_options.items() if getattr(config, k) != v}
    if mismatch:
        raise ConfigError(f"openclipart: drawings were scanned with other options (scanned, asked): {mismatch}")
    filtered = _Filtered()
    filtered.items = list(drawings.filtered)
    kept, metas = drawings.rels, drawings.metas

    # 5. collection cap
    keys = [collection_key(m.title) for m in metas]
    drop = _cap(keys, config.collection_cap, config.seed)
    survivors = []
    for pos, rel in enumerate(kept):
        if pos in drop:
            filtered.add(rel, "collection-cap", f"collection {keys[pos]!r} (cap {config.collection_cap})")
        else:
            survivors.append(pos)

    # tags: normalised, stop tags removed, plurals merged into singulars seen among the survivors
    raw_tags = {p: [normalise_tag(s) for s in metas[p].subjects] for p in survivors}
    vocab = sorted({t for ts in raw_tags.values() for t in ts if t and t not in STOP_TAGS})
    singular = plural_map(vocab)
    tags = {p: list(dict.fromkeys(singular.get(t, t) for t in ts if t and t not in STOP_TAGS)) for p, ts in raw_tags.items()}

    # 6. labels, 7. texts
    def folder(rel: str) -> tuple[str, ...]:
        parts = tuple(rel.split("/")[:-1])
        return () if not parts or parts[0] in config.ignore_folders else parts

    sources = [LABEL_SOURCES[s] for s in config.label_sources]
    candidates = [[lab for src in sources for lab in src(folder(kept[p]), tags[p])] for p in survivors]
    y, label_names, rare = label_matrix(candidates, config.min_label_items)
    text_of = TEXT_VARIANTS[config.text]
    texts = {p: text_of(metas[p].title, metas[p].description, tags[p]) for p in survivors}
    # display captions: the text people read, cleaned of collection names and file names (data/captions.py);
    # the training text above is unchanged
    display, display_summary = display_captions(
        [metas[p].title for p in survivors], [metas[p].description for p in survivors], [tags[p] for p in survivors],
        [kept[p].rsplit("/", 1)[-1] for p in survivors], ["/".join(folder(kept[p])) for p in survivors])
    display_of = dict(zip(survivors, display))
    final: list[int] = []
    for row, p in enumerate(survivors):
        if not y[row].any():
            filtered.add(kept[p], "no-label", f"no {config.labels} label with >= {config.min_label_items} items")
        elif not texts[p].strip():
            filtered.add(kept[p], "empty-text", f"{config.text} is empty")
        else:
            final.append(row)

    rows = [survivors[r] for r in final]
    counts = filtered.counts()
    steps, left = [], drawings.n_files
    for reason in FILTER_REASONS:
        left -= counts[reason]
        steps.append(f"{reason}: {counts[reason]} dropped, {left} left")
    meta: dict[str, Any] = {
        "source": "openclipart",
        "config": config.to_dict(),
        "n_files": drawings.n_files,
        "filter_counts": counts,
        "filters": [f"openclipart: {drawings.n_files} SVG files under {config.root}/svg"] + steps
        + [f"rendered from the SVG (PNG missing/broken/huge): {len(drawings.rendered_from_svg)}",
           f"metadata unreadable: {len(drawings.metadata_unreadable)}",
           f"labels: {len(label_names)} ({config.labels}, >= {config.min_label_items} items each; {len(rare)} rarer dropped)"],
        "filtered_items": filtered.items,
        "rendered_from_svg": drawings.rendered_from_svg,
        "metadata_unreadable": drawings.metadata_unreadable,
        "metadata_regex_fallback": [kept[p] for p in rows if metas[p].parser == "regex"],
        "plural_merges": dict(sorted(singular.items())),
        "label_sources": config.label_sources,
        "text_variant": config.text,
        "display_captions": display_summary,
        "prepare_seconds": {"scan_and_render": round(drawings.seconds, 1),
                            "assemble": round(time.perf_counter() - t0, 1)},
    }
    return CrossModalDataset(
        name=config.name,
        ids=[f"{config.id_prefix}-{kept[p]}" for p in rows],
        texts=[texts[p] for p in rows],
        labels=y[final],
        label_names=label_names,
        images=ArrayImageStore(drawings.pixels[rows]),
        tags=[tags[p] for p in rows],
        meta=meta,
        display_texts=[display_of[p] for p in rows],
    )


def build_openclipart(config: OpenClipartConfig, progress: bool = True) -> CrossModalDataset:
    """Read, render, filter and label the drawings under ``config.root`` (see the module docstring)."""
    return assemble_openclipart(scan_drawings(config, progress=progress), config)


@SOURCES.register("openclipart")
def openclipart(progress: bool = True, path: Any = None, **options: Any) -> CrossModalDataset:
    """The openclipart drawings; ``options`` are :class:`OpenClipartConfig` fields
    (``path``, from ``data prepare --path``, is the same as ``root``)."""
    from distilhash.config_dataclass import build_config

    if path is not None:
        options["root"] = str(path)
    return build_openclipart(build_config(OpenClipartConfig, options, "openclipart"), progress=progress)
