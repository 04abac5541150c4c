"""SODA hyperparameters as data: every reconstructed choice is a field with its default.

See ``docs/soda.md`` for what is known and what is reconstructed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from distilhash.config_dataclass import ConfigData, build_config
from distilhash.errors import ConfigError
from distilhash.losses.pairwise_likelihood import PAIR_WEIGHTINGS

__all__ = ["StageConfig", "SodaConfig", "SELECTION_METRICS", "PAIR_WEIGHTINGS", "ALIGN_TARGETS"]

#: Validation criteria a stage may select its epoch on (val queries vs fit database, mAP@all).
#: stage 1: i2i (image codes vs image codes), i2p / p2i (image vs label-prompt codes), cross (mean of i2p, p2i),
#:          i2i+cross (mean of the three); stage 2: i2t, t2i, cross (mean of i2t and t2i).
SELECTION_METRICS = {
    1: ("i2i", "i2p", "p2i", "cross", "i2i+cross"),
    2: ("i2t", "t2i", "cross"),
}
ALIGN_TARGETS = ("prompt", "image", "none")


@dataclass
class StageConfig(ConfigData):
    """Optimisation and model selection of one stage.

    Attributes:
        epochs: maximum number of epochs.
        batch_size: items per step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        patience: stop after this many evaluations without a better validation score.
        min_delta: improvement of the validation score that counts as better.
        select_on: validation criterion (see ``SELECTION_METRICS``).
    """

    epochs: int = 200  # a cap well above where runs stop; early stopping on split.val decides
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    patience: int = 8
    min_delta: float = 1e-4
    select_on: str = "cross"


def _stage1() -> StageConfig:
    return StageConfig(select_on="i2i")


def _stage2() -> StageConfig:
    return StageConfig(epochs=100, patience=6, select_on="cross")


@dataclass
class SodaConfig(ConfigData):
    """SODA configuration (defaults = our reconstruction).

    Label modality:
        prompt_template: ``"default"`` uses the feature cache's ``label_text`` (the cache's default
            template); otherwise a key of ``distilhash.targets.prompts.TEMPLATES`` (e.g. a
            bare-label-names template) or a literal template containing ``{}``, whose prompts the
            extract stage stored next to the feature cache (``teacher extract --label-template``).
        prompt_teacher: teacher spec that encoded non-default prompts (None: the cache's teacher).

    Heads (one per modality: image, label prompt, text), on frozen teacher features:
        hidden: hidden width of the 2-layer MLP head (0: a linear head); output ``tanh``.
        dropout: dropout after the hidden layer.
        standardize: standardize each head's input with the fit rows' per-dimension mean and std.

    Likelihood (both stages): Theta_ij = theta_scale * <h_i, h_j> / L,
        loss = softplus(Theta) - S * Theta with S_ij = [y_i . y_j > 0].
        pair_weighting: ``"none"`` (mean over pairs) or ``"balanced"`` (positives and negatives
            each weigh one half).

    Stage 1 (teacher: image head + prompt head):
        s1_cross_weight: likelihood of image vs prompt codes.
        s1_intra_weight: likelihood within images and within prompts.
        s1_align_weight: ||h_img_i - h_prm_i||^2 / L for matched pairs.
        s1_quant_weight: ||h - sign(h)||^2 / L for both heads.
        s1_balance_weight: ||mean_i h_i||^2 / L (bit balance), both heads.

    Stage 2 (student: text head against the fixed image codes B_img of the fit items):
        s2_lik_weight: likelihood of h_txt_i . B_img_j against S_ij.
        s2_negatives: ``"all"`` (the fit image codes each step) or ``"batch"`` (the batch's).
        s2_anchors: with ``"all"``, score each step against this many fit image codes drawn at
            random (an unbiased estimate of the mean over all of them; 0 = every one).
        s2_align_target: align h_txt_i with the label-prompt code (``"prompt"``), with the image
            code of the same item (``"image"``), or not at all (``"none"``).
        s2_align_weight, s2_quant_weight: weights of those terms.
    """

    n_bits: int = 64
    seed: int = 0
    prompt_template: str = "default"
    prompt_teacher: str | None = None
    hidden: int = 1024
    dropout: float = 0.1
    standardize: bool = True
    theta_scale: float = 8.0
    pair_weighting: str = "none"
    s1_cross_weight: float = 1.0
    s1_intra_weight: float = 0.0
    s1_align_weight: float = 1.0
    s1_quant_weight: float = 0.1
    s1_balance_weight: float = 0.0
    s2_lik_weight: float = 1.0
    s2_negatives: str = "all"
    s2_anchors: int = 2048
    s2_align_target: str = "prompt"
    s2_align_weight: float = 1.0
    s2_quant_weight: float = 0.1
    stage1: StageConfig = field(default_factory=_stage1)
    stage2: StageConfig = field(default_factory=_stage2)
    threads: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("stage1", "stage2"):
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, _stage_from_dict(name, value))
            elif not isinstance(value, StageConfig):
                raise ConfigError(f"soda config {name} must be a StageConfig or dict, got {type(value).__name__}")
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the field and the valid values."""
        if not (isinstance(self.n_bits, int) and self.n_bits > 0):
            raise ConfigError(f"soda n_bits must be a positive integer, got {self.n_bits!r}")
        if self.pair_weighting not in PAIR_WEIGHTINGS:
            raise ConfigError(f"soda pair_weighting {self.pair_weighting!r}; valid: {', '.join(PAIR_WEIGHTINGS)}")
        if self.s2_align_target not in ALIGN_TARGETS:
            raise ConfigError(f"soda s2_align_target {self.s2_align_target!r}; valid: {', '.join(ALIGN_TARGETS)}")
        if self.s2_negatives not in ("all", "batch"):
            raise ConfigError(f"soda s2_negatives {self.s2_negatives!r}; valid: all, batch")
        if self.hidden < 0 or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"soda hidden must be >= 0 and dropout in [0, 1), got {self.hidden}, {self.dropout}")
        for stage, cfg in ((1, self.stage1), (2, self.stage2)):
            if cfg.select_on not in SELECTION_METRICS[stage]:
                raise ConfigError(
                    f"soda stage{stage}.select_on {cfg.select_on!r}; valid: {', '.join(SELECTION_METRICS[stage])}"
                )
            if cfg.epochs < 1 or cfg.batch_size < 2 or cfg.patience < 1:
                raise ConfigError(f"soda stage{stage}: epochs >= 1, batch_size >= 2, patience >= 1 required, got {cfg}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str | None = None) -> SodaConfig:
        """Build from overrides; ``stage1.lr=...`` style dotted keys reach the stage configs."""
        valid = {f.name for f in fields(cls)}
        top: dict[str, Any] = {}
        stages: dict[str, dict[str, Any]] = {"stage1": {}, "stage2": {}}
        for key, value in values.items():
            head, _, rest = key.partition(".")
            if rest and head in stages:
                stages[head][rest] = value
            elif key in valid:
                top[key] = value
            else:
                raise ConfigError(f"{where or 'soda'}: unknown option(s) {key}; valid keys: {', '.join(sorted(valid))} "
                                  "(and stage1.*, stage2.*)")
        defaults = cls()
        for name, overrides in stages.items():
            base = top.get(name)
            base_dict = asdict(base) if isinstance(base, StageConfig) else dict(base or asdict(defaults.stage1 if name == "stage1" else defaults.stage2))
            if overrides or name in top:
                top[name] = {**base_dict, **overrides}
        return cls(**top)

    @classmethod
    def from_kwargs(cls, /, **values: Any) -> SodaConfig:
        return cls.from_dict(values)


def _stage_from_dict(name: str, value: dict[str, Any]) -> StageConfig:
    return build_config(StageConfig, value, f"soda {name}")
