"""Fitting ``lite0-tuned``: fine-tune Lite0's last stage(s) and the heads on split.fit pairs, select on split.val.

Warm start: the heads of a fitted ``lite0-minilm`` teacher (``base``, same image size) and Lite0's
ImageNet weights, so epoch 0 *is* the base teacher. The frozen front (stem .. stage 4) runs once
per training image; its maps (float16 ``[n, 112, S/16, S/16]``) are cached in
``$DISTILHASH_HOME/teachers/cache/lite0map4-<dataset hash>-<rows hash>-<Lite0 sha>-s<S>.npy``.
Each epoch then trains stages ``from_stage``..6, the head conv and both heads with the symmetric
InfoNCE loss (batch-norm statistics frozen), AdamW, cosine schedule; augmentation ``flip="feature"``
mirrors a random half of the cached maps left-right (the drawings' own flips are not computed:
that would run the frozen front a second time).

Selection, all on ``split.val`` pairs without labels: the epoch (0 = the base teacher) with the
highest val MRR of the heads; then the ImageNet prior's ``w``, ``T`` and template by val MRR over
:data:`~.lite0_prior.GRID` (:func:`~.lite0_prior.prior_grid`). No query item is encoded.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TuneConfig", "fit_lite0_tuned", "stage_maps", "fit_tuned_command"]


@dataclass
class TuneConfig:
    """Hyperparameters of ``distilhash teacher fit --kind lite0-tuned``.

    Attributes:
        base: the fitted ``lite0-minilm`` teacher whose heads (and image size) start the fit.
        from_stage: first trained stage (5: stages 5-6 + head conv; 6: stage 6 + head conv).
        epochs: epochs after the warm start (each validated; the best of 0..epochs is kept).
        batch_size: pairs per step (in-batch negatives).
        lr_tail / lr_heads: AdamW learning rates of the Lite0 tail and of the heads (cosine decay).
        weight_decay: AdamW weight decay of the heads' matrices (the tail has none).
        flip: ``"feature"`` (mirror a random half of the cached stage-4 maps each step) or ``"none"``.
        seed: seed of shuffling and flips.
        threads: torch threads (None: the free cores).
        tower_batch: Lite0 batch size for the frozen front.
    """

    base: str = "lite0-minilm:openclipart-224"
    from_stage: int = 6
    epochs: int = 12
    batch_size: int = 256
    lr_tail: float = 1e-4
    lr_heads: float = 3e-4
    weight_decay: float = 0.01
    flip: str = "feature"
    seed: int = 0
    threads: int | None = None
    tower_batch: int = 16

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stage_maps(ds, rows: np.ndarray, size: int, cache_dir: Path, backbone=None, batch_size: int = 16,
               progress: bool = True) -> np.ndarray:
    """Lite0 feature maps after stage 4, float16 ``[len(rows), 112, size/16, size/16]``, cached per (dataset, rows, size)."""
    import torch
    from tqdm.auto import tqdm

    from distilhash.io_utils import atomic_save_npy
    from distilhash.teachers.efficientnet_lite0 import Lite0Backbone, weights_fingerprint
    from distilhash.teachers.lite0_tuned import FRONT_STAGE

    rows = np.asarray(rows)
    key = hashlib.sha256(rows.astype(np.int64).tobytes()).hexdigest()[:16]
    path = Path(cache_dir) / f"lite0map4-{ds.content_hash()[:16]}-{key}-{weights_fingerprint()}-s{size}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r")
    backbone = backbone or Lite0Backbone().frozen()
    out = []
    with tqdm(total=len(rows), desc=f"Lite0 stem..stage 4 ({size} px)", unit="img", disable=not progress) as bar:
        for s in range(0, len(rows), batch_size):
            pix = torch.from_numpy(np.ascontiguousarray(ds.images.array(rows[s:s + batch_size], size)))
            with torch.no_grad():
                out.append(backbone.forward_until(pix, FRONT_STAGE).half().numpy())
            bar.update(len(pix))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(path, np.concatenate(out))
    return np.load(path, mmap_mode="r")


def _to_input(tail, h: np.ndarray, batch: int = 64):
    """Cached float16 stage-4 maps -> float32 tensor of the tail's input (frozen stages between run once)."""
    import torch

    parts = []
    for s in range(0, len(h), batch):
        with torch.no_grad():
            parts.append(tail.to_tail_input(torch.from_numpy(np.asarray(h[s:s + batch], dtype=np.float32))))
    return torch.cat(parts)


def _train(tail, heads, x_fit, v_fit, x_val, v_val, config: TuneConfig, bar) -> dict[str, Any]:
    """Epochs 1..config.epochs; returns history and the best (by val MRR, epoch 0 included) states."""
    import torch
    import torch.nn.functional as F

    from distilhash.epochs import LoopConfig, run_epochs
    from distilhash.teachers.lite0_fit import contrastive_step, val_scores

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    log_tau = torch.nn.Parameter(torch.tensor(math.log(0.07)))
    tail_params = list(tail.module.parameters())
    for p in tail_params + list(heads.parameters()):
        p.requires_grad_(True)
    opt = torch.optim.AdamW([
        {"params": tail_params, "lr": config.lr_tail, "weight_decay": 0.0},
        {"params": [p for p in heads.parameters() if p.ndim > 1], "lr": config.lr_heads, "weight_decay": config.weight_decay},
        {"params": [p for p in heads.parameters() if p.ndim <= 1] + [log_tau], "lr": config.lr_heads, "weight_decay": 0.0}])
    n = len(x_fit)
    bs = min(config.batch_size, n)
    steps = max(1, n // bs)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps * config.epochs))
    target = torch.arange(bs)
    history: list[dict[str, Any]] = []
    run: dict[str, Any] = {"loss": None}

    def validate() -> float:  # the epoch's record (epoch 0 = the warm start) and its val MRR
        tail.module.eval()
        heads.eval()
        with torch.no_grad():
            u = torch.cat([tail.module(x_val[s:s + 128]) for s in range(0, len(x_val), 128)])
            z = F.normalize(heads.image(u), dim=-1).numpy()
            t = F.normalize(heads.text(v_val), dim=-1).numpy()
        history.append({"epoch": len(history), "train_loss": run["loss"], "tau": float(log_tau.detach().exp()),
                        **val_scores(z, t)})
        if bar is not None:
            bar.set_postfix(epoch=history[-1]["epoch"], val_mrr=f"{history[-1]['val_mrr']:.4f}")
        return history[-1]["val_mrr"]

    def train_epoch(epoch: int) -> dict[str, float]:
        tail.module.eval()  # batch norm of the tail stays in eval mode: ImageNet statistics, too few drawings to re-estimate
        heads.train()
        order = torch.from_numpy(rng.permutation(n))
        losses = []
        for b in range(steps):
            idx = order[b * bs:(b + 1) * bs]
            x = x_fit[idx]
            if config.flip == "feature":
                flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
                x = torch.where(flip[:, None, None, None], torch.flip(x, dims=[3]), x)
            losses.append(contrastive_step(heads.image(tail.module(x)), heads.text(v_fit[idx]), log_tau, target, opt, sched))
            if bar is not None:
                bar.update(1)
        run["loss"] = float(np.mean(losses))
        return {"total": run["loss"]}

    # the tail and the heads are saved and restored together; every epoch is validated, the best of 0..epochs kept
    both = torch.nn.ModuleDict({"tail": tail.module, "heads": heads})
    result = run_epochs(both, train_epoch, validate, LoopConfig(epochs=config.epochs, patience=0, min_delta=0.0,
                                                                progress=False, validate_start=True))
    tail.module.eval()
    heads.eval()
    for p in tail_params + list(heads.parameters()):
        p.requires_grad_(False)
    return {"history": history, "epoch": result.best_epoch, "val_mrr": result.best_score}


def fit_lite0_tuned(dataset: str, out_dir: str | Path, config: TuneConfig | None = None,
                    progress: bool = True) -> dict[str, Any]:
    """Fine-tune on split.fit pairs of ``dataset``, select on split.val, save under ``out_dir``; returns the fit record."""
    import torch
    from safetensors.torch import save
    from tqdm.auto import tqdm

    from distilhash.data.store import open_prepared
    from distilhash.errors import DataError
    from distilhash.io_utils import atomic_write_bytes, atomic_write_json
    from distilhash.paths import teachers_dir
    from distilhash.teachers.lite0_fit import fit_val_pairs, towers_record
    from distilhash.teachers.lite0_minilm import HEADS_FILE, Lite0MiniLMTeacher
    from distilhash.teachers.lite0_prior import imagenet_class_names, prior_grid
    from distilhash.teachers.lite0_tuned import CONFIG_FILE, KIND, TAIL_FILE, Lite0Tail
    from distilhash.teachers.minilm_text import cached_encode
    from distilhash.teachers.registry import create_teacher
    from distilhash.threads import fit_threads

    config = config or TuneConfig()
    if config.flip not in ("none", "feature"):
        raise DataError(f"flip={config.flip!r}: expected 'none' or 'feature'")
    t_start = time.time()
    prev = torch.get_num_threads()
    threads = fit_threads(config.threads)
    torch.set_num_threads(threads)
    try:
        base = create_teacher(config.base)
        if not isinstance(base, Lite0MiniLMTeacher):
            raise DataError(f"base={config.base!r}: expected a fitted lite0-minilm teacher (its heads start the fit)")
        ds, split = open_prepared(dataset)
        train, fit_pos, val_pos = fit_val_pairs(ds, split, "the tuned teacher")
        cache = teachers_dir() / "cache"
        size = base.image_size
        t0 = time.time()
        h = stage_maps(ds, train, size, cache, base.image_tower, config.tower_batch, progress)
        t_front = time.time() - t0
        v = torch.from_numpy(np.ascontiguousarray(cached_encode([ds.texts[i] for i in train], base.text, cache, progress)))
        tail = Lite0Tail(base.image_tower, config.from_stage)
        x = _to_input(tail, h)
        heads = copy.deepcopy(base.heads)
        steps = max(1, len(fit_pos) // min(config.batch_size, len(fit_pos)))
        t1 = time.time()
        with tqdm(total=steps * config.epochs, desc=f"fine-tune Lite0 stages {config.from_stage}-6 + heads", unit="step",
                  disable=not progress) as bar:
            fp, vp = torch.from_numpy(fit_pos), torch.from_numpy(val_pos)
            run = _train(tail, heads, x[fp], v[fp], x[vp], v[vp], config, bar)
        t_train = time.time() - t1
        with torch.no_grad():
            u_t, u_f = tail.pooled(torch.from_numpy(np.asarray(h[val_pos], dtype=np.float32)))
            head = heads.image(torch.from_numpy(u_t)).numpy()
            logits = base.image_tower.net._fc(torch.from_numpy(u_f)).numpy()
            t_val = torch.nn.functional.normalize(heads.text(v[torch.from_numpy(val_pos)]), dim=-1).numpy()

        def class_text_of(template: str) -> np.ndarray:
            with torch.no_grad():
                e = torch.from_numpy(base.text.encode([template.format(c) for c in imagenet_class_names()]))
                return torch.nn.functional.normalize(heads.text(e), dim=-1).numpy()

        best, grid = prior_grid(head, logits, class_text_of, t_val)
        fit_info = {
            "kept": {"from_stage": config.from_stage, "epoch": run["epoch"], "val_mrr_heads": run["val_mrr"],
                     "prior": {k: best[k] for k in ("weight", "temperature", "template")}, "val_mrr": best["val_mrr"]},
            "kept_because": "epoch (0 = the warm start) by the highest val MRR of the heads on split.val pairs, then the "
                            "prior's w/T/template by the highest val MRR over its grid (no labels, no query item)",
            "history": run["history"], "prior_grid": grid,
            "warm_start": {"spec": config.base, "fingerprint": base.fingerprint},
            "augmentation": "left-right mirror of a random half of the cached stage-4 maps per step"
                            if config.flip == "feature" else "none",
            "dataset": {"name": ds.name, "content_hash": ds.content_hash(), "split_hash": split.hash},
            "n_fit_pairs": int(len(fit_pos)), "n_val_pairs": int(len(val_pos)),
            "pairs_used": "split.train image-caption pairs only (fit = train minus val, val for selection); no query "
                          "item; no label read",
            **towers_record(size, base.text),
            "timing_s": {"frozen_front": t_front, "train": t_train, "total": time.time() - t_start},
            "loadavg_end": list(os.getloadavg()), "threads": threads,
        }
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / TAIL_FILE, save({k: t.contiguous().float() for k, t in tail.module.state_dict().items()},
                                                 metadata={"kind": KIND}))
        atomic_write_bytes(out / HEADS_FILE, save({k: t.contiguous().float() for k, t in heads.state_dict().items()},
                                                  metadata={"kind": KIND}))
        atomic_write_json(out / CONFIG_FILE, {"kind": KIND, "format_version": 1, "from_stage": config.from_stage,
                                              "image_size": int(size), "heads": heads.config.to_dict(),
                                              "prior": fit_info["kept"]["prior"], "fit": config.to_dict(),
                                              "fit_info": fit_info})
        return fit_info
    finally:
        torch.set_num_threads(prev)


def fit_tuned_command(dataset: str | None, out: Path | None, overrides: dict, threads: int | None, progress: bool,
                      say) -> tuple[dict[str, Any], Path]:
    """``distilhash teacher fit --kind lite0-tuned --dataset NAME [--set base=SPEC ...]`` (a ``FIT_KINDS`` entry)."""
    from distilhash.errors import ConfigError
    from distilhash.teachers.lite0_tuned import tuned_dir

    if not dataset:
        raise ConfigError("--kind lite0-tuned needs --dataset (its split.fit pairs train, its split.val pairs select)")
    valid = TuneConfig().to_dict()
    unknown = set(overrides) - set(valid)
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; valid: {sorted(valid)}")
    config = TuneConfig(**{**valid, **overrides, "threads": threads})
    target = Path(out) if out is not None else tuned_dir(Path(dataset).name)
    say(f"fine-tuning Lite0 from stage {config.from_stage} on {dataset}, warm start {config.base} -> {target}")
    info = fit_lite0_tuned(dataset, target, config, progress=progress)
    k = info["kept"]
    say(f"kept epoch {k['epoch']} (val MRR of the heads {k['val_mrr_heads']:.4f}), prior {k['prior']} (val MRR "
        f"{k['val_mrr']:.4f}); total {info['timing_s']['total']:.0f} s")
    spec = f"lite0-tuned:{target}" if out is not None else f"lite0-tuned:{Path(dataset).name}"
    say(f"saved teacher to {target} (use it as --teacher {spec})")
    return info, target
