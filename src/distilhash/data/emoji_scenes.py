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

Example:
    >>> from distilhash.data.emoji_scenes import EmojiScenesConfig, generate
    >>> ds = generate(EmojiScenesConfig(n_items=8), progress=False)   # doctest: +SKIP
    >>> ds.images.pixels.shape, ds.num_labels                          # doctest: +SKIP
    ((8, 64, 64, 3), 96)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from distilhash.data.dataset import CrossModalDataset
from distilhash.data.emoji_assets import Emoji, EmojiCatalog, asset_path, load_catalog, render_glyphs
from distilhash.data.images import ArrayImageStore
from distilhash.data.sources import SOURCES
from distilhash.errors import ConfigError
from distilhash.io_utils import sha256_file

__all__ = [
    "EmojiScenesConfig",
    "Scene",
    "SceneObject",
    "EmojiScenesGenerator",
    "generate",
    "LABEL_LEVELS",
    "STREAMS",
    "COLOURS",
    "TEMPLATES",
]

#: Random streams: the benchmark and the pretraining corpus never share a generator state.
STREAMS: dict[str, int] = {"benchmark": 0x45530, "pretrain": 0x45050}

#: How an emoji maps to its label.
LABEL_LEVELS: dict[str, Callable[[Emoji], str]] = {
    "subgroup": lambda e: e.subgroup,
    "group": lambda e: e.group,
}

#: Named background colours (RGB); the name may appear in the caption.
COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "grey": (150, 150, 150),
    "black": (25, 25, 25),
    "red": (200, 40, 40),
    "orange": (240, 140, 30),
    "yellow": (240, 220, 60),
    "green": (60, 160, 70),
    "teal": (40, 150, 150),
    "blue": (50, 90, 200),
    "purple": (130, 60, 170),
    "pink": (240, 150, 190),
    "brown": (120, 80, 40),
    "beige": (225, 205, 165),
}

#: Caption templates: ``{objects}`` is the object list, ``{background}`` the colour phrase.
TEMPLATES: tuple[str, ...] = (
    "{objects}{background}",
    "a picture of {objects}{background}",
    "an image with {objects}{background}",
    "emoji scene: {objects}{background}",
    "{objects} together{background}",
    "a drawing showing {objects}{background}",
    "look: {objects}{background}",
    "sticker collage of {objects}{background}",
)


@dataclass
class EmojiScenesConfig:
    """Everything that decides an EmojiScenes dataset (same config -> same bytes).

    Attributes:
        n_items: number of scenes.
        seed: generator seed (combined with ``stream`` and the item index).
        stream: ``"benchmark"`` or ``"pretrain"`` (see :data:`STREAMS`).
        name: dataset name (default: ``emoji-scenes`` / ``emoji-pretrain`` by stream).
        id_prefix: item ids are ``f"{id_prefix}-{i:06d}"``.
        render_size: side of the square RGB image in pixels.
        min_objects, max_objects: emojis per scene, drawn uniformly in this range.
        min_scale, max_scale: emoji box side as a fraction of ``render_size``.
        size_levels: box sides are drawn uniformly from this many log-spaced pixel sizes between
            ``min_scale`` and ``max_scale`` (fewer distinct sizes = fewer sprite resizes).
        max_overlap: largest accepted share of the smaller box covered by another object
            (placement is retried ``placement_tries`` times, the least-overlapping try is kept).
        subgroup_power: a scene object picks subgroup s with probability ∝ n_s ** power
            (n_s = emojis in s): 0 = uniform over subgroups, 1 = uniform over emojis.
        p_gradient: probability of a two-colour linear gradient background (else plain).
        colour_jitter: ± range added to each background colour channel.
        max_clutter: up to this many random clutter shapes (ellipses, boxes, lines).
        p_synonym: per mentioned object, a CLDR keyword replaces its name.
        p_drop: per object, it is left out of the caption (at least one is always kept).
        p_size_word: per mentioned object, "small"/"big" is added for the smallest/largest third.
        p_background: the caption names the background colour.
        tags_per_object: up to this many keywords of each object go into the tags.
        p_tag_drop: per object, its keywords are left out of the tags (at least one tag kept).
        label_level: ``"subgroup"`` (about 95 labels) or ``"group"`` (8 labels).
        with_labels: False gives a ``[N, 0]`` label matrix (pretraining corpus).
        exclude_groups: emoji-test groups never drawn.
    """

    n_items: int = 20015
    seed: int = 0
    stream: str = "benchmark"
    name: str | None = None
    id_prefix: str | None = None
    render_size: int = 64
    min_objects: int = 2
    max_objects: int = 5
    min_scale: float = 0.28
    max_scale: float = 0.55
    max_overlap: float = 0.3
    placement_tries: int = 8
    size_levels: int = 12
    subgroup_power: float = 0.5
    p_gradient: float = 0.5
    colour_jitter: int = 25
    max_clutter: int = 3
    p_synonym: float = 0.25
    p_drop: float = 0.1
    p_size_word: float = 0.2
    p_background: float = 0.3
    tags_per_object: int = 3
    p_tag_drop: float = 0.1
    label_level: str = "subgroup"
    with_labels: bool = True
    exclude_groups: tuple[str, ...] = ("Component", "Flags")

    def __post_init__(self) -> None:
        if isinstance(self.exclude_groups, str):  # from the command line: "Component,Flags"
            self.exclude_groups = tuple(g.strip() for g in self.exclude_groups.split(",") if g.strip())
        self.exclude_groups = tuple(self.exclude_groups)
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"EmojiScenesConfig.seed={self.seed!r}; expected a non-negative integer")
        if self.stream not in STREAMS:
            raise ConfigError(f"EmojiScenesConfig.stream={self.stream!r}; valid: {', '.join(STREAMS)}")
        if self.label_level not in LABEL_LEVELS:
            raise ConfigError(f"EmojiScenesConfig.label_level={self.label_level!r}; valid: {', '.join(LABEL_LEVELS)}")
        if self.n_items < 1:
            raise ConfigError(f"EmojiScenesConfig.n_items={self.n_items}; expected >= 1")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ConfigError(
                f"EmojiScenesConfig: need 1 <= min_objects ({self.min_objects}) <= max_objects ({self.max_objects})"
            )
        if not 0 < self.min_scale <= self.max_scale <= 1:
            raise ConfigError(
                f"EmojiScenesConfig: need 0 < min_scale ({self.min_scale}) <= max_scale ({self.max_scale}) <= 1"
            )
        if self.render_size < 8:
            raise ConfigError(f"EmojiScenesConfig.render_size={self.render_size}; expected >= 8 pixels")
        for p in ("p_gradient", "p_synonym", "p_drop", "p_size_word", "p_background", "p_tag_drop", "max_overlap"):
            v = getattr(self, p)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"EmojiScenesConfig.{p}={v}; expected a probability in [0, 1]")
        if self.name is None:
            self.name = "emoji-scenes" if self.stream == "benchmark" else "emoji-pretrain"
        if self.id_prefix is None:
            self.id_prefix = "es" if self.stream == "benchmark" else "ep"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exclude_groups"] = list(self.exclude_groups)
        return d


@dataclass(frozen=True)
class SceneObject:
    """One emoji placed in a scene: catalogue index, box side and top-left corner (pixels)."""

    emoji: int
    size: int
    x: int
    y: int


@dataclass
class Scene:
    """The sampled content of one item (everything but pixels and words)."""

    objects: list[SceneObject]
    background: tuple[str, tuple[int, int, int], tuple[int, int, int] | None, float]
    clutter: list[tuple[str, tuple[int, int, int, int], tuple[int, int, int]]] = field(default_factory=list)

    def signature(self) -> tuple:
        """Exact (emoji multiset, layout) key; two scenes with equal keys show the same objects."""
        return tuple(sorted((o.emoji, o.size, o.x, o.y) for o in self.objects))


def _latin(word: str) -> bool:
    """True when ``word`` holds at least one ASCII letter."""
    return any("a" <= ch.lower() <= "z" for ch in word)


def _randint(rng: np.random.Generator, lo: int, hi: int) -> int:
    """Uniform integer in ``[lo, hi)`` (a scalar ``rng.integers`` is ten times slower)."""
    return lo + int(rng.random() * (hi - lo))


def _overlap(a: SceneObject, b: SceneObject) -> float:
    """Intersection area over the smaller box area."""
    w = min(a.x + a.size, b.x + b.size) - max(a.x, b.x)
    h = min(a.y + a.size, b.y + b.size) - max(a.y, b.y)
    if w <= 0 or h <= 0:
        return 0.0
    return (w * h) / min(a.size, b.size) ** 2


_GLYPH_CACHE: dict[tuple[str, ...], tuple[EmojiCatalog, list[np.ndarray | None], dict[str, int]]] = {}


def _glyph_assets(
    exclude_groups: tuple[str, ...], progress: bool = False
) -> tuple[EmojiCatalog, list[np.ndarray | None], dict[str, int]]:
    """Catalogue and 109 px glyph sprites, computed once per process (about 2 s)."""
    if exclude_groups not in _GLYPH_CACHE:
        catalog = load_catalog(exclude_groups=exclude_groups)
        sprites, rejected = render_glyphs([e.chars for e in catalog.emojis], progress=progress)
        for sp in sprites:
            if sp is not None:
                sp.setflags(write=False)
        _GLYPH_CACHE.clear()  # keep one catalogue (about 60 MB of 109 px sprites)
        _BASE_CACHE.clear()
        _GLYPH_CACHE[exclude_groups] = (catalog, sprites, rejected)
    return _GLYPH_CACHE[exclude_groups]


#: (exclude_groups, base side) -> (premultiplied base sprites, shared (emoji, size) -> sprite cache).
_BASE_CACHE: dict[tuple[tuple[str, ...], int], tuple[list[Any], dict[tuple[int, int], Any]]] = {}


def _base_sprites(
    exclude_groups: tuple[str, ...], sprites: list[np.ndarray], base: int
) -> tuple[list[Any], dict[tuple[int, int], Any]]:
    """Glyph sprites scaled once to a ``base`` px longer side, kept premultiplied ("RGBa"),
    since Pillow would otherwise convert at every resize; plus the per-size cache they feed."""
    from PIL import Image

    key = (exclude_groups, base)
    if key not in _BASE_CACHE:
        if len(_BASE_CACHE) >= 4:
            _BASE_CACHE.pop(next(iter(_BASE_CACHE)))
        _BASE_CACHE[key] = (
            [
                EmojiScenesGenerator._fit(Image.fromarray(s, "RGBA"), min(base, max(s.shape[:2]))).convert("RGBa")
                for s in sprites
            ],
            {},
        )
    return _BASE_CACHE[key]


class EmojiScenesGenerator:
    """Samples, renders and captions scenes for one config.

    Building it loads the catalogue and renders every glyph once (about 2 s, cached per
    process); sprites are then kept pre-scaled to twice the largest box and resized per
    (emoji, box size) once, on first use.
    """

    def __init__(self, config: EmojiScenesConfig, progress: bool = False) -> None:
        self.config = config
        catalog, sprites, rejected = _glyph_assets(tuple(config.exclude_groups), progress)
        self.glyph_rejections = dict(rejected)
        keep = [s is not None for s in sprites]
        self.catalog: EmojiCatalog = catalog.subset(keep, "font cannot render it")
        sprites = [s for s in sprites if s is not None]
        base = max(8, math.ceil(2 * config.max_scale * config.render_size))
        self._sprites, self._cache = _base_sprites(tuple(config.exclude_groups), sprites, base)
        label_of = LABEL_LEVELS[config.label_level]
        self.label_names: list[str] = list(dict.fromkeys(label_of(e) for e in self.catalog.emojis))
        index = {n: j for j, n in enumerate(self.label_names)}
        self.emoji_label = np.array([index[label_of(e)] for e in self.catalog.emojis], dtype=np.int64)
        # Sampling: subgroup first (weight n_s ** power), then an emoji uniformly inside it.
        subgroups = list(dict.fromkeys(e.subgroup for e in self.catalog.emojis))
        members: dict[str, list[int]] = {s: [] for s in subgroups}
        for i, e in enumerate(self.catalog.emojis):
            members[e.subgroup].append(i)
        self._members = [np.array(members[s], dtype=np.int64) for s in subgroups]
        w = np.array([len(m) for m in self._members], dtype=np.float64) ** config.subgroup_power
        self._subgroup_cdf = np.cumsum(w / w.sum())
        self._colour_names = list(COLOURS)
        lo, hi = math.log(config.min_scale * config.render_size), math.log(config.max_scale * config.render_size)
        grid = np.exp(np.linspace(lo, hi, max(1, config.size_levels)))
        self._sizes = sorted({max(4, int(round(v))) for v in grid})
        # Caption/tag words: keywords with a Latin letter (CLDR lists e.g. "満" for U+1F235).
        self._synonyms = [tuple(k for k in e.synonyms if _latin(k)) for e in self.catalog.emojis]
        self._tag_words = [tuple(k for k in e.keywords if _latin(k)) or (e.name,) for e in self.catalog.emojis]
        self._rng_key = [int(config.seed), STREAMS[config.stream]]

    @staticmethod
    def _fit(image, side: int, fast: bool = False):
        """Scale an RGBA image so that its longer side is ``side`` (aspect kept).

        Pillow filters scale their support with the reduction, so ``fast`` (bilinear) is still
        antialiased; Lanczos is used once, for the 109 px -> base sprite reduction.
        """
        from PIL import Image

        w, h = image.size
        s = side / max(w, h)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        return image.resize(size, Image.BILINEAR if fast else Image.LANCZOS)

    def sprite(self, emoji: int, size: int):
        """The RGBA sprite of catalogue emoji ``emoji`` fitted in a ``size`` x ``size`` box (cached)."""
        key = (emoji, size)
        sp = self._cache.get(key)
        if sp is None:
            sp = self._fit(self._sprites[emoji], size, fast=True).convert("RGBA")
            if len(self._cache) < 200_000:
                self._cache[key] = sp
        return sp

    # ----------------------------------------------------------------------------- sampling
    def rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` (independent of every other item and stream)."""
        return np.random.default_rng([*self._rng_key, int(index)])

    def sample_scene(self, rng: np.random.Generator) -> Scene:
        """Draw objects (distinct emojis), their boxes, the background and the clutter."""
        c = self.config
        S = c.render_size
        k = _randint(rng, c.min_objects, c.max_objects + 1)
        chosen: list[int] = []
        while len(chosen) < k:
            sg = int(np.searchsorted(self._subgroup_cdf, rng.random(), side="right"))
            members = self._members[min(sg, len(self._members) - 1)]
            e = int(members[_randint(rng, 0, len(members))])
            if e not in chosen:
                chosen.append(e)
        objects: list[SceneObject] = []
        for e in chosen:
            size = self._sizes[_randint(rng, 0, len(self._sizes))]
            best, best_ov = None, 2.0
            for _ in range(c.placement_tries):
                cand = SceneObject(e, size, _randint(rng, 0, S - size + 1), _randint(rng, 0, S - size + 1))
                ov = max((_overlap(cand, o) for o in objects), default=0.0)
                if ov < best_ov:
                    best, best_ov = cand, ov
                if ov <= c.max_overlap:
                    break
            objects.append(best)  # type: ignore[arg-type]
        name = self._colour_names[_randint(rng, 0, len(self._colour_names))]
        col1 = self._jitter(COLOURS[name], rng)
        col2 = None
        angle = 0.0
        if rng.random() < c.p_gradient:
            other = self._colour_names[_randint(rng, 0, len(self._colour_names))]
            col2 = self._jitter(COLOURS[other], rng)
            angle = 2 * math.pi * rng.random()
        clutter = []
        for _ in range(_randint(rng, 0, c.max_clutter + 1)):
            kind = ("ellipse", "rectangle", "line")[_randint(rng, 0, 3)]
            w, h = _randint(rng, S // 10, S // 3 + 1), _randint(rng, S // 10, S // 3 + 1)
            x0, y0 = _randint(rng, -S // 10, S), _randint(rng, -S // 10, S)
            colour = (_randint(rng, 0, 256), _randint(rng, 0, 256), _randint(rng, 0, 256))
            clutter.append((kind, (x0, y0, x0 + w, y0 + h), colour))
        return Scene(objects, (name, col1, col2, angle), clutter)

    def _jitter(self, rgb: tuple[int, int, int], rng: np.random.Generator) -> tuple[int, int, int]:
        j = self.config.colour_jitter
        r, g, b = (min(255, max(0, v + _randint(rng, -j, j + 1))) for v in rgb)
        return (r, g, b)

    # ---------------------------------------------------------------------------- rendering
    def render(self, scene: Scene) -> np.ndarray:
        """Pixels of ``scene``: uint8 ``[S, S, 3]``."""
        from PIL import Image, ImageDraw

        S = self.config.render_size
        _, col1, col2, angle = scene.background
        if col2 is None:
            canvas = Image.new("RGB", (S, S), col1)
        else:
            canvas = Image.fromarray(self._gradient(col1, col2, angle), "RGB")
        if scene.clutter:
            draw = ImageDraw.Draw(canvas)
            for kind, box, colour in scene.clutter:
                if kind == "ellipse":
                    draw.ellipse(box, fill=colour)
                elif kind == "rectangle":
                    draw.rectangle(box, fill=colour)
                else:
                    draw.line(box, fill=colour, width=max(1, S // 32))
        for o in scene.objects:
            sp = self.sprite(o.emoji, o.size)
            w, h = sp.size
            canvas.paste(sp, (o.x + (o.size - w) // 2, o.y + (o.size - h) // 2), sp)
        return np.asarray(canvas)

    def _gradient(self, c1: tuple[int, int, int], c2: tuple[int, int, int], angle: float) -> np.ndarray:
        """Linear gradient from ``c1`` to ``c2`` along direction ``angle``: uint8 [S, S, 3]."""
        S = self.config.render_size
        ramp = getattr(self, "_ramp", None)
        if ramp is None:
            g = (np.arange(S, dtype=np.float32) + 0.5) / S - 0.5
            ramp = self._ramp = (g[None, :], g[:, None])
        cos, sin = math.cos(angle), math.sin(angle)
        half = (abs(cos) + abs(sin)) * (0.5 - 0.5 / S)  # |t| <= half on pixel centres
        t = (ramp[0] * cos + ramp[1] * sin + half) * (1.0 / (2 * half))
        out = np.empty((S, S, 3), np.uint8)
        for ch in range(3):
            out[..., ch] = c1[ch] + 0.5 + t * (c2[ch] - c1[ch])
        return out

    # ------------------------------------------------------------------------------- words
    def describe(self, scene: Scene, rng: np.random.Generator) -> tuple[str, list[str]]:
        """Caption and tags of ``scene`` (never empty), with the configured noise."""
        c = self.config
        objs = scene.objects
        order = [int(i) for i in rng.permutation(len(objs))]
        keep = [i for i in order if rng.random() >= c.p_drop]
        if not keep:
            keep = [order[0]]
        sizes = sorted(o.size for o in objs)
        small, big = sizes[len(sizes) // 3], sizes[(2 * len(sizes)) // 3]
        phrases = []
        for i in keep:
            e = objs[i].emoji
            words = self.catalog.emojis[e].name
            synonyms = self._synonyms[e]
            if synonyms and rng.random() < c.p_synonym:
                words = synonyms[_randint(rng, 0, len(synonyms))]
            if len(objs) > 2 and rng.random() < c.p_size_word:
                if objs[i].size <= small:
                    words = f"small {words}"
                elif objs[i].size >= big:
                    words = f"big {words}"
            phrases.append(words)
        listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
        background = ""
        if rng.random() < c.p_background:
            colour = scene.background[0]
            background = f" on {'an' if colour[0] in 'aeiou' else 'a'} {colour} background"
        template = TEMPLATES[_randint(rng, 0, len(TEMPLATES))]
        caption = template.format(objects=listed, background=background).strip()
        tags: list[str] = []
        for i in order:
            if rng.random() < c.p_tag_drop:
                continue
            kws = self._tag_words[objs[i].emoji]
            n = _randint(rng, 1, min(c.tags_per_object, len(kws)) + 1)
            tags.extend(kws[j] for j in sorted(rng.choice(len(kws), size=n, replace=False)))
        if not tags:
            tags = [self.catalog.emojis[objs[order[0]].emoji].name]
        return caption, list(dict.fromkeys(tags))

    # ------------------------------------------------------------------------------- items
    def item(self, index: int, exclude: set | None = None) -> tuple[Scene, str, list[str], int]:
        """Scene, caption and tags of item ``index``; scenes whose signature is in ``exclude``
        are re-drawn from the same item generator. Returns the number of re-draws too."""
        rng = self.rng(index)
        scene = self.sample_scene(rng)
        redraws = 0
        while exclude is not None and scene.signature() in exclude:
            scene = self.sample_scene(rng)
            redraws += 1
        caption, tags = self.describe(scene, rng)
        return scene, caption, tags, redraws

    def signatures(self, n_items: int) -> set:
        """Signatures of items ``0..n_items-1`` (sampling only, no rendering)."""
        return {self.sample_scene(self.rng(i)).signature() for i in range(n_items)}


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


def _config(defaults: dict[str, Any], options: dict[str, Any]) -> EmojiScenesConfig:
    from distilhash.config_dataclass import build_config

    return build_config(EmojiScenesConfig, {**defaults, **options}, "EmojiScenes")


@SOURCES.register("emoji-scenes")
def emoji_scenes(progress: bool = True, **options: Any) -> CrossModalDataset:
    """The labelled EmojiScenes benchmark; ``options`` are :class:`EmojiScenesConfig` fields."""
    return generate(_config({"stream": "benchmark"}, options), progress=progress)


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
    config = _config(PRETRAIN_DEFAULTS, options)
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
