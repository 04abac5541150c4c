"""The EmojiScenes generator: samples a scene per item, renders its pixels and writes its words.

Item ``i`` draws from its own generator ``default_rng([seed, stream, i])``, so any item can be
regenerated alone and the same config gives byte-identical images and texts. Scenes hold 2-5
emoji sprites (:mod:`distilhash.data.emoji_sprites`) on a plain or gradient background with a
few clutter shapes; the caption names the emojis (CLDR names or keyword synonyms), the tags are
CLDR keywords.
"""

from __future__ import annotations

import math

import numpy as np

from distilhash.data.emoji_assets import EmojiCatalog
from distilhash.data.emoji_scenes_config import (COLOURS, LABEL_LEVELS, STREAMS, TEMPLATES, EmojiScenesConfig, Scene,
                                                 SceneObject)
from distilhash.data.emoji_sprites import base_sprites, fit_sprite, glyph_assets

__all__ = ["EmojiScenesGenerator"]


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


class EmojiScenesGenerator:
    """Samples, renders and captions scenes for one config.

    Building it loads the catalogue and renders every glyph once (about 2 s, cached per
    process); sprites are then kept pre-scaled to twice the largest box and resized per
    (emoji, box size) once, on first use.
    """

    def __init__(self, config: EmojiScenesConfig, progress: bool = False) -> None:
        self.config = config
        catalog, sprites, rejected = glyph_assets(tuple(config.exclude_groups), progress)
        self.glyph_rejections = dict(rejected)
        keep = [s is not None for s in sprites]
        self.catalog: EmojiCatalog = catalog.subset(keep, "font cannot render it")
        sprites = [s for s in sprites if s is not None]
        base = max(8, math.ceil(2 * config.max_scale * config.render_size))
        self._sprites, self._cache = base_sprites(tuple(config.exclude_groups), sprites, base)
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

    def sprite(self, emoji: int, size: int):
        """The RGBA sprite of catalogue emoji ``emoji`` fitted in a ``size`` x ``size`` box (cached)."""
        key = (emoji, size)
        sp = self._cache.get(key)
        if sp is None:
            sp = fit_sprite(self._sprites[emoji], size, fast=True).convert("RGBA")
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
