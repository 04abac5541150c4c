"""SODA (reconstruction): labels as a prompt modality; an image Hamming space guides the text codes.

Stage 1 (teacher): an image hash head ``f`` and a label-prompt hash head ``g`` on frozen teacher
features are trained together (:class:`~distilhash.losses.soda_teacher.SodaTeacherLoss`):
pairwise likelihood of ``S_ij = [y_i . y_j > 0]`` between image and prompt codes, alignment of
matched (image, prompt) pairs, quantization. ``B_img = sign(f(u))`` is the image Hamming space.

Stage 2 (student): the text hash head ``h`` is trained with ``B_img`` of the fit items fixed
(:class:`~distilhash.losses.soda_student.SodaStudentLoss`): ``h(w_i) . B_img_j`` fits ``S_ij``,
and ``h(w_i)`` is aligned with the label-prompt code ``sign(g(e_i))`` of the same item.

Codes: images ``sign(f(u))`` (stage 1), texts ``sign(h(w))`` (stage 2), packed bits
(``Encoded(kind="binary")``), ranked by Hamming distance. Each stage keeps the epoch with the best
validation mAP (``split.val`` queries vs ``split.fit`` database); ``fit_info_`` records it.

Example:
    >>> from distilhash.methods.base import create_method
    >>> m = create_method("soda", n_bits=32, prompt_template="bare")   # doctest: +SKIP
    >>> m.fit(features, split).encode("image", features.image[:5]).data.shape  # doctest: +SKIP
    (5, 4)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from distilhash.codes import Encoded, pack_bits
from distilhash.errors import ConfigError, DataError, FeatureError
from distilhash.methods.base import METHODS, Capabilities, MethodBase
from distilhash.methods.soda.config import SodaConfig
from distilhash.epochs import combine_budgets

__all__ = ["SodaMethod"]

#: encode() modality -> head. "prompt" (label-prompt codes) is an extra for analysis.
_MODALITY_HEAD = {"image": "image", "text": "text", "prompt": "prompt"}
#: Largest fit set whose stage-2 label-similarity matrix is precomputed (bool, n^2 bytes).
_MAX_PRECOMPUTED_S = 20_000


@METHODS.register("soda")
class SodaMethod(MethodBase):
    """SODA: two-stage cross-modal hashing distilled through label prompts (see module docstring)."""

    name = "soda"
    config_class = SodaConfig
    tensor_library = "torch"
    #: ``fit(..., data_parallel=DataParallel)`` trains one replica of a torch.distributed group.
    capabilities: ClassVar[Capabilities] = Capabilities(data_parallel=True)

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.heads_: dict[str, Any] | None = None

    def _is_fitted(self) -> bool:
        return self.heads_ is not None

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        features,
        split,
        *,
        label_prompts: np.ndarray | None = None,
        cache_dir: str | Path | None = None,
        progress: bool | None = None,
        data_parallel: Any = None,
        **_: Any,
    ) -> SodaMethod:
        """Fit both stages on ``split.fit`` rows, selecting each stage's epoch on ``split.val``.

        Args:
            features: the full FeatureSet (rows = dataset items).
            split: the Split; only ``split.fit`` and ``split.val`` rows are read.
            label_prompts: optional float32 ``[N, D]`` label-prompt features (overrides the
                ``prompt_template`` lookup in the feature cache).
            cache_dir: the feature cache directory holding non-default templates' prompts (default:
                the one named in the feature manifest), written by the extract stage
                (:func:`distilhash.teachers.label_prompts.extract_label_prompts`); a template that
                was not extracted is a FeatureError saying how to extract it.
            data_parallel: a :class:`~distilhash.distributed.data_parallel.DataParallel` when this
                process is one of W replicas: each stage trains on 1/W of every minibatch with
                averaged gradients (:mod:`distilhash.methods.soda.loop`).
        """
        import torch

        from distilhash.losses.soda_student import SodaStudentLoss
        from distilhash.losses.soda_teacher import SodaTeacherLoss
        from distilhash.methods.soda.loop import run_stage
        from distilhash.methods.soda.nets import HashHead
        from distilhash.teachers.label_prompts import cached_label_prompts
        from distilhash.methods.soda.selection import hamming_map, relevance

        cfg = self.config
        show = cfg.progress if progress is None else progress
        torch.set_num_threads(max(1, int(cfg.threads)))
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)

        if label_prompts is None:
            prompts, provenance = cached_label_prompts(features, cfg.prompt_template, cache_dir=cache_dir,
                                                       teacher=cfg.prompt_teacher)
        else:
            prompts, provenance = np.asarray(label_prompts, dtype=np.float32), {"template": cfg.prompt_template, "source": "given"}
        if prompts.shape != features.image.shape:
            raise FeatureError(f"label-prompt features have shape {prompts.shape}; expected {features.image.shape}")
        fit_idx, val_idx = np.asarray(split.fit), np.asarray(split.val)
        if len(fit_idx) < 2 or len(val_idx) < 1:
            raise DataError(f"soda needs >= 2 fit and >= 1 val items; split has fit={len(fit_idx)}, val={len(val_idx)}")
        if features.labels[fit_idx].sum() == 0:
            raise DataError("soda needs labelled fit items: every label row of split.fit is empty")

        def t(a: np.ndarray, rows: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a[rows], dtype=np.float32))

        xi, xp, xt, y = (t(a, fit_idx) for a in (features.image, prompts, features.text, features.labels))
        vi, vp, vt, vy = (t(a, val_idx) for a in (features.image, prompts, features.text, features.labels))
        rel_val = relevance(vy.numpy(), y.numpy())  # bool [n_val, n_fit], for every validation
        width = features.width
        heads = {k: HashHead(width, cfg.n_bits, cfg.hidden, cfg.dropout) for k in ("image", "prompt", "text")}
        if cfg.standardize:
            for k, x in (("image", xi), ("prompt", xp), ("text", xt)):
                heads[k].standardize_with(x)

        # ---- stage 1: image head + label-prompt head
        loss1 = SodaTeacherLoss(cfg.theta_scale, cfg.pair_weighting, cfg.s1_cross_weight, cfg.s1_intra_weight,
                                cfg.s1_align_weight, cfg.s1_quant_weight, cfg.s1_balance_weight)

        def step1(idx: np.ndarray) -> dict:
            b = torch.from_numpy(idx)
            s = ((y[b] @ y[b].T) > 0).float()
            return loss1(heads["image"](xi[b]), heads["prompt"](xp[b]), s)

        def eval1() -> float:
            qi, di = heads["image"].codes(vi).numpy(), heads["image"].codes(xi).numpy()
            scores = {}
            sel = cfg.stage1.select_on
            if "i2i" in sel:
                scores["i2i"] = hamming_map(qi, di, rel=rel_val)
            if sel in ("i2p", "cross", "i2i+cross"):
                scores["i2p"] = hamming_map(qi, heads["prompt"].codes(xp).numpy(), rel=rel_val)
            if sel in ("p2i", "cross", "i2i+cross"):
                scores["p2i"] = hamming_map(heads["prompt"].codes(vp).numpy(), di, rel=rel_val)
            return float(np.mean(list(scores.values())))

        info1 = run_stage({"image": heads["image"], "prompt": heads["prompt"]}, step1, eval1, len(fit_idx),
                          cfg.stage1, rng, "soda stage 1 (image + prompt)", show, dp=data_parallel)

        # ---- stage 2: text head against the fixed image Hamming space
        b_img = heads["image"].codes(xi)
        b_img_val = heads["image"].codes(vi).numpy()
        target = {"prompt": heads["prompt"].codes(xp), "image": b_img, "none": None}[cfg.s2_align_target]
        loss2 = SodaStudentLoss(cfg.theta_scale, cfg.pair_weighting, cfg.s2_lik_weight, cfg.s2_align_weight, cfg.s2_quant_weight)

        # S over all fit pairs, precomputed when it fits in memory (bool [n_fit, n_fit])
        s_all = ((y @ y.T) > 0) if cfg.s2_negatives == "all" and len(fit_idx) <= _MAX_PRECOMPUTED_S else None

        def step2(idx: np.ndarray) -> dict:
            b = torch.from_numpy(idx)
            if cfg.s2_negatives == "all":
                cols = torch.from_numpy(rng.choice(len(fit_idx), cfg.s2_anchors, replace=False)) \
                    if 0 < cfg.s2_anchors < len(fit_idx) else slice(None)
                sim = s_all[b] if s_all is not None else (y[b] @ y.T) > 0
                db, s = b_img[cols], sim[:, cols].float()
            else:
                db, s = b_img[b], ((y[b] @ y[b].T) > 0).float()
            return loss2(heads["text"](xt[b]), db, s, None if target is None else target[b])

        def eval2() -> float:
            scores = {}
            sel = cfg.stage2.select_on
            if sel in ("i2t", "cross"):
                scores["i2t"] = hamming_map(b_img_val, heads["text"].codes(xt).numpy(), rel=rel_val)
            if sel in ("t2i", "cross"):
                scores["t2i"] = hamming_map(heads["text"].codes(vt).numpy(), b_img.numpy(), rel=rel_val)
            return float(np.mean(list(scores.values())))

        info2 = run_stage({"text": heads["text"]}, step2, eval2, len(fit_idx), cfg.stage2, rng, "soda stage 2 (text)", show,
                          dp=data_parallel)

        self.heads_ = heads
        self._bind_features(features)
        self.fit_info_ = {
            "prompts": provenance,
            "n_fit": int(len(fit_idx)),
            "n_val": int(len(val_idx)),
            "selection": "mAP@all, split.val queries vs split.fit database (Hamming)",
            "stage1": info1,
            "stage2": info2,
            "train_seconds": {"stage1": info1["train_seconds"], "stage2": info2["train_seconds"]},
            # per-stage summary under the keys generic tools read (train.json's epoch_policy)
            "kept_epoch": {"stage1": info1["kept_epoch"], "stage2": info2["kept_epoch"]},
            "kept_because": f"stage 1: {info1['kept_because']} ({info1['select_on']}); "
                            f"stage 2: {info2['kept_because']} ({info2['select_on']})",
            "stop_reason": {"stage1": info1["stop_reason"], "stage2": info2["stop_reason"]},
            "epochs_run": {"stage1": info1["epochs_run"], "stage2": info2["epochs_run"]},
            "budget": combine_budgets({"stage1": info1["budget"], "stage2": info2["budget"]},
                                      note="stage 1 (image codes) then stage 2 (text codes), each early-stopped on split.val"),
            "image_bit_balance": float(np.abs(b_img.numpy().mean(0)).mean()),
        }
        return self

    # ------------------------------------------------------------------ encode
    def encode(self, modality: str, features: np.ndarray, role: str = "database") -> Encoded:
        """Binary codes of ``features [n, D]``: image -> stage-1 head, text -> stage-2 head.

        ``role`` does not matter (queries and database items get the same codes).
        """
        import torch

        self.check_encode_args(modality, role, tuple(_MODALITY_HEAD))
        feats = self.check_features(modality, features)
        codes = self.heads_[_MODALITY_HEAD[modality]].codes(torch.from_numpy(np.ascontiguousarray(feats))).numpy()
        return Encoded("binary", pack_bits(codes > 0), self.n_bits)

    # ------------------------------------------------------------------ persistence
    def state_tensors(self) -> dict[str, Any]:
        return {f"{head}.{k}": v for head, m in self.heads_.items() for k, v in m.state_dict().items()}

    def set_state(self, tensors: dict[str, Any], meta: dict[str, Any], directory: Path) -> None:
        from distilhash.methods.soda.nets import HashHead

        if self.feature_width_ is None:
            raise ConfigError(f"{directory / 'method.json'}: 'feature_width' is missing")
        heads = {}
        for head in ("image", "prompt", "text"):
            m = HashHead(self.feature_width_, self.n_bits, self.config.hidden, self.config.dropout)
            state = {k[len(head) + 1 :]: v for k, v in tensors.items() if k.startswith(head + ".")}
            try:
                m.load_state_dict(state)
            except RuntimeError as exc:
                raise ConfigError(f"{directory}: weights of head {head!r} do not match the config: {exc}") from exc
            heads[head] = m.eval()
        self.heads_ = heads
