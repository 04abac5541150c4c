"""Fit an offline teacher by kind (what ``distilhash teacher fit`` does): a registry of fit functions.

    info, target = fit_teacher("lite0-minilm", dataset="openclipart", overrides={"epochs": 20})

Kinds (:data:`FIT_KINDS`): ``minilm-lit`` (the LiT image tower on the EmojiScenes pretraining corpus;
nested ``tower.*`` keys); ``lite0-minilm`` (projection heads on two frozen pretrained towers, fitted on a
prepared dataset's ``split.train`` pairs); ``lite0-minilm-wide`` (the same heads on every registered pair
source); ``lite0-prior`` (the ImageNet class prior on fitted heads); ``lite0-tuned`` (Lite0's last stage
fine-tuned with the heads); ``lite0-minilm-text`` (MiniLM's last layer trained with the heads). Overrides
are config fields; unknown keys raise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distilhash.errors import ConfigError

__all__ = ["FIT_KINDS", "fit_teacher"]

Say = Callable[[str], None]


def _fit_minilm_lit(dataset: str | None, out: Path | None, overrides: dict, threads: int | None, progress: bool,
                    say: Say) -> tuple[dict[str, Any], Path]:
    """minilm-lit: train the LiT image tower on the EmojiScenes pretraining corpus."""
    from distilhash.paths import teachers_dir
    from distilhash.teachers.lit_fit import LiTConfig, describe, fit_lit

    if dataset is not None:
        raise ConfigError("--dataset: minilm-lit is fitted on its own pretraining corpus (set corpus_* keys instead)")
    base = LiTConfig().to_dict()
    tower = {**base.pop("tower"), **overrides.pop("tower", {})}
    unknown = set(overrides) - set(base)
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; valid: {sorted(base)} and tower.*")
    config = LiTConfig.from_dict({**base, **overrides, "threads": threads, "tower": tower})
    target = Path(out) if out is not None else teachers_dir() / "minilm-lit"
    say(f"fitting minilm-lit -> {target}\nconfig: {json.dumps(config.to_dict())}")
    info = fit_lit(config, target, progress=progress)
    say(describe(info))
    say(f"kept epoch {info['kept_epoch']} ({info['kept_because']}); total {info['timing_s']['total']:.0f} s")
    say(f"saved teacher to {target}")
    return info, target


def _fit_lite0_minilm(dataset: str | None, out: Path | None, overrides: dict, threads: int | None, progress: bool,
                      say: Say) -> tuple[dict[str, Any], Path]:
    """lite0-minilm: fit the projection heads on DATASET's split.train pairs (towers frozen)."""
    from distilhash.teachers.lite0_fit import Lite0FitConfig, describe, fit_lite0_minilm
    from distilhash.teachers.lite0_minilm import default_lite0_dir

    if dataset is None:
        raise ConfigError("--dataset is required for --kind lite0-minilm (a prepared dataset name or directory)")
    base = Lite0FitConfig().to_dict()
    unknown = set(overrides) - set(base)
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; valid: {sorted(base)}")
    config = Lite0FitConfig.from_dict({**base, **overrides, "threads": threads})
    target = Path(out) if out is not None else default_lite0_dir(dataset)
    say(f"fitting lite0-minilm on {dataset} -> {target}\nconfig: {json.dumps(config.to_dict())}")
    info = fit_lite0_minilm(dataset, target, config, progress=progress)
    say(describe(info))
    kept = info["kept"]
    say(f"kept {kept['heads']['image_head']} image head / {kept['heads']['text_head']} text head, epoch {kept['epoch']} "
        f"({info['kept_because']}); tower features {'from cache' if info['tower_features_from_cache'] else 'computed'}; "
        f"total {info['timing_s']['total']:.1f} s")
    from distilhash.teachers.common import spec_of

    say(f"saved teacher to {target} (use it as --teacher {spec_of('lite0-minilm', target)})")
    return info, target


def _fit_lite0_minilm_wide(dataset: str | None, out: Path | None, overrides: dict, threads: int | None, progress: bool,
                           say: Say) -> tuple[dict[str, Any], Path]:
    """lite0-minilm-wide: the same heads fitted on every legitimate pair source, selected on DATASET's split.val."""
    from distilhash.teachers.lite0_fit import describe
    from distilhash.teachers.lite0_minilm import default_lite0_dir
    from distilhash.teachers.lite0_wide import WideFitConfig, fit_lite0_wide

    dataset = dataset or "openclipart"
    base = WideFitConfig().to_dict()
    unknown = set(overrides) - set(base)
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; valid: {sorted(base)}")
    if isinstance(overrides.get("sources"), str):
        overrides["sources"] = [s.strip() for s in overrides["sources"].split(",") if s.strip()]
    config = WideFitConfig(**{**base, **overrides, "threads": threads})
    target = Path(out) if out is not None else default_lite0_dir("wide")
    say(f"fitting lite0-minilm heads on {', '.join(config.sources)} (validation: {dataset} split.val) -> {target}")
    info = fit_lite0_wide(dataset, target, config, progress=progress)
    say(describe(info))
    for s in info["sources"]:
        say(f"  source {s['name']}: {s['n_used']} pairs used ({s['what']})")
    from distilhash.teachers.common import spec_of

    say(f"saved teacher to {target} (use it as --teacher {spec_of('lite0-minilm', target)}); total {info['timing_s']['total']:.0f} s")
    return info, target


def _fit_lite0_prior(*args: Any) -> tuple[dict[str, Any], Path]:
    """lite0-prior: the ImageNet class prior's weight chosen on split.val (:mod:`distilhash.teachers.lite0_prior`)."""
    from distilhash.teachers.lite0_prior import fit_prior_command

    return fit_prior_command(*args)


def _fit_lite0_tuned(*args: Any) -> tuple[dict[str, Any], Path]:
    """lite0-tuned: Lite0's last stage(s) + heads fine-tuned, prior re-chosen (:mod:`distilhash.teachers.lite0_tune_fit`)."""
    from distilhash.teachers.lite0_tune_fit import fit_tuned_command

    return fit_tuned_command(*args)


def _fit_lite0_minilm_text(*args: Any) -> tuple[dict[str, Any], Path]:
    """lite0-minilm-text: MiniLM's last layer trained with a wide fit's heads (:mod:`distilhash.teachers.lite0_text_fit`)."""
    from distilhash.teachers.lite0_text_fit import fit_text_tune_command

    return fit_text_tune_command(*args)


#: teacher kind -> the function fitting it
FIT_KINDS: dict[str, Callable[..., tuple[dict[str, Any], Path]]] = {
    "minilm-lit": _fit_minilm_lit, "lite0-minilm": _fit_lite0_minilm, "lite0-minilm-wide": _fit_lite0_minilm_wide,
    "lite0-prior": _fit_lite0_prior, "lite0-tuned": _fit_lite0_tuned, "lite0-minilm-text": _fit_lite0_minilm_text}


def fit_teacher(kind: str, dataset: str | None = None, out: str | Path | None = None,
                overrides: dict[str, Any] | None = None, threads: int | None = None, progress: bool = True,
                say: Say | None = None) -> tuple[dict[str, Any], Path]:
    """Fit teacher ``kind`` (one of :data:`FIT_KINDS`); returns ``(fit info, teacher directory)``.

    ``threads``: torch threads; None = :func:`distilhash.threads.fit_threads` (``$DISTILHASH_THREADS``, else
    the cores the load leaves free). ``say`` receives the config before fitting and a summary after
    (default: silent).
    """
    from distilhash.threads import fit_threads, set_threads

    if kind not in FIT_KINDS:
        raise ConfigError(f"--kind {kind!r}: valid kinds are {', '.join(FIT_KINDS)}")
    threads = set_threads(fit_threads(threads))  # also for the steps of a fit outside its own thread setting
    (say or (lambda line: None))(f"torch threads: {threads}")
    return FIT_KINDS[kind](dataset, Path(out) if out is not None else None, dict(overrides or {}), threads, progress,
                           say or (lambda line: None))
