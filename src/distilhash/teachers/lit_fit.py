"""Fitting the offline teacher's image tower against the locked MiniLM text tower (LiT style).

The text tower is frozen, so the corpus captions are embedded once (and cached on disk); training
then touches the image tower only. Loss on a batch of B image-caption pairs (symmetric InfoNCE)::

    z_i = f(x_i) / ||f(x_i)||,  t_j = MiniLM(caption_j)  (fixed, unit norm)
    s_ij = z_i . t_j / tau
    L = 1/2 [ CE(s_i., i) + CE(s_.j, j) ]    averaged over the batch

``tau`` is learnable (as log tau) when ``learn_temperature``. The corpus is the EmojiScenes
pretraining corpus (source ``emoji-pretrain``: other seed, no labels, disjoint from the benchmark);
a held-out part of the *corpus* (never benchmark items) picks the epoch kept (lowest val loss).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.image_augment import augment_batch
from distilhash.losses.infonce import symmetric_infonce
from distilhash.teachers.image_tower import ImageTowerConfig
from distilhash.threads import fit_threads

__all__ = ["LiTConfig", "fit_lit", "corpus_text_embeddings", "load_corpus"]


@dataclass
class LiTConfig:
    """Hyperparameters of ``distilhash teacher fit`` (defaults: the committed teacher).

    Attributes:
        corpus_source: dataset source of the pretraining pairs (must not be the benchmark).
        n_items: corpus size (image-caption pairs generated).
        corpus_seed: generator seed of the corpus; None = the source's own default.
        n_val: corpus pairs held out to choose the epoch (lowest val InfoNCE).
        epochs: passes over the training pairs.
        batch_size: pairs per step (also the number of in-batch negatives).
        lr: peak AdamW learning rate (linear warmup over ``warmup_steps``, cosine decay to 0).
        weight_decay: AdamW weight decay.
        warmup_steps: linear warmup length.
        temperature: initial softmax temperature tau.
        learn_temperature: learn log tau (clamped to [0.01, 1]).
        flip: random horizontal flips.
        max_shift: random translation of up to this many pixels (reflect padding).
        seed: seed of initialisation, shuffling and augmentation.
        threads: torch intra-op threads during the fit; None = :func:`distilhash.threads.fit_threads` (the free cores).
        max_minutes: wall-time budget of the whole fit, checked every step (a cut epoch is still
            validated; the best epoch so far is kept); None = no limit.
        tower: the image tower's shape.
    """

    corpus_source: str = "emoji-pretrain"
    n_items: int = 30000
    corpus_seed: int | None = None
    n_val: int = 1000
    epochs: int = 6
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    temperature: float = 0.05
    learn_temperature: bool = True
    flip: bool = True
    max_shift: int = 4
    seed: int = 0
    threads: int | None = None
    max_minutes: float | None = 14.0
    tower: ImageTowerConfig = field(default_factory=ImageTowerConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LiTConfig:
        d = dict(d)
        tower = ImageTowerConfig.from_dict(d.pop("tower", {}) or {})
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(tower=tower, **known)


def load_corpus(config: LiTConfig):
    """Generate the pretraining corpus (``create_source_dataset(config.corpus_source, ...)``)."""
    from distilhash.data.sources import create_source_dataset

    opts: dict[str, Any] = {"n_items": config.n_items}
    if config.corpus_seed is not None:
        opts["seed"] = config.corpus_seed
    return create_source_dataset(config.corpus_source, **opts)


def corpus_text_embeddings(texts: list[str], text_encoder, cache_dir: Path | None, progress: bool = True) -> np.ndarray:
    """MiniLM embeddings of ``texts`` ``[N, 384]``, cached under ``cache_dir`` by content hash."""
    from distilhash.teachers.minilm_text import cached_encode

    return cached_encode(texts, text_encoder, cache_dir, progress)


def _evaluate(model, images, text_emb, batch: int = 500) -> dict[str, float]:
    """Val InfoNCE (tau fixed at 0.05 for comparability) and i2t recall@1 among val captions."""
    import torch

    model.eval()
    with torch.no_grad():
        z = torch.cat([model(torch.from_numpy(images[s:s + batch])) for s in range(0, len(images), batch)])
        t = torch.from_numpy(text_emb)
        loss = float(symmetric_infonce(z, t, torch.tensor(math.log(0.05))))
        r1 = float((torch.argmax(z @ t.T, dim=1) == torch.arange(len(z))).float().mean())
    return {"val_loss": loss, "val_i2t_r1": r1}


def fit_lit(
    config: LiTConfig,
    out_dir: str | Path,
    corpus=None,
    text_encoder=None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train the image tower and save the teacher under ``out_dir``; returns the fit record.

    Args:
        config: hyperparameters.
        out_dir: where ``image_tower.safetensors`` and ``config.json`` are written.
        corpus: a CrossModalDataset of image-caption pairs (default: :func:`load_corpus`).
        text_encoder: a :class:`~distilhash.teachers.minilm_text.MiniLMTextEncoder` (default: packaged MiniLM).
        cache_dir: where corpus text embeddings are cached (default ``$DISTILHASH_HOME/teachers/cache``).
    """
    import torch
    from tqdm.auto import tqdm

    from distilhash.paths import teachers_dir
    from distilhash.teachers.image_tower import ImageTower
    from distilhash.teachers.minilm_lit import save_lit_teacher
    from distilhash.teachers.minilm_text import MiniLMTextEncoder
    from distilhash.epochs import LoopConfig, run_epochs

    t_start = time.time()
    prev_threads = torch.get_num_threads()
    threads = fit_threads(config.threads)
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        if corpus is None:
            corpus = load_corpus(config)
        if corpus.texts is None:
            from distilhash.errors import DataError

            raise DataError(f"pretraining corpus {corpus.name!r} has no caption strings")
        text_encoder = text_encoder or MiniLMTextEncoder()
        cache = Path(cache_dir) if cache_dir is not None else teachers_dir() / "cache"
        t_text = time.time()
        text_emb = corpus_text_embeddings(list(corpus.texts), text_encoder, cache, progress)
        t_text = time.time() - t_text
        t_img = time.time()
        images = corpus.images.array(np.arange(len(corpus)), config.tower.image_size)
        t_img = time.time() - t_img

        n = len(corpus)
        n_val = min(config.n_val, n // 5)
        perm = rng.permutation(n)
        val_idx, train_idx = np.sort(perm[:n_val]), perm[n_val:]
        model = ImageTower(config.tower)
        log_tau = torch.nn.Parameter(torch.tensor(math.log(config.temperature)), requires_grad=config.learn_temperature)
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (no_decay if p.ndim <= 1 else decay).append(p)
        groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if config.learn_temperature:
            groups.append({"params": [log_tau], "weight_decay": 0.0})
        opt = torch.optim.AdamW(groups, lr=config.lr)
        steps_per_epoch = max(1, len(train_idx) // config.batch_size)
        total = steps_per_epoch * config.epochs

        def lr_at(step: int) -> float:
            if step < config.warmup_steps:
                return config.lr * (step + 1) / config.warmup_steps
            frac = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
            return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

        text_t = torch.from_numpy(text_emb)
        history: list[dict[str, float]] = []
        run: dict[str, Any] = {"step": 0, "losses": [], "out_of_time": False}
        t_train = time.time()
        # Time budget for the whole fit; a reserve is left for the last validation pass and saving.
        budget_s = None if config.max_minutes is None else 60 * config.max_minutes
        deadline = None if budget_s is None else t_start + budget_s - min(20.0, 0.05 * budget_s)
        bar = tqdm(total=total, desc="fit minilm-lit image tower", unit="step", disable=not progress)

        def train_epoch(epoch: int) -> dict[str, float] | None:  # epoch counts from 1; the record from 0
            order = rng.permutation(train_idx)
            losses = run["losses"] = []
            for b in range(steps_per_epoch):
                if deadline is not None and time.time() > deadline:
                    run["out_of_time"] = True  # the budget is checked every step: the fit never overruns it by an epoch
                    break
                idx = np.sort(order[b * config.batch_size:(b + 1) * config.batch_size])
                x = augment_batch(torch.from_numpy(images[idx]), rng, config.flip, config.max_shift)
                for g in opt.param_groups:
                    g["lr"] = lr_at(run["step"])
                loss = symmetric_infonce(model(x), text_t[idx], log_tau)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    log_tau.clamp_(math.log(0.01), 0.0)
                losses.append(float(loss.detach()))
                run["step"] += 1
                bar.update(1)
                bar.set_postfix(epoch=epoch - 1, loss=f"{np.mean(losses[-20:]):.3f}", tau=f"{float(log_tau.detach().exp()):.3f}")
            return {"total": float(np.mean(losses))} if losses else None

        def score() -> float:
            losses = run["losses"]
            metrics = _evaluate(model, images[val_idx], text_emb[val_idx])
            history.append({"epoch": len(history), "steps": len(losses), "train_loss": float(np.mean(losses)),
                            "tau": float(log_tau.detach().exp()), **metrics, "elapsed_s": time.time() - t_start})
            return -metrics["val_loss"]

        loop = LoopConfig(epochs=config.epochs, patience=0, min_delta=0.0, progress=False)
        result = run_epochs(model, train_epoch, score, loop,
                            should_stop=lambda epoch: "time budget" if run["out_of_time"] else None)
        stopped_early = run["out_of_time"]
        bar.close()
        if result.best_epoch < 1:
            from distilhash.errors import ConfigError

            raise ConfigError(f"LiTConfig.max_minutes={config.max_minutes}: the time budget ran out before the first "
                              f"training step ({time.time() - t_start:.0f} s went to embedding and rendering the corpus); "
                              "raise max_minutes or set it to none")
        best = {"epoch": result.best_epoch - 1}
        fit_info = {
            "kept_epoch": best["epoch"],
            "kept_because": "lowest InfoNCE on held-out pretraining-corpus pairs (no benchmark item seen)",
            "stopped_by_time_budget": stopped_early,
            "history": history,
            "n_train_pairs": int(len(train_idx)),
            "n_val_pairs": int(n_val),
            "corpus": {"name": corpus.name, "content_hash": corpus.content_hash(), "n_items": n,
                       "meta": {k: v for k, v in corpus.meta.items() if isinstance(v, (str, int, float, bool))}},
            "text_tower": {"path": str(text_encoder.path), "fingerprint": text_encoder.fingerprint()},
            "timing_s": {"text_embeddings": t_text, "render_images": t_img, "train": time.time() - t_train,
                         "total": time.time() - t_start},
            "loadavg_end": list(os.getloadavg()),
            "threads": threads,
            "n_parameters": model.n_parameters(),
        }
        save_lit_teacher(out_dir, model, config, fit_info)
        return fit_info
    finally:
        torch.set_num_threads(prev_threads)


def describe(fit_info: dict[str, Any]) -> str:
    """One line per epoch of a fit record."""
    lines = [json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in h.items()}) for h in fit_info["history"]]
    return "\n".join(lines)
