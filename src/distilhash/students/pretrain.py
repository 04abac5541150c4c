"""Label-free warm start of the small image student on the EmojiScenes pretraining corpus.

The paper's student starts from an ImageNet-pretrained VGG16; torchvision is not available here,
so our analogue pretrains the same :class:`~distilhash.students.image_cnn.SmallCNN` trunk that
LCDH uses on the **pretraining corpus** (source ``emoji-pretrain``: other seed, no labels, no
benchmark item), with a linear projection ``P`` (trunk width -> 384) on top::

    z_i = P(cnn(x_i)) / ||P(cnn(x_i))||                                  [B, 384]
    u_i = teacher image tower(x_i)   (frozen, unit rows; "distill")
    t_i = MiniLM(caption_i)          (frozen, unit rows; "lit")
    L = distill_weight * mean_i (1 - z_i . u_i)
      + lit_weight     * InfoNCE(z, t; tau)      (symmetric, as the teacher's own LiT fit)

``objective`` picks ``distill``, ``lit`` or ``distill+lit`` (default). A held-out part of the
*corpus* (``n_val`` pairs, never benchmark items) picks the epoch kept (lowest val loss). The
trunk and projection are saved to a directory (``trunk.safetensors`` + ``pretrain.json``) that
LCDH loads with ``--set image_init=pretrained`` (default directory, fitted on first use, then
re-used) or ``--set image_init=pretrained:PATH``.

Run it alone::

    DISTILHASH_HOME=... distilhash student pretrain [--out DIR] [--set epochs=8 ...]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distilhash.config_dataclass import ConfigData
from distilhash.errors import ConfigError, DataError

__all__ = ["StudentPretrainConfig", "OBJECTIVES", "pretrain_student", "ensure_pretrained", "load_pretrained_trunk",
           "default_pretrain_dir", "pretrain_summary", "PRETRAIN_FILE", "TRUNK_FILE"]

OBJECTIVES = ("distill", "lit", "distill+lit")
PRETRAIN_FILE = "pretrain.json"
TRUNK_FILE = "trunk.safetensors"


@dataclass
class StudentPretrainConfig(ConfigData):
    """Hyperparameters of the student warm start (module docstring).

    Attributes:
        corpus_source, n_items, corpus_seed, n_val: the pretraining corpus (must not be the benchmark)
            and the corpus pairs held out to pick the epoch.
        objective: ``distill`` | ``lit`` | ``distill+lit``; distill_weight, lit_weight: their weights.
        teacher: teacher spec whose image tower gives the distillation targets (``create_teacher``).
        image_size, channels, stem, patch: the student trunk (must match LCDH's ``image_*`` options).
        width: projection width (the teacher's embedding width, 384).
        epochs, batch_size, lr, weight_decay, warmup_steps: AdamW with linear warmup + cosine decay.
        temperature: InfoNCE tau (fixed).
        flip, max_shift: augmentation (random horizontal flip, translation up to max_shift pixels).
        seed, threads, max_minutes: seed; torch threads; wall-time budget (best epoch so far kept).
    """

    corpus_source: str = "emoji-pretrain"
    n_items: int = 30000
    corpus_seed: int | None = None
    n_val: int = 1000
    objective: str = "distill+lit"
    distill_weight: float = 1.0
    lit_weight: float = 1.0
    teacher: str = "minilm-lit"
    image_size: int = 64
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    stem: str = "patch"
    patch: int = 4
    width: int = 384
    epochs: int = 8
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    temperature: float = 0.05
    flip: bool = True
    max_shift: int = 4
    seed: int = 0
    threads: int = 1
    max_minutes: float | None = 20.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"student pretrain objective {self.objective!r}; expected one of {', '.join(OBJECTIVES)}")
        if self.corpus_source == "emoji-scenes":
            raise ConfigError("student pretraining must not use the benchmark source 'emoji-scenes'; use 'emoji-pretrain'")

    def key(self) -> str:
        """Short hash of the options that change the result (not threads / time budget)."""
        d = {k: v for k, v in self.to_dict().items() if k not in ("threads", "max_minutes")}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


def default_pretrain_dir(config: StudentPretrainConfig) -> Path:
    """``$DISTILHASH_HOME/students/small-cnn-<objective>-<config key>``."""
    from distilhash.paths import home

    return home() / "students" / f"small-cnn-{config.objective.replace('+', '-')}-{config.key()}"


def _teacher_image_embeddings(teacher_spec: str, images: np.ndarray, corpus_hash: str, cache_dir: Path,
                              progress: bool) -> tuple[np.ndarray, dict[str, Any]]:
    """Teacher image-tower embeddings ``[N, D]`` of the corpus, cached by corpus and teacher weights."""
    from distilhash.io_utils import atomic_save_npy
    from distilhash.teachers.registry import create_teacher
    from distilhash.progress import progress as bar

    teacher = create_teacher(teacher_spec)
    fp = str(teacher.fingerprint or teacher_spec).split("-")[0]
    path = cache_dir / f"teacher-image-{corpus_hash}-{fp}.npy"
    info = {"spec": teacher_spec, "fingerprint": fp, "cache": str(path)}
    if path.is_file():
        arr = np.load(path)
        if arr.shape[0] == len(images):
            return arr.astype(np.float32), info | {"cached": True}
    out = []
    for s in bar(range(0, len(images), 512), desc="teacher image embeddings of the corpus", enabled=progress):
        out.append(np.asarray(teacher.encode_images(images[s:s + 512], batch_size=256), np.float32))
    arr = np.concatenate(out)
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(path, arr)
    return arr, info | {"cached": False}


class _Pretrainer:
    """Trunk + projection; the loss of a batch (module docstring)."""

    def __init__(self, config: StudentPretrainConfig) -> None:
        import torch

        from distilhash.students.image_cnn import SmallCNN

        self.c = config
        self.trunk = SmallCNN(config.image_size, tuple(config.channels), 0.0, config.stem, config.patch)
        self.proj = torch.nn.Linear(self.trunk.out_dim, config.width)
        self.params = list(self.trunk.parameters()) + list(self.proj.parameters())

    def embed(self, x):
        import torch.nn.functional as F

        return F.normalize(self.proj(self.trunk(x)), dim=1)

    def loss(self, x, u, t) -> dict[str, Any]:
        import torch

        from distilhash.losses.infonce import symmetric_infonce

        z = self.embed(x)
        terms: dict[str, Any] = {}
        if "distill" in self.c.objective:
            terms["distill"] = self.c.distill_weight * (1.0 - (z * u).sum(1)).mean()
        if "lit" in self.c.objective:
            terms["lit"] = self.c.lit_weight * symmetric_infonce(z, t, torch.tensor(math.log(self.c.temperature)))
        terms["total"] = sum(terms.values())
        return terms

    def train(self, mode: bool) -> None:
        self.trunk.train(mode)
        self.proj.train(mode)


def pretrain_student(config: StudentPretrainConfig, out_dir: str | Path, corpus=None, progress: bool = True,
                     cache_dir: str | Path | None = None, targets: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Fit the trunk on the pretraining corpus and save it under ``out_dir``; returns the fit record.

    Args:
        config: hyperparameters.
        out_dir: where ``trunk.safetensors`` (``trunk.*`` and ``proj.*`` tensors) and ``pretrain.json`` go.
        corpus: a CrossModalDataset of image-caption pairs (default: the ``corpus_source`` generated
            with ``n_items`` / ``corpus_seed``); it must not be the benchmark.
        cache_dir: where the corpus' caption and teacher-image embeddings are cached
            (default ``$DISTILHASH_HOME/teachers/cache``).
        targets: precomputed unit-row targets aligned with the corpus, ``{"image": [N, width]}`` (teacher
            image embeddings, for ``distill``) and/or ``{"text": [N, width]}`` (caption embeddings, for
            ``lit``); missing ones are computed (and cached).
    """
    import torch

    from distilhash.io_utils import atomic_write_json
    from distilhash.paths import teachers_dir
    from distilhash.image_augment import augment_batch
    from distilhash.teachers.lit_fit import LiTConfig, corpus_text_embeddings, load_corpus
    from distilhash.training.checkpoint import save_tensors
    from distilhash.epochs import LoopConfig, run_epochs
    from distilhash.progress import progress as bar

    t_start = time.time()
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, config.threads))
    try:
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        if corpus is None:
            corpus = load_corpus(LiTConfig(corpus_source=config.corpus_source, n_items=config.n_items,
                                           corpus_seed=config.corpus_seed))
        if str(getattr(corpus, "name", "")).startswith("emoji-scenes"):
            raise DataError(f"corpus {corpus.name!r} is the benchmark; the student warm start must use the pretraining corpus")
        if corpus.texts is None and "lit" in config.objective:
            raise DataError(f"pretraining corpus {corpus.name!r} has no captions; use objective='distill'")
        cache = Path(cache_dir) if cache_dir is not None else teachers_dir() / "cache"
        n = len(corpus)
        images = corpus.images.array(np.arange(n), config.image_size)
        corpus_hash = corpus.content_hash()
        targets = targets or {}
        text_emb, u_emb = targets.get("text"), targets.get("image")
        teacher_info: dict[str, Any] | None = {"source": "precomputed targets"} if u_emb is not None else None
        for key, arr in (("text", text_emb), ("image", u_emb)):
            if arr is not None and np.asarray(arr).shape != (n, config.width):
                raise DataError(f"pretraining targets[{key!r}] have shape {np.asarray(arr).shape}; expected ({n}, {config.width})")
        if "lit" in config.objective and text_emb is None:
            from distilhash.teachers.minilm_text import MiniLMTextEncoder

            text_emb = corpus_text_embeddings(list(corpus.texts), MiniLMTextEncoder(), cache, progress)
        if "distill" in config.objective and u_emb is None:
            u_emb, teacher_info = _teacher_image_embeddings(config.teacher, images, corpus_hash, cache, progress)
            if u_emb.shape[1] != config.width:
                raise ConfigError(f"teacher {config.teacher!r} embeds images in {u_emb.shape[1]} dims; set width={u_emb.shape[1]}")
        t_prep = time.time() - t_start
        n_val = min(config.n_val, n // 5)
        perm = rng.permutation(n)
        val_idx, train_idx = np.sort(perm[:n_val]), perm[n_val:]
        model = _Pretrainer(config)
        opt = torch.optim.AdamW(model.params, lr=config.lr, weight_decay=config.weight_decay)
        steps = max(1, len(train_idx) // config.batch_size)
        total = steps * config.epochs

        def lr_at(step: int) -> float:
            if step < config.warmup_steps:
                return config.lr * (step + 1) / config.warmup_steps
            frac = (step - config.warmup_steps) / max(1, total - config.warmup_steps)
            return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

        def tensors(idx):
            u = torch.from_numpy(np.asarray(u_emb[idx], np.float32)) if "distill" in config.objective else None
            t = torch.from_numpy(np.asarray(text_emb[idx], np.float32)) if "lit" in config.objective else None
            return u, t

        def validate() -> dict[str, float]:
            model.train(False)
            out: dict[str, float] = {}
            with torch.no_grad():
                z = torch.cat([model.embed(torch.from_numpy(images[val_idx[s:s + 500]])) for s in range(0, n_val, 500)])
                u, t = tensors(val_idx)
                loss = 0.0
                if u is not None:
                    out["val_cos_teacher"] = float((z * u).sum(1).mean())
                    loss += config.distill_weight * (1 - out["val_cos_teacher"])
                if t is not None:
                    from distilhash.losses.infonce import symmetric_infonce

                    out["val_infonce"] = float(symmetric_infonce(z, t, torch.tensor(math.log(config.temperature))))
                    out["val_i2t_r1"] = float((torch.argmax(z @ t.T, 1) == torch.arange(len(z))).float().mean())
                    loss += config.lit_weight * out["val_infonce"]
            out["val_loss"] = float(loss)
            return out

        history: list[dict[str, Any]] = []
        run: dict[str, Any] = {"step": 0, "losses": [], "stopped": False}
        t_train = time.time()
        pbar = bar(range(total), desc="pretrain student trunk", enabled=progress)
        it = iter(pbar)

        def train_epoch(epoch: int) -> dict[str, float]:  # epoch counts from 1; the record from 0
            model.train(True)
            order = rng.permutation(train_idx)
            losses = run["losses"] = []
            for b in range(steps):
                idx = np.sort(order[b * config.batch_size:(b + 1) * config.batch_size])
                x = augment_batch(torch.from_numpy(images[idx]), rng, config.flip, config.max_shift)
                for g in opt.param_groups:
                    g["lr"] = lr_at(run["step"])
                terms = model.loss(x, *tensors(idx))
                opt.zero_grad(set_to_none=True)
                terms["total"].backward()
                opt.step()
                losses.append(float(terms["total"].detach()))
                run["step"] += 1
                next(it, None)
                pbar.set_postfix(epoch=epoch - 1, loss=f"{np.mean(losses[-20:]):.3f}")
            return {"total": float(np.mean(losses))}

        def score() -> float:
            rec = {"epoch": len(history), "train_loss": float(np.mean(run["losses"])), **validate(),
                   "elapsed_s": time.time() - t_start}
            history.append(rec)
            return -rec["val_loss"]

        def out_of_time(epoch: int) -> str | None:
            if config.max_minutes is None or epoch >= config.epochs:
                return None
            per_epoch = (time.time() - t_train) / epoch
            run["stopped"] = time.time() - t_start + per_epoch > 60 * config.max_minutes
            return f"time budget ({config.max_minutes} min)" if run["stopped"] else None

        net = torch.nn.ModuleDict({"trunk": model.trunk, "proj": model.proj})  # the kept state: trunk.* and proj.*
        loop = LoopConfig(epochs=config.epochs, patience=0, min_delta=0.0, progress=False)
        result = run_epochs(net, train_epoch, score, loop, should_stop=out_of_time)
        stopped = run["stopped"]
        best = {"epoch": result.best_epoch - 1, "state": net.state_dict()}
        pbar.close()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        save_tensors(out / TRUNK_FILE, best["state"])
        info = {
            "kind": "lcdh-student-pretrain", "config": config.to_dict(), "key": config.key(),
            "kept_epoch": best["epoch"],
            "kept_because": "lowest objective on held-out pretraining-corpus pairs (no benchmark item, no label)",
            "stopped_by_time_budget": stopped, "history": history,
            "corpus": {"name": corpus.name, "content_hash": corpus_hash, "n_items": n, "n_val": int(n_val)},
            "teacher_targets": teacher_info,
            "n_parameters": {"trunk": int(sum(p.numel() for p in model.trunk.parameters())),
                             "proj": int(sum(p.numel() for p in model.proj.parameters()))},
            "timing_s": {"prepare": t_prep, "train": time.time() - t_train, "total": time.time() - t_start},
            "threads": config.threads, "loadavg_end": list(os.getloadavg()),
        }
        atomic_write_json(out / PRETRAIN_FILE, info)
        return info
    finally:
        torch.set_num_threads(prev_threads)


def ensure_pretrained(config: StudentPretrainConfig, out_dir: str | Path | None = None, progress: bool = True) -> Path:
    """The directory of a pretraining with ``config``: re-used when present (same key), fitted otherwise."""
    out = Path(out_dir) if out_dir is not None else default_pretrain_dir(config)
    if (out / PRETRAIN_FILE).is_file() and (out / TRUNK_FILE).is_file():
        info = json.loads((out / PRETRAIN_FILE).read_text())
        if info.get("key") == config.key():
            return out
        raise ConfigError(f"{out} holds a student pretraining with another config (key {info.get('key')} != {config.key()})")
    pretrain_student(config, out, progress=progress)
    return out


def load_pretrained_trunk(directory: str | Path) -> tuple[dict, dict[str, Any]]:
    """``(trunk state dict, pretrain.json record)`` of a pretraining directory; clear error if absent."""
    from distilhash.training.checkpoint import load_tensors

    d = Path(directory)
    if not (d / PRETRAIN_FILE).is_file() or not (d / TRUNK_FILE).is_file():
        raise ConfigError(f"{d} is not a student pretraining directory (expected {PRETRAIN_FILE} and {TRUNK_FILE}); "
                          "make one with `distilhash student pretrain --out DIR`")
    info = json.loads((d / PRETRAIN_FILE).read_text())
    tensors = load_tensors(d / TRUNK_FILE)
    return {k[len("trunk."):]: v for k, v in tensors.items() if k.startswith("trunk.")}, info


def pretrain_summary(directory: str | Path) -> list[str]:
    """Lines describing a pretrained student: one JSON object per epoch, then the kept epoch."""
    info = json.loads((Path(directory) / PRETRAIN_FILE).read_text())
    lines = [json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in h.items()}) for h in info["history"]]
    return [*lines, f"kept epoch {info['kept_epoch']}; saved to {directory}"]
