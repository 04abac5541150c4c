"""What a DCMQ student reads, chosen by the config's ``backbone`` (no class of its own).

A :class:`~distilhash.methods.dcmq.DCMQ` instance holds one :class:`FeatureInputs` (``method.inputs``):

* ``backbone="frozen"`` (this class): MLP heads on the teacher's cached features ``[n, D]``;
* another backbone registered in ``DCMQ_BACKBONES`` subclasses it and declares its own
  ``config_class`` and ``capabilities`` (``"trainable"``:
  :class:`~distilhash.methods.dcmq_trainable.TrainableInputs`, student encoders on raw pixels and
  captions, ``capabilities.input == "raw"``).

The method reads ``capabilities`` / ``config_class`` from the backbone's class
(:meth:`DCMQ.capabilities_for`), so ``method.capabilities`` follows the config, and delegates the
parts that differ: the student network, its fit inputs, parameter groups, validation, raw
encoding and the saved state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from distilhash.codes import Encoded
from distilhash.config_dataclass import ConfigData
from distilhash.errors import ConfigError
from distilhash.methods.base import Capabilities, MethodBase

__all__ = ["FeatureInputs", "head", "ResidualHead", "HEADS", "VAL_CRITERIA", "LABEL_FREE_CRITERIA", "FeatureStudent"]


def head(width: int, cfg: Any) -> nn.Module:
    """``cfg``: a ``DCMQConfig``. Linear (``hidden_dim <= 0``) or MLP ``width -> hidden_dim -> embed_dim``."""
    if cfg.hidden_dim <= 0:
        return nn.Linear(width, cfg.embed_dim)
    return nn.Sequential(nn.Linear(width, cfg.hidden_dim), nn.GELU(), nn.Dropout(cfg.dropout),
                         nn.Linear(cfg.hidden_dim, cfg.embed_dim))


class ResidualHead(nn.Module):
    """``x [n, width] -> A x + mlp(x) [n, width]`` with ``A`` = identity and the MLP's last layer = 0 at start.

    The head starts in the teacher's own space (before normalisation the output *is* the teacher
    feature) and training moves it only as far as the targets ask; the option ``image_head`` /
    ``text_head`` = "residual" of DCMQ. Needs ``embed_dim`` = the teacher's width.
    """

    def __init__(self, width: int, cfg: Any) -> None:
        super().__init__()
        if cfg.embed_dim != width:
            raise ConfigError(f"dcmq: a 'residual' head keeps the teacher's space, so embed_dim must be the teacher's "
                              f"width {width}, got embed_dim={cfg.embed_dim} (--set embed_dim={width})")
        self.linear = nn.Linear(width, width, bias=False)
        self.mlp = head(width, cfg)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(width))
            last = self.mlp if isinstance(self.mlp, nn.Linear) else self.mlp[-1]
            last.weight.zero_()
            last.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.mlp(x)


def _labels(method, features, split) -> dict[str, float]:
    from distilhash.training.validation import val_map

    return val_map(method, features, split)


def _labels_and_pairs(method, features, split) -> dict[str, float]:
    """Label mAP (split.val vs split.fit) and the MRR of each split.val item's own caption / image, averaged."""
    from distilhash.training.validation import pair_mrr, val_map

    labels, pairs = val_map(method, features, split), pair_mrr(method, features, split.val)
    return {**{f"label_{k}": v for k, v in labels.items()}, **{f"pair_{k}": v for k, v in pairs.items()},
            "i2t": labels["i2t"], "t2i": labels["t2i"], "mean": 0.5 * (labels["mean"] + pairs["mean"])}


def _teacher_top10(method, features, split) -> dict[str, float]:
    """Label-free: the share of the float teacher's top 10 (its own cosines) the codes' top 10 keeps, each split.val
    image and caption a query against split.fit (``mean`` = both directions); the val label mAP rides along as
    ``label_*`` for the record when the features have labels (it does not select)."""
    from distilhash.training.validation import val_map, val_teacher_fidelity

    scores = val_teacher_fidelity(method, features, split, k=10)
    if features.labels.ndim == 2 and features.labels.shape[1] > 0:
        scores.update({f"label_{k}": v for k, v in val_map(method, features, split).items()})
    return scores


#: the ``val_criterion`` option of DCMQ -> its validation scores ``(method, features, split) -> {"mean": ...}``
VAL_CRITERIA = {"labels": _labels, "labels+pairs": _labels_and_pairs, "teacher-top10": _teacher_top10}
#: what each ``val_criterion``'s score is, in the words ``train`` prints after the kept epoch
VAL_CRITERIA_ABOUT = {"labels": "label mAP", "labels+pairs": "label mAP averaged with the val pairs' MRR",
                      "teacher-top10": "the share of the float teacher's top 10 the codes keep, reading no label"}
#: the criteria of ``VAL_CRITERIA`` that select without reading a label (``capabilities.label_free_selection``)
LABEL_FREE_CRITERIA = frozenset({"teacher-top10"})

#: the ``image_head`` / ``text_head`` options of DCMQ -> the head's constructor ``(width, cfg) -> nn.Module``
HEADS = {"mlp": head, "residual": ResidualHead}


class FeatureStudent(nn.Module):
    """Image head, text head and (optionally) the shared quantizer, on teacher features ``[n, width]``."""

    def __init__(self, width: int, cfg: Any) -> None:  # cfg: a DCMQConfig
        super().__init__()
        from distilhash.quantizers.pqg import GumbelPQ

        self.image = HEADS[cfg.image_head](width, cfg)
        self.text = HEADS[cfg.text_head](width, cfg)
        self.pq = GumbelPQ(cfg.embed_dim, cfg.pqg()) if cfg.quantize else None
        #: option pq_rotation="opq": a fixed orthogonal rotation [D, D] of both modalities' embeddings (set at the
        #: codebooks' start, saved with the weights); None otherwise
        self.rotation: torch.Tensor | None
        if cfg.quantize and cfg.pq_rotation == "opq":
            self.register_buffer("rotation", torch.eye(cfg.embed_dim))
        else:
            self.rotation = None

    def embed(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        z = F.normalize((self.image if modality == "image" else self.text)(x), dim=1)
        return z if self.rotation is None else z @ self.rotation


class FeatureInputs:
    """``backbone="frozen"``: the student reads the teacher's cached features (module docstring)."""

    #: the config dataclass of this backbone (None: the method's ``config_class``)
    config_class: ClassVar[type[ConfigData] | None] = None
    #: what a method with this backbone declares (None: the method class's ``capabilities``)
    capabilities: ClassVar[Capabilities | None] = None

    def __init__(self, method: MethodBase) -> None:  # a DCMQ (not imported: dcmq imports this module)
        self.method: Any = method

    # ------------------------------------------------------------------ fitting
    def begin_fit(self, features, dataset) -> None:
        """Check and keep what the fit reads besides ``features`` (here: nothing)."""
        if dataset is not None:
            raise ConfigError(f"{self.method.name}.fit: unexpected arguments ['dataset']")

    def fit_info(self) -> dict[str, Any]:
        """Entries added to ``fit_info_`` after a successful fit."""
        return {}

    def end_fit(self) -> None:
        """Release what :meth:`begin_fit` kept (also after a failed fit)."""

    def new_student(self, width: int) -> nn.Module:
        return FeatureStudent(width, self.method.config)

    def fit_inputs(self, features, fit_idx: np.ndarray, u: torch.Tensor, show: bool | None) -> tuple[Any, Any]:
        """Student inputs of the fit rows, indexable by a batch of positions: here the teacher features."""
        return u, torch.as_tensor(np.ascontiguousarray(features.text[fit_idx]), dtype=torch.float32)

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]

    def val_scores(self, features, split) -> dict[str, float]:
        """The validation scores on ``split.val``; ``"mean"`` is what model selection maximises (``val_criterion``)."""
        return VAL_CRITERIA[self.method.config.val_criterion](self.method, features, split)

    def encode_rows(self, modality: str, features, idx: np.ndarray, role: str) -> Encoded:
        return self.method.encode(modality, (features.image if modality == "image" else features.text)[idx], role)

    # ------------------------------------------------------------------ raw items (refused here)
    def encode_raw(self, modality: str, items: Any, role: str) -> Encoded:
        return MethodBase.encode_raw(self.method, modality, items, role)

    def encode_dataset(self, modality: str, dataset, indices, role: str) -> Encoded:
        return MethodBase.encode_dataset(self.method, modality, dataset, indices, role)

    # ------------------------------------------------------------------ persistence
    def state_tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.method.model_.state_dict())

    def meta_extra(self) -> dict[str, Any]:
        return {}

    def set_state(self, tensors: dict[str, Any], meta: dict[str, Any], directory: Path) -> nn.Module:
        """The student with the saved ``tensors`` loaded (eval mode)."""
        if self.method.feature_width_ is None:
            raise ConfigError(f"{directory / 'method.json'}: 'feature_width' missing or not an integer")
        model = self.new_student(self.method.feature_width_)
        try:
            model.load_state_dict(tensors)
        except RuntimeError as exc:
            raise ConfigError(f"{directory} weights do not match the config in method.json: {exc}") from exc
        return model.eval()
