"""DCMQ — Distillation for Cross-Modal Quantization (reconstruction; see docs/dcmq.md).

Registers two methods:

* ``dcmq``: image and text heads (MLPs on frozen teacher features) producing unit-norm
  embeddings ``z [D]``, quantized by :class:`~distilhash.quantizers.pqg.GumbelPQ` (M shared
  codebooks x K=256 codewords, M = bits / 8), trained to reproduce NPC targets built from the
  teacher's image-vs-label-text similarities. The database stores M one-byte codes per item; a
  query keeps its continuous embedding and is scored by asymmetric distance (ADC).
* ``float-student``: the same heads and targets, no quantizer (``quantize=False``); both roles
  are continuous embeddings ranked by cosine — the ceiling of what the codes can keep.

Per batch of B matched items (teacher features ``u`` image, ``w`` caption, ``e`` label text)::

    R = cos(u, e^T)                                   [B, B] raw target (option target_text)
    T = NPC(R)                                        [B, B] in [-1, 1] (target="npc")
    z_i = norm(f_img(u)), z_t = norm(f_txt(w))        [B, D]
    q_i = PQG(z_i),  q_t = PQG(z_t)                   [B, D] soft / Gumbel / straight-through
    L = w_cross (L_i2t + L_t2i) + w_intra (L_ii + L_tt) + w_quant (|z_i - q_i|^2 + |z_t - q_t|^2)
    L_i2t = match(sim(z_i, q_t), T),  L_t2i = match(sim(z_t, q_i), T^T)

``sim`` is the ADC metric used at retrieval ("ip": <q, x>; "l2": 1 - |q - x|^2 / 2), ``match`` is
MSE or KL of row softmaxes. The epoch kept is the one with the best mean validation mAP@all
(``split.val`` queries vs ``split.fit`` database; ``val_criterion="labels+pairs"`` averages it with the
val caption <-> image MRR; ``val_criterion="teacher-top10"`` reads no labels: the share of the float teacher's
top 10 that the codes' top 10 keeps), recorded in ``fit_info_``.

``backbone`` picks what the student reads (:mod:`distilhash.methods.dcmq_inputs`): ``"frozen"``, the
teacher features; ``"trainable"``, student encoders fine-tuned jointly (:mod:`distilhash.methods.dcmq_trainable`).
The instance's ``capabilities`` and config class follow that option; the class stays :class:`DCMQ`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from distilhash.codes import Encoded
from distilhash.config_dataclass import ConfigData
from distilhash.errors import ConfigError, FeatureError
from distilhash.losses.cross_modal import cross_modal_loss
from distilhash.losses.intra_modal import intra_modal_loss
from distilhash.losses.quantization import quantization_loss
from distilhash.methods.base import METHODS, Capabilities, MethodBase
from distilhash.methods import dcmq_extra, dcmq_targets
from distilhash.methods.dcmq_config import DCMQConfig
from distilhash.methods.dcmq_inputs import LABEL_FREE_CRITERIA, VAL_CRITERIA_ABOUT, FeatureInputs
from distilhash.quantizers.pqg import codeword_usage
from distilhash.registry import Registry
from distilhash.training.batches import minibatches
from distilhash.epochs import LoopConfig, run_epochs
from distilhash.training.seed import seed_everything
from distilhash.training.terms import TermMeter

__all__ = ["DCMQConfig", "DCMQ", "FloatStudent", "DCMQ_BACKBONES"]

#: backbone option (other than "frozen") -> the FeatureInputs subclass that implements it (module imported on first use)
DCMQ_BACKBONES: Registry = Registry("dcmq backbone", modules={"trainable": "distilhash.methods.dcmq_trainable"})

class DCMQ(MethodBase):
    """DCMQ method (see module docstring). ``DCMQ(**config)``; ``fit`` -> ``encode`` -> ``save``."""

    name = "dcmq"
    config_class = DCMQConfig
    tensor_library = "torch"
    _default_quantize = True
    #: ``fit(..., data_parallel=DataParallel)`` trains one replica of a torch.distributed group.
    capabilities: ClassVar[Capabilities] = Capabilities(data_parallel=True)

    def __init__(self, **config: Any) -> None:
        config.setdefault("quantize", self._default_quantize)
        if config["quantize"] != self._default_quantize:
            raise ConfigError(f"{self.name}: quantize={config['quantize']} is fixed by the method "
                              f"(use {'dcmq' if config['quantize'] else 'float-student'})")
        super().__init__(**config)
        self.model_: nn.Module | None = None
        #: what the student reads (the backbone option): its network, fit inputs, raw encoding, saved state
        self.inputs: FeatureInputs = self._inputs_class(self.config)(self)

    # ------------------------------------------------------------------ what the backbone option decides
    @classmethod
    def _inputs_class(cls, config: DCMQConfig | Mapping[str, Any] | None) -> type[FeatureInputs]:
        """The inputs of the backbone ``config`` (a config or options) names."""
        backbone = config.backbone if isinstance(config, DCMQConfig) else (config or {}).get("backbone", "frozen")
        if backbone == "frozen" or backbone not in DCMQ_BACKBONES:  # unknown values: refused by the config
            return FeatureInputs
        if cls is not DCMQ:
            raise ConfigError(f"{cls.name}: backbone={backbone!r} is implemented for dcmq only")
        return DCMQ_BACKBONES.get(backbone)

    @classmethod
    def capabilities_for(cls, config: DCMQConfig | Mapping[str, Any] | None = None) -> Capabilities:
        """The class's capabilities, or those of the backbone the config names (e.g. trainable: raw input); a
        ``val_criterion`` of ``LABEL_FREE_CRITERIA`` declares ``label_free_selection``."""
        caps = cls._inputs_class(config).capabilities or cls.capabilities
        criterion = config.val_criterion if isinstance(config, DCMQConfig) else (config or {}).get("val_criterion", "labels")
        return replace(caps, label_free_selection=True) if criterion in LABEL_FREE_CRITERIA else caps

    @classmethod
    def config_class_for(cls, config: Mapping[str, Any]) -> type[ConfigData]:
        return cls._inputs_class(config).config_class or cls.config_class

    # ------------------------------------------------------------------ protocol
    @property
    def n_bits(self) -> int:
        return self.config.n_bits if self.config.quantize else 32 * self.config.embed_dim

    def config_dict(self) -> dict[str, Any]:
        d = super().config_dict()
        d.pop("quantize")
        return d

    def _is_fitted(self) -> bool:
        return self.model_ is not None

    def fit(self, features, split, dataset=None, *, progress: bool | None = None, data_parallel: Any = None,
            **kwargs: Any) -> DCMQ:
        """Train on ``features`` rows ``split.fit``; keep the epoch with the best mAP on ``split.val``.
        ``dataset``: the items of the features, for a backbone that reads them (``capabilities.input == "raw"``)."""
        self.inputs.begin_fit(features, dataset)
        try:
            self._fit(features, split, progress=progress, data_parallel=data_parallel, **kwargs)
            self.fit_info_.update(self.inputs.fit_info())
        finally:
            self.inputs.end_fit()
        return self

    def _fit(self, features, split, *, progress: bool | None = None, data_parallel: Any = None, **kwargs: Any) -> DCMQ:
        """The training (see :meth:`fit`).

        ``data_parallel``: a :class:`distilhash.distributed.data_parallel.DataParallel` when this
        process is one of W replicas (each trains on 1/W of every minibatch; gradients averaged).
        """
        dp = data_parallel
        if kwargs:
            raise ConfigError(f"{self.name}.fit: unexpected arguments {sorted(kwargs)}")
        cfg = self.config
        rng, gen = seed_everything(cfg.seed)
        fit_idx = np.asarray(split.fit)
        if len(fit_idx) < 2:
            raise FeatureError(f"{self.name}: split.fit has {len(fit_idx)} items; need at least 2")
        if len(split.val) == 0:
            raise FeatureError(f"{self.name}: split.val is empty; model selection needs validation items")
        u = torch.as_tensor(np.ascontiguousarray(features.image[fit_idx]), dtype=torch.float32)  # target side
        model = self.model_ = self._new_student(features.width)
        x_img, x_txt = self._fit_inputs(features, fit_idx, u, show=cfg.progress if progress is None else progress)
        y = torch.as_tensor(features.labels[fit_idx].astype(np.float32))
        e = self._target_text(features, fit_idx)
        if cfg.extra_pairs:  # a second picture domain joins the fit rows, its captions as targets
            u, x_img, x_txt, y, e = dcmq_extra.join_extra_pairs(cfg.extra_pairs, u, x_img, x_txt, y, e,
                                                                features.teacher_identity().get("fingerprint"))
        self._bind_features(features)
        opt = torch.optim.Adam(self._param_groups(model), lr=cfg.lr, weight_decay=cfg.weight_decay)
        band = dcmq_targets.target_band(cfg, u, e, rng)
        show = cfg.progress if progress is None else progress
        quantizing, epoch_times = {"on": False}, []  # off during the float warm-up; [wall, cpu] s per epoch
        M, K = (cfg.n_codebooks, cfg.n_codewords) if model.pq is not None else (0, 0)

        def train_epoch(epoch: int) -> dict[str, float]:
            meter, t_epoch, cpu_epoch = TermMeter(), time.perf_counter(), time.process_time()
            counts = torch.zeros(M, K)
            recent: list[torch.Tensor] = []
            for idx in minibatches(len(u), cfg.batch_size, rng):
                mine = whole = idx
                if dp is not None:
                    if len(idx) < 2 * dp.world:  # the same on every replica: all skip it
                        continue
                    mine, whole = dp.shares(idx)  # embed my share; pair terms over the gathered whole batch
                whole_t, mine_t = torch.as_tensor(whole), torch.as_tensor(mine)
                T = self._targets(u[whole_t], None if e is None else e[whole_t], y[whole_t])
                terms, zs, logits = self._loss_terms(model, x_img[mine_t], x_txt[mine_t], T, quantizing["on"],
                                                     gather=None if dp is None else dp.gather)
                opt.zero_grad(set_to_none=True)
                (terms["total"] * (1 if dp is None else dp.world)).backward()  # see DataParallel.gather
                if dp is not None:
                    dp.average_gradients(model)
                opt.step()
                meter.add(terms)
                if quantizing["on"]:
                    for a in logits:
                        counts += F.one_hot(a.detach().argmax(-1), K).sum(0).float()
                    recent = (recent + [zs.detach()])[-16:]
            out = meter.means()
            if quantizing["on"]:
                p = counts / counts.sum(1, keepdim=True).clamp(min=1)
                out["train_perplexity"] = float(torch.exp(-(p * p.clamp(min=1e-12).log()).sum(1)).mean())
                out["train_dead"] = int((counts == 0).sum())
                if cfg.revive_dead:
                    out["revived"] = model.pq.revive(counts, torch.cat(recent), gen)
            if dp is not None:
                dp.broadcast_model(model)  # revival uses this replica's statistics: keep replica 0's
            epoch_times.append([time.perf_counter() - t_epoch, time.process_time() - cpu_epoch])  # warm-up included
            return out

        warm = []
        if model.pq is not None and cfg.warmup_epochs:  # float warm-up: no validation, no restore
            warm = run_epochs(model, train_epoch, None, LoopConfig(epochs=cfg.warmup_epochs, patience=0, progress=show,
                                                                   desc=f"{self.name} float warm-up")).history
        if model.pq is not None:
            self._init_codebooks(model, x_img, x_txt, rng, gen)
            quantizing["on"] = True

        scores: dict[int, dict[str, float]] = {}

        def validate() -> float:
            s = self._val_scores(features, split) if dp is None or dp.is_main else None
            if dp is not None:
                s = dp.share(s)  # replica 0 validates; every replica early-stops alike
            scores[len(scores)] = s
            return s["mean"]

        loop = LoopConfig(epochs=cfg.epochs, eval_every=cfg.eval_every, patience=cfg.patience,
                          progress=cfg.progress if progress is None else progress, desc=f"{self.name} {self.n_bits}b")
        result = run_epochs(model, train_epoch, validate, loop)
        info = result.fit_info()
        info["kept_because"] += f"; the score: {VAL_CRITERIA_ABOUT[cfg.val_criterion]} (val_criterion={cfg.val_criterion})"
        info["warmup_history"], info["epoch_seconds"] = warm, epoch_times
        info["budget"]["warmup_epochs"] = len(warm)
        info["budget"]["epochs_total"] = len(warm) + result.epochs_run
        info["val_map_at_kept"] = self._val_scores(features, split)
        info["val_scores_history"] = [scores[i] for i in sorted(scores)]  # every validation, in order
        info["target_band"] = band
        info["n_fit"] = int(len(fit_idx))
        if len(u) > len(fit_idx):
            info["n_extra_pairs"] = int(len(u) - len(fit_idx))
        if model.pq is not None:
            t0 = time.perf_counter()
            codes_img = self._encode_rows("image", features, fit_idx, "database").data
            codes_txt = self._encode_rows("text", features, fit_idx, "database").data
            info["codeword_usage"] = {
                "image": codeword_usage(codes_img, cfg.n_codewords),
                "text": codeword_usage(codes_txt, cfg.n_codewords),
            }
            info["encode_seconds_fit_both"] = time.perf_counter() - t0
        self.fit_info_ = info
        return self

    def encode(self, modality: str, features: np.ndarray, role: str = "database") -> Encoded:
        """Database role: PQ codes uint8 ``[N, M]`` (+ codebooks); query role: float ``[N, D]``."""
        self._refuse("features")  # a backbone reading raw items is refused teacher features
        self.check_encode_args(modality, role)
        feats = self.check_features(modality, features)
        model = self.model_
        was_training = model.training
        model.eval()
        zs, codes = [], []
        with torch.no_grad():
            for s in range(0, len(feats), 8192):
                z = model.embed(modality, torch.from_numpy(feats[s : s + 8192]))
                if role == "database" and model.pq is not None:
                    codes.append(model.pq.encode(z).numpy())
                else:
                    zs.append(z.numpy())
        model.train(was_training)
        if role == "database" and model.pq is not None:
            data = np.concatenate(codes) if codes else np.zeros((0, self.config.n_codebooks), np.uint8)
            return Encoded("pq", data, self.n_bits, self.codebooks(), metric=self.config.similarity)
        data = np.concatenate(zs) if zs else np.zeros((0, self.config.embed_dim), np.float32)
        return Encoded("float", data.astype(np.float32), 32 * self.config.embed_dim)

    def codebooks(self) -> np.ndarray:
        """The shared codebooks, float32 ``[M, K, d]``."""
        self.require_fitted()
        model = self.model_
        if model.pq is None:
            raise ConfigError(f"{self.name} has no codebooks (it does not quantize)")
        return model.pq.codebooks.detach().numpy().astype(np.float32).copy()

    def encode_raw(self, modality: str, items: Any, role: str = "database") -> Encoded:
        return self.inputs.encode_raw(modality, items, role)

    def encode_dataset(self, modality: str, dataset, indices, role: str = "database") -> Encoded:
        return self.inputs.encode_dataset(modality, dataset, indices, role)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        return self.inputs.state_tensors()

    def meta_extra(self) -> dict[str, Any]:
        return self.inputs.meta_extra()

    def set_state(self, tensors: dict[str, Any], meta: dict[str, Any], directory: Path) -> None:
        self.model_ = self.inputs.set_state(tensors, meta, directory)

    # ------------------------------------------------------------------ hooks of the fit (the backbone's inputs)
    def _fit_inputs(self, features, fit_idx: np.ndarray, u: torch.Tensor, show: bool | None) -> tuple[Any, Any]:
        return self.inputs.fit_inputs(features, fit_idx, u, show)

    def _new_student(self, width: int) -> nn.Module:
        return self.inputs.new_student(width)

    def _param_groups(self, model: nn.Module) -> list[dict[str, Any]]:
        return self.inputs.param_groups(model)

    def _val_scores(self, features, split) -> dict[str, float]:
        return self.inputs.val_scores(features, split)

    def _encode_rows(self, modality: str, features, idx: np.ndarray, role: str) -> Encoded:
        return self.inputs.encode_rows(modality, features, idx, role)

    # ------------------------------------------------------------------ internals
    def _target_text(self, features, idx: np.ndarray) -> torch.Tensor | None:
        return dcmq_targets.target_text(self.config, features, idx, self.name)

    def _raw_targets(self, u: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        return dcmq_targets.raw_targets(self.config, u, e)

    def _targets(self, u: torch.Tensor, e: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor:
        return dcmq_targets.batch_targets(self.config, u, e, y)

    def _init_codebooks(self, model: nn.Module, x_img, x_txt, rng: np.random.Generator, gen) -> None:
        """The codebooks' (and OPQ rotation's) start: :func:`distilhash.methods.dcmq_codebooks.init_codebooks`."""
        from distilhash.methods.dcmq_codebooks import init_codebooks

        init_codebooks(model, self.config, x_img, x_txt, rng, gen)

    def _loss_terms(self, model: nn.Module, xi: torch.Tensor, xt: torch.Tensor, T: torch.Tensor,
                    quantize: bool = True, gather: Any = None) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[torch.Tensor]]:
        """Named loss terms (+ ``total``), the batch embeddings ``[2B, D]`` and the PQ logits (if quantizing).

        ``gather`` (data-parallel training): maps this worker's ``[b, D]`` embeddings to the whole
        batch's ``[B, D]`` (:meth:`DataParallel.gather`), the row order of ``T`` ``[B, B]``; the logits stay local.
        """
        cfg = self.config
        zi, zt = model.embed("image", xi), model.embed("text", xt)
        logits: list[torch.Tensor] = []
        if quantize and model.pq is not None:
            qi, ai = model.pq(zi)
            qt, at = model.pq(zt)
            logits = [ai, at]
        else:
            qi, qt = zi, zt
        if gather is not None:  # without the quantizer q is z: gather it once (the same graph as one process)
            gi, gt = gather(zi), gather(zt)
            qi, qt = (gi if qi is zi else gather(qi)), (gt if qt is zt else gather(qt))
            zi, zt = gi, gt
        kw = {"kind": cfg.distill, "metric": cfg.similarity, "tau_t": cfg.kl_tau_t, "tau_s": cfg.kl_tau_s}
        terms: dict[str, torch.Tensor] = {}
        total = torch.zeros(())
        for k, v in cross_modal_loss(zi, zt, qi, qt, T, **kw).items():
            terms[f"cross_{k}"] = v
            total = total + cfg.w_cross * v
        if cfg.w_intra:
            for k, v in intra_modal_loss(zi, zt, qi, qt, T, **kw).items():
                terms[f"intra_{k}"] = v
                total = total + cfg.w_intra * v
        if logits and cfg.w_quant:
            for k, v in quantization_loss(zi, zt, qi, qt, cfg.quant_parallel_weight).items():
                terms[f"quant_{k}"] = v
                total = total + cfg.w_quant * v
        terms["total"] = total
        return terms, torch.cat([zi, zt]), logits


class FloatStudent(DCMQ):
    """The DCMQ heads and targets without quantization (both roles: float embeddings, cosine).

    ``n_bits`` is accepted (the DCMQ budget it is compared with) but does not change the model; the ``n_bits``
    property reports the float width 32 * embed_dim. ``bits_independent``: the harness runs it once per seed.
    """

    name = "float-student"
    _default_quantize = False
    capabilities: ClassVar[Capabilities] = Capabilities(bits_independent=True, data_parallel=True, indexable=False)


METHODS.register("dcmq")(DCMQ)
METHODS.register("float-student")(FloatStudent)
