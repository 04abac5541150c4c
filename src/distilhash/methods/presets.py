"""Named option sets of a method (configs as data): ``distilhash train dcmq --preset open-vocab``.

A preset is a documented bundle of config options for one use; ``--config`` and ``--set`` apply on
top of it. The method's own defaults stay those of its paper (the benchmark tables use them).

* ``dcmq`` / ``open-vocab``: search by what people type. Residual heads start in the teacher's
  space (``z = u + MLP(u)``, the MLP zero-initialised, width = the teacher's 384) and half of the
  raw target comes from the captions, half from the label prompts (``target_text=mix``). On the
  grouped openclipart split with the 224-px teacher its 64-bit codes keep 0.99x of the teacher's
  open-vocabulary P@10 on held-out drawings (the defaults 0.68x) for 0.03 / 0.09 less label mAP
  (``bench/results/teacher_rerun/grouped_224.md``; docs/dcmq.md). ``make demo`` trains with it.
  It keeps the epoch whose codes keep the largest share of the float teacher's top 10 on ``split.val``
  (``val_criterion=teacher-top10``), which reads no label, so it also selects on a collection without labels.
  Chosen by a rule committed before the held-out scores: at 64 bits on the short-view teacher it won validation and
  kept 0.89x / 0.71x of the teacher's P@10 on held-out drawings / emoji against 0.81x / 0.63x with label-mAP
  selection (3 seeds; over 15 paired runs +0.018 / +0.031, for about 0.015 less label mAP;
  ``bench/results/open_vocab_dcmq_targets/short224-select64.md``, ``bench/results/open_vocab_dcmq_paired/``).
  On a collection without labels (a folder prepared with ``captions=filenames``) there are no label prompts to
  mix in: its targets come from the captions alone (``target_text=caption``, the preset's ``without_labels``).

    preset_options("dcmq", "open-vocab")                   # {option: value}
    preset_options("dcmq", "open-vocab", labelled=False)   # the same, with the options for a dataset without labels
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Preset", "PRESETS", "preset_options", "presets_of", "unlabelled_changes"]


@dataclass(frozen=True)
class Preset:
    """The options of a named preset, one line on what it is for, and the options that replace some of them on a
    dataset without labels (``without_labels``: e.g. label-prompt targets, which such a dataset cannot have)."""

    about: str
    options: dict[str, Any] = field(default_factory=dict)
    without_labels: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, dict[str, Preset]] = {
    "dcmq": {
        "open-vocab": Preset("search by what people type: residual heads in the teacher's space, half caption targets, "
                             "the epoch that keeps most of the teacher's top 10 (no label read)",
                             {"image_head": "residual", "text_head": "residual", "embed_dim": 384, "target_text": "mix",
                              "val_criterion": "teacher-top10"},
                             without_labels={"target_text": "caption"}),
    },
}


def presets_of(method: str) -> dict[str, Preset]:
    """The presets ``method`` has (empty when none)."""
    return PRESETS.get(method, {})


def _preset(method: str, name: str) -> Preset:
    """``method``'s preset ``name``; a ConfigError names the known ones."""
    from distilhash.errors import ConfigError

    known = presets_of(method)
    if name not in known:
        listed = ", ".join(f"{k} ({p.about})" for k, p in known.items()) or "none"
        raise ConfigError(f"method {method!r} has no preset {name!r}; its presets: {listed}")
    return known[name]


def preset_options(method: str, name: str, labelled: bool = True) -> dict[str, Any]:
    """A copy of the options of ``method``'s preset ``name`` (``labelled=False``: for a dataset without labels)."""
    preset = _preset(method, name)
    return {**preset.options, **({} if labelled else preset.without_labels)}


def unlabelled_changes(method: str, name: str) -> dict[str, tuple[Any, Any]]:
    """Option -> (value with labels, value without) for the options preset ``name`` changes on a dataset without labels."""
    preset = _preset(method, name)
    return {k: (preset.options.get(k), v) for k, v in preset.without_labels.items() if preset.options.get(k) != v}
