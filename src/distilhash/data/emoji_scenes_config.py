"""What decides an EmojiScenes dataset: its config, the caption vocabulary and the scene model.

Everything here is data: the random streams, label levels, background colours and caption
templates, :class:`EmojiScenesConfig` (same config -> same bytes) and the sampled content of
a scene (:class:`Scene`, :class:`SceneObject`). The generator is
:mod:`distilhash.data.emoji_scenes_generator`, the registered sources
:mod:`distilhash.data.emoji_scenes`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from distilhash.data.emoji_assets import Emoji
from distilhash.errors import ConfigError

__all__ = ["EmojiScenesConfig", "Scene", "SceneObject", "config_from_options", "LABEL_LEVELS", "STREAMS", "COLOURS",
           "TEMPLATES"]

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


def config_from_options(defaults: dict[str, Any], options: dict[str, Any]) -> EmojiScenesConfig:
    """The config of ``defaults`` updated by ``options``; unknown option names are a ConfigError."""
    from distilhash.config_dataclass import build_config

    return build_config(EmojiScenesConfig, {**defaults, **options}, "EmojiScenes")
